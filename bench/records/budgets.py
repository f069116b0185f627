"""Several training budgets in one document (`run --budgets 150,300`): its slices, one per budget,
and whether the ranking holds from one budget to the next.

Each configuration trains to each budget as a run of its own (the budget is its schedule's
horizon; `bench.runner.BUDGET`), recorded in its hyperparameters as "budget", and chosen per
budget on the selection seeds. A *slice* is the document as if it had been run at that budget
alone: its runs and summary rows, its verdicts and aggregates, its tasks' steps set to the
budget. Every table, figure, verdict and aggregate is computed on a slice, so nothing mixes two
budgets. A document of one budget is its own single slice (budget None).

Ranking agreement: Kendall's tau-b (`scipy.stats.kendalltau`) between the mean test accuracies
of the (optimizer, init) pairs at two budgets, on each task, over the pairs chosen at both; its
95% interval is a percentile bootstrap over the evaluation seeds, which both budgets share, so a
seed is redrawn at both budgets at once (`scipy.stats.bootstrap`, paired).
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np

from bench.imports import LazyModule
from bench.records.estimators import quiet_numerics
from bench.records.keys import budget_of, pair_of
from bench.records.queries import accuracy_by_seed, chance, chosen_rows, runs_of_row, tasks

stats = LazyModule("scipy.stats")  # imported at first use (bench.imports)

BY_BUDGET = "by_budget"  # the aggregates of a document of several budgets: budget -> aggregates
RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def budgets(results: dict) -> list[int | None]:
    """The document's budgets, shortest first; [None] where its runs have one."""
    found = {budget_of(row) for row in results["summary"]} | {budget_of(run) for run in results["runs"]}
    found.discard(None)
    return sorted(found) or [None]


def several(results: dict) -> bool:
    return budgets(results) != [None]


def slice_of(results: dict, budget: int | None) -> dict:
    """The document at one budget (see the module docstring); itself when it has one budget."""
    if budget is None:
        return results
    part = {key: value for key, value in results.items()}
    part["runs"] = [run for run in results["runs"] if budget_of(run) == budget]
    part["summary"] = [row for row in results["summary"] if budget_of(row) == budget]
    part["meta"] = meta = {**results["meta"]}
    config = meta["config"] = copy.deepcopy(results["meta"]["config"])
    for entry in config.get("tasks") or []:
        entry["steps"] = budget
    if "steps" in config:
        config["steps"] = budget
    config["budget"] = budget
    if "verdicts" in results:
        part["verdicts"] = [verdict for verdict in results["verdicts"]
                            if verdict["held_fixed"].get("budget") == str(budget)]
    across = (results.get("aggregates") or {}).get(BY_BUDGET, {}).get(str(budget))
    part.pop("aggregates", None)
    if across is not None:
        part["aggregates"] = across
    return part


def slices(results: dict) -> list[tuple[int | None, dict]]:
    """(budget, slice) of every budget, shortest first."""
    return [(budget, slice_of(results, budget)) for budget in budgets(results)]


def label(budget: int | None) -> str:
    """A budget as titles and file names show it ("" for a document of one budget)."""
    return "" if budget is None else f"budget {budget} steps"


def slug(budget: int) -> str:
    """A budget in file names: "budget150"."""
    return f"budget{budget}"


def per_budget_verdicts(results: dict, verdicts_of) -> list[dict]:
    """`verdicts_of(slice)` of every budget, each verdict's `held_fixed` naming its budget."""
    found = []
    for budget, part in slices(results):
        for verdict in verdicts_of(part):
            if budget is not None:
                verdict["held_fixed"] = {**verdict["held_fixed"], "budget": str(budget)}
            found.append(verdict)
    return found


def per_budget_aggregates(results: dict, aggregates_of) -> dict[str, Any] | None:
    """`aggregates_of(results)`, or with several budgets {BY_BUDGET: {budget: aggregates}}."""
    if not several(results):
        return aggregates_of(results)
    found = {str(budget): aggregates_of(part) for budget, part in slices(results)}
    found = {budget: value for budget, value in found.items() if value is not None}
    return {BY_BUDGET: found} if found else None


def ranking_agreement(results: dict, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED
                      ) -> list[dict[str, Any]]:
    """One entry per task and pair of consecutive budgets (`agreement`), with the task and
    budgets named."""
    found = []
    parts = slices(results)
    for (short, first), (long, second) in zip(parts, parts[1:]):
        for task in tasks(results):
            entry = agreement(pair_accuracies(first, task), pair_accuracies(second, task), resamples, seed)
            if entry is not None:
                found.append({"task": task, "budgets": [short, long], **entry})
    return found


def pair_accuracies(results: dict, task: str) -> dict[tuple, dict[int, float]]:
    """(task, optimizer, init) -> {evaluation seed: test accuracy as counted} at its chosen
    configuration."""
    guess = chance(results, task)
    return {pair_of(row): accuracy_by_seed(runs_of_row(results, row), guess)
            for row in chosen_rows(results, "evaluation", task).values()}


def agreement(first: dict[tuple, dict[int, float]], second: dict[tuple, dict[int, float]],
              resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict[str, Any] | None:
    """Kendall's tau-b between the mean accuracies of the pairs both sides ran, on the seeds
    every one of them shares, its bootstrap interval over those seeds (None below 3 seeds),
    and each side's leader by mean; None with fewer than 2 shared pairs."""
    pairs = sorted(set(first) & set(second))
    seeds = sorted(set.intersection(*(set(first[p]) & set(second[p]) for p in pairs))) if pairs else []
    if len(pairs) < 2 or not seeds:
        return None
    a = np.array([[first[p][s] for s in seeds] for p in pairs])
    b = np.array([[second[p][s] for s in seeds] for p in pairs])
    return {"pairs": [list(p[1:]) for p in pairs], "n_seeds": len(seeds),
            "tau": _tau(a.mean(axis=1), b.mean(axis=1)), "ci95": _tau_interval(a, b, resamples, seed),
            "leaders": [list(pairs[int(np.argmax(a.mean(axis=1)))][1:]),
                        list(pairs[int(np.argmax(b.mean(axis=1)))][1:])]}


def _tau(x: np.ndarray, y: np.ndarray) -> float | None:
    with quiet_numerics():
        value = stats.kendalltau(x, y).statistic  # NaN where a side has no order (all tied)
    return None if not np.isfinite(value) else float(value)


def _tau_interval(a: np.ndarray, b: np.ndarray, resamples: int, seed: int) -> list[float] | None:
    """The 95% percentile interval of tau, redrawing seeds (columns) at both budgets at once."""
    if a.shape[1] < 3:
        return None

    def statistic(index):
        index = np.asarray(index, dtype=int)
        value = _tau(a[:, index].mean(axis=1), b[:, index].mean(axis=1))
        return 0.0 if value is None else value  # a resample where one side ties throughout: no order

    with quiet_numerics():
        found = stats.bootstrap((np.arange(a.shape[1]),), statistic, vectorized=False,
                                n_resamples=resamples, method="percentile", confidence_level=0.95,
                                random_state=np.random.default_rng(seed))
    low, high = found.confidence_interval
    return None if not (np.isfinite(low) and np.isfinite(high)) else [float(low), float(high)]


def agreement_line(entry: dict[str, Any]) -> str:
    """One sentence on whether the ranking changes between two budgets."""
    short, long = entry["budgets"]
    tau = entry["tau"]
    interval = entry["ci95"]
    shown = "undefined (every mean tied at one budget)" if tau is None else f"{tau:+.2f}"
    if interval is not None:
        shown += f" [95% CI {interval[0]:+.2f}, {interval[1]:+.2f}; bootstrap over {entry['n_seeds']} seeds]"
    else:
        shown += f" (no interval: {entry['n_seeds']} seed(s), fewer than 3)"
    leaders = ["/".join(leader) for leader in entry["leaders"]]
    same = "the same leader" if leaders[0] == leaders[1] else f"the leader changes: {leaders[0]} -> {leaders[1]}"
    verdict = ("too few seeds to say whether the ranking holds" if interval is None else
               "the ranking holds" if interval[0] > 0 else
               "the ranking reverses" if interval[1] < 0 else
               "the ranking may change (the interval includes 0)")
    return (f"{entry['task']}, budget {short} vs {long} steps, {len(entry['pairs'])} configurations: "
            f"Kendall's tau {shown}: {verdict}; {same} by mean test accuracy.")


__all__ = ["BY_BUDGET", "budgets", "several", "slice_of", "slices", "label", "per_budget_verdicts",
           "per_budget_aggregates", "slug", "ranking_agreement", "pair_accuracies", "agreement", "agreement_line"]

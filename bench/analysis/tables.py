"""The run's console tables: test accuracy and convergence speed of each (optimizer, init)'s
chosen configuration on the evaluation seeds, init x optimizer, and the lines on failures,
unstable runs, timings and doubtful choices that `python -m bench run` prints after a run
(`flag_choices`: one line each, for stderr)."""
from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.records import budgets
from bench.records.choices import NEAR_TIE
from bench.records.labels import format_configuration, format_lr, format_median
from bench.records.per_run import UNSTABLE_DROP
from bench.records.queries import chosen_rows, inits_of, optimizers_of, shared_seeds, task_settings, tasks

LISTED_FAILURES = 12


def _fmt_accuracy(row: dict[str, Any] | None) -> str:
    """"97.9 [97.5, 98.3]": the mean and its bootstrap interval over seeds, as asymmetric as the
    seeds (never "± half-width")."""
    if row is None:
        return ""
    text = f"{100 * row['test_accuracy_mean']:.1f}"
    if row["test_accuracy_ci95"]:
        low, high = row["test_accuracy_ci95"]
        text += f" [{100 * low:.1f}, {100 * high:.1f}]"
    text += f" [red]({row['n_failed']}/{row['n_seeds']} failed)[/red]" if row["n_failed"] else ""
    return text + (f" [yellow]({row['n_unstable']}/{row['n_seeds']} unstable)[/yellow]"
                   if row.get("n_unstable") else "")


def _fmt_speed(row: dict[str, Any] | None, steps: int) -> str:
    """Kaplan-Meier median steps to target on the evaluation grid, "(50, 75]"; "> N" where half
    or more seeds never reached it."""
    if row is None:
        return ""
    return f"{format_median(row, steps)} ({100 * row['reached_fraction']:.0f}%)"


def print_tables(document: dict[str, Any], console: Console) -> None:
    config = document["meta"]["config"]
    chosen_on = ("the same seeds (schema 1)" if shared_seeds(document)
                 else f"{len(config['selection_seeds'])} selection seeds")
    caption = f"chosen on validation ({chosen_on}); failures counted"
    for budget, part in budgets.slices(document):  # with several budgets, each its own tables
        _print_budget_tables(part, budget, caption, console)
    for entry in budgets.ranking_agreement(document):
        console.print(budgets.agreement_line(entry), highlight=False)
    console.print(failures_line(document["runs"]), highlight=False)
    console.print(unstable_line(document["runs"]), highlight=False)
    for line in best_lines(document):
        console.print(line, highlight=False)
    console.print(timing_line(document), highlight=False)


def _print_budget_tables(document: dict[str, Any], budget: int | None, caption: str, console: Console) -> None:
    config = document["meta"]["config"]
    for task in tasks(document):
        chosen = {(optimizer, init): row for (_, optimizer, init), row in chosen_rows(document, "evaluation", task).items()}
        optimizers, inits = optimizers_of(document, task), inits_of(document, task)
        settings = task_settings(document, task)
        if budget is not None:
            task = f"{task}, {budgets.label(budget)}"
        steps = settings["steps"]
        seeds = len(config["evaluation_seeds"])
        tables = ((f"{task}: test accuracy %, mean [95% bootstrap CI] over {seeds} evaluation seeds", _fmt_accuracy),
                  (f"{task}: median steps to {100 * settings['target']:.0f}% val. accuracy, censored, on the "
                   "evaluation grid (% reached)",
                   lambda row, steps=steps: _fmt_speed(row, steps)))
        for title, cell in tables:
            # as wide as its title and caption, so that a table of one column does not fold them
            table = Table(title=title, title_justify="left", caption=caption, caption_justify="left",
                          min_width=max(len(title), len(caption)))
            # the longer list runs down the rows: 27 optimizers under one init stay readable
            by_optimizer = len(optimizers) > len(inits)
            rows, columns = (optimizers, inits) if by_optimizer else (inits, optimizers)
            table.add_column("optimizer" if by_optimizer else "init")
            for name in columns:
                table.add_column(name, justify="right")
            for name in rows:
                table.add_row(name, *(cell(chosen.get((name, other) if by_optimizer else (other, name)))
                                      for other in columns))
            console.print(table)


def failures_line(runs: list[dict[str, Any]]) -> str:
    """"failures: 3 of 48 runs (1 non-finite, 2 exploded): sgd/he_normal/selection/lr=10 x2, ..."."""
    failed = [run for run in runs if run["failed"]]
    line = f"failures: {len(failed)} of {len(runs)} runs"
    if not failed:
        return line
    kinds = Counter(run["failure"] for run in failed)
    line += " (" + ", ".join(f"{kinds[kind]} {kind}" for kind in ("non-finite", "exploded") if kinds[kind]) + ")"
    counts = Counter((run["optimizer"], run["init"], run["phase"], run["lr"]) for run in failed)
    listed = [f"{o}/{i}/{phase}/lr={format_lr(lr)} x{n}" for (o, i, phase, lr), n in sorted(counts.items())]
    more = f", and {len(listed) - LISTED_FAILURES} more" if len(listed) > LISTED_FAILURES else ""
    return line + ": " + ", ".join(listed[:LISTED_FAILURES]) + more


def unstable_line(runs: list[dict[str, Any]]) -> str:
    """"unstable: 1 of 48 runs ended more than 0.1 below their peak validation accuracy: ..."."""
    unstable = [run for run in runs if run.get("unstable")]
    line = (f"unstable: {len(unstable)} of {len(runs)} runs ended more than {UNSTABLE_DROP:g} below their "
            "peak validation accuracy (counted at what they measured)")
    if not unstable:
        return line
    counts = Counter((run["optimizer"], run["init"], run["phase"], run["lr"]) for run in unstable)
    listed = [f"{o}/{i}/{phase}/lr={format_lr(lr)} x{n}" for (o, i, phase, lr), n in sorted(counts.items())]
    more = f", and {len(listed) - LISTED_FAILURES} more" if len(listed) > LISTED_FAILURES else ""
    return line + ": " + ", ".join(listed[:LISTED_FAILURES]) + more


def best_lines(document: dict[str, Any]) -> list[str]:
    """One line per comparison table: its best set ("tied for best: ..."), from `verdicts`."""
    lines = []
    for entry in document.get("verdicts") or []:
        held = " ".join(f"{kind} {name}" for kind, name in entry["held_fixed"].items()) or "every (optimizer, init)"
        names = sorted("/".join(name for kind, name in (("optimizer", best["optimizer"]), ("init", best["init"]))
                                if kind not in entry["held_fixed"]) for best in entry["best"])
        if len(names) > 1 and entry.get("minimum_detectable_difference") is None:
            # no exact test on so few seeds can reach the level: the set is everything, by default
            lines.append(f"{entry['task']}, {held}: too few evaluation seeds to judge ({entry.get('n_seeds')}: "
                         f"no difference can reach level {entry['level']:g}); compared: " + ", ".join(names))
            continue
        lines.append(f"{entry['task']}, {held}: " + ("best: " if len(names) == 1 else "tied for best: ")
                     + ", ".join(names) + f" (not shown worse on the evaluation seeds, level {entry['level']:g})")
    return lines


def flag_choices(results: dict[str, Any]) -> list[str]:
    """One line per chosen configuration to doubt, for `python -m bench run` to print on stderr:
    a choice at an edge of its grid (with the flag that widens it), or a near tie
    (`choice_stability` below NEAR_TIE: this choice may differ on another machine)."""
    widen = "--lrs" if not results["meta"]["config"].get("search_space") else "a wider search space"
    # a user's optimizer is named on the command line by its spec (PATH.py:NAME), not its name
    specs = {name: source.get("spec", name) for name, source in
             ((results["meta"]["config"].get("plugins") or {}).get("optimizer") or {}).items()}
    lines = []
    for budget, part in budgets.slices(results):
        lines += _flag_budget_choices(part, budget, widen, specs)
    return lines


def _flag_budget_choices(results: dict[str, Any], budget: int | None, widen: str, specs: dict) -> list[str]:
    lines = []
    for (task, optimizer, init), row in chosen_rows(results, "selection").items():
        name = f"{task}/{optimizer}/{init}" + ("" if budget is None else f" at budget {budget}")
        rates = sorted({float(r["lr"]) for r in results["summary"] if (r["task"], r["optimizer"], r["init"])
                        == (task, optimizer, init) and r["phase"] == row["phase"]})
        if row.get("grid_edge") and widen != "--lrs":
            lines.append(f"warning: {name}: chose {format_configuration(row)}, in the "
                         f"{'top' if row['grid_edge'] == 'high' else 'bottom'} tenth of its search space's "
                         f"learning-rate range: the best may lie beyond; widen the space")
        elif row.get("grid_edge"):
            beyond = rates[-1] * 3 if row["grid_edge"] == "high" else rates[0] / 3
            grid = ",".join(format_lr(rate) for rate in sorted([*rates, beyond]))
            lines.append(f"warning: {name}: chose {format_configuration(row)}, the {'largest' if row['grid_edge'] == 'high' else 'smallest'} "
                         f"of its {len(rates)} learning rates: the best may lie beyond; widen the grid "
                         + (f"(e.g. --optimizers {specs.get(optimizer, optimizer)} --lrs {grid})"
                            if widen == "--lrs" else f"({widen})"))
        stability = row.get("choice_stability")
        if stability is not None and stability < NEAR_TIE:
            lines.append(f"warning: {name}: chose {format_configuration(row)} in {100 * stability:.0f}% of "
                         f"resamples of the selection seeds (below {100 * NEAR_TIE:.0f}%): a near tie; this "
                         "choice may differ on another machine")
    return lines


def timing_line(document: dict[str, Any]) -> str:
    meta = document["meta"]
    programs = meta["programs"]
    fresh = [p for p in programs if not p.get("reused")]
    compile_s = sum(p.get("compile_seconds") or 0.0 for p in fresh)
    run_s = sum(p.get("run_seconds") or 0.0 for p in fresh)
    reused = len(programs) - len(fresh)
    return (f"{len(document['runs'])} runs in {len(programs)} programs on {meta.get('device_count', '?')} "
            f"{meta.get('backend', '?')} device(s): compile {compile_s:.1f} s, train {run_s:.1f} s, "
            f"wall {meta.get('wall_seconds') or 0.0:.1f} s"
            + (f"; {reused} program(s) reused from the earlier file" if reused else ""))

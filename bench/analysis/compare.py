"""`python -m bench compare REFERENCE.json NEW.json [--delta D]`: does NEW reproduce REFERENCE?

Cell by cell (task, optimizer, init, phase, configuration) present in both files, it compares
the per-seed accuracies: test accuracy in evaluation cells, validation accuracy in selection
cells, every seed counted (a failed run at what it measured, or chance). Where both files ran a
seed the comparison is **paired** (the same seed starts from the same parameters and sees the
same batches in both files): the differences d = NEW - REFERENCE over the shared seeds. A cell is

- **identical**: every shared seed scored the same (|d| within 1e-6: the same examples right);
  no test is run;
- **equivalent** within ±DELTA (`--delta`, default 0.01, one point of accuracy): two one-sided
  exact sign-flip tests (TOST) both at p <= ALPHA (0.05);
- **different**: its exact two-sided sign-flip test is significant at a family-wise ALPHA after
  Holm's correction over the cells (Tarone's rule first leaves out the cells whose test could
  never reach significance, identical ones among them), and it is not equivalent;
- **inconclusive**: neither. With 4 pairs or fewer an exact test cannot reach p <= 0.05 (two
  seeds: p >= 0.5), so a cell that moved is "too few seeds to judge", never "different"; at 5,
  a cell may read "neither within ±δ nor different".

With no shared seed, the two samples are compared unpaired (a permutation test of the labels,
and its TOST). The verdict of the whole comparison:

- **reproduced** (exit 0): every cell identical or equivalent (an intersection-union test: each
  cell at ALPHA gives the claim "all equivalent" at ALPHA, no correction needed);
- **not reproduced** (exit 1): at least one cell different (family-wise ALPHA over the cells);
- **inconclusive** (exit 3): neither, or no cell in common.

A consistent sub-point difference between a CPU reference and a GPU run (rounding) is within
±DELTA: equivalent, not different. Cells in one file only are listed, not judged.

Beyond accuracy per cell it reports, without judging them (near ties swap by noise): whether each
(task, optimizer, init)'s chosen configuration is the same, and per (task, init) how the ranking
of optimizers by test accuracy agrees (Kendall's tau, `scipy.stats.kendalltau`). The header shows
both files' CPU model, devices and versions, so a reader sees why numbers moved by rounding.

Exit codes: 0 reproduced, 1 not reproduced, 3 inconclusive, 2 an unreadable file.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from bench.analysis.stats import DELTA, Difference, paired, unpaired
from bench.imports import LazyModule
from bench.records.keys import cell_of
from bench.records import budgets
from bench.records.labels import format_configuration, format_median
from bench.records.paired import (FAMILY_ALPHA, discrete_holm, equivalence_p, is_identical, sign_flip_p,
                                  smallest_p, two_sample_equivalence_p)
from bench.records.queries import accuracy_by_seed, chance, chosen_rows, runs_by_cell, task_settings
from bench.results.document import check_document

scipy_stats = LazyModule("scipy.stats")  # imported at first use (bench.imports)

ALPHA = FAMILY_ALPHA
TOLERANCE = DELTA  # the name of the schema-2 era
IDENTICAL, EQUIVALENT, DIFFERENT, INCONCLUSIVE = "identical", "equivalent", "different", "inconclusive"
REPRODUCED, NOT_REPRODUCED = "reproduced", "not reproduced"
DIFFERS = DIFFERENT  # the name of the schema-2 era
EXIT_CODES = {REPRODUCED: 0, NOT_REPRODUCED: 1, INCONCLUSIVE: 3}
CELL_KINDS = (IDENTICAL, EQUIVALENT, DIFFERENT, INCONCLUSIVE)


@dataclass(frozen=True)
class CellComparison:
    cell: tuple                      # (task, optimizer, init, phase, configuration key)
    configuration: str               # "lr 0.003", ...
    metric: str                      # "test" (evaluation cells) or "val" (selection cells)
    seeds_reference: int
    seeds_new: int
    failed_reference: int
    failed_new: int
    mean_reference: float            # over every seed, failures counted
    mean_new: float
    difference: Difference           # NEW - REFERENCE: mean, bootstrap interval, two-sided p
    p_equivalence: float | None      # TOST within ±delta
    p_holm: float | None             # the two-sided p after Tarone + Holm over the cells (None: not in the family)
    steps_reference: str             # the censored median steps to target, as a table shows it
    steps_new: str
    verdict: str                     # identical, equivalent, different, inconclusive
    reason: str
    unstable_reference: int = 0
    unstable_new: int = 0


@dataclass(frozen=True)
class ChosenComparison:
    pair: tuple                      # (task, optimizer, init)
    reference: str                   # the chosen configuration, "lr 0.003"
    new: str

    @property
    def same(self) -> bool:
        return self.reference == self.new


@dataclass(frozen=True)
class RankingComparison:
    task: str
    init: str
    reference_order: list[str]       # optimizers, best test accuracy first
    new_order: list[str]
    tau: float | None                # Kendall's tau of the two orders (None: untestable)
    p_value: float | None


@dataclass(frozen=True)
class ComparisonResult:
    """What `compare(reference, new)` found: one `CellComparison` per cell both files ran, the
    cells found in one file only, whether each chosen configuration is the same, the optimizers'
    rankings per (task, init), and the verdict with its exit code (`verdict`, `exit_code`)."""

    cells: list[CellComparison]
    only_in_reference: list[tuple] = field(default_factory=list)
    only_in_new: list[tuple] = field(default_factory=list)
    chosen: list[ChosenComparison] = field(default_factory=list)
    rankings: list[RankingComparison] = field(default_factory=list)
    provenance: tuple[str, str] = ("", "")
    delta: float = DELTA
    alpha: float = ALPHA

    @property
    def counts(self) -> Counter:
        """How many cells of each kind (identical, equivalent, different, inconclusive)."""
        return Counter(cell.verdict for cell in self.cells)

    @property
    def differing(self) -> list[CellComparison]:
        return [cell for cell in self.cells if cell.verdict == DIFFERENT]

    @property
    def inconclusive(self) -> list[CellComparison]:
        return [cell for cell in self.cells if cell.verdict == INCONCLUSIVE]

    @property
    def verdict(self) -> str:
        """reproduced, not reproduced or inconclusive (see the module docstring)."""
        if not self.cells:
            return INCONCLUSIVE
        if self.differing:
            return NOT_REPRODUCED
        return INCONCLUSIVE if self.inconclusive else REPRODUCED

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def reproduced(self) -> bool:
        return self.verdict == REPRODUCED

    def summary_line(self) -> str:
        """The one line `compare` ends with: the verdict, the count of each kind of cell, the rules."""
        unmatched = f"{len(self.only_in_reference)} only in REFERENCE, {len(self.only_in_new)} only in NEW"
        if not self.cells:
            return f"compare: inconclusive: no cell in common ({unmatched}): nothing to judge"
        counts = self.counts
        kinds = ", ".join(f"{counts[kind]} {kind}" for kind in CELL_KINDS)
        rule = (f"equivalent: TOST within ±{self.delta:g} at {self.alpha:g}; different: exact sign-flip "
                f"test, family-wise {self.alpha:g} (Holm over the cells Tarone's rule keeps)")
        same_choice = sum(chosen.same for chosen in self.chosen)
        choices = f"chosen configuration the same for {same_choice} of {len(self.chosen)} pairs"
        return (f"compare: {self.verdict}: {kinds} of {len(self.cells)} cells ({rule}); {choices}; "
                f"{unmatched}")


def compare(reference: dict, new: dict, delta: float = DELTA, alpha: float = ALPHA) -> ComparisonResult:
    """Compare every cell the two results documents share; see the module docstring."""
    reference = check_document(reference, "REFERENCE")
    new = check_document(new, "NEW")
    reference_cells, new_cells = runs_by_cell(reference), runs_by_cell(new)
    reference_rows = {cell_of(row): row for row in reference["summary"]}
    new_rows = {cell_of(row): row for row in new["summary"]}
    common = sorted(set(reference_cells) & set(new_cells), key=_cell_order)
    tested = [tested_cell(cell, reference_cells[cell], new_cells[cell], chance(reference, cell[0]),
                        chance(new, cell[0]), delta) for cell in common]
    adjusted = discrete_holm([found["difference"].p_value if found["difference"].p_value is not None else 1.0
                              for found in tested],
                             [found["smallest_p"] for found in tested], alpha)
    compared = [finish_cell(found, p_holm, delta, alpha, reference_rows.get(found["cell"]),
                            new_rows.get(found["cell"]), _steps(reference, found["cell"][0]),
                            _steps(new, found["cell"][0]))
                for found, p_holm in zip(tested, adjusted)]
    return ComparisonResult(
        cells=compared,
        only_in_reference=sorted(set(reference_cells) - set(new_cells), key=_cell_order),
        only_in_new=sorted(set(new_cells) - set(reference_cells), key=_cell_order),
        chosen=compare_chosen(reference, new), rankings=compare_rankings(reference, new),
        provenance=(provenance_line(reference), provenance_line(new)), delta=delta, alpha=alpha)


def _cell_order(cell: tuple) -> tuple:
    task, optimizer, init, phase, configuration = cell
    return (task, optimizer, init, phase != "selection", repr(configuration))


def _steps(results: dict, task: str) -> int | None:
    return task_settings(results, task).get("steps")


def tested_cell(cell: tuple, reference_runs: list[dict], new_runs: list[dict], reference_chance: float,
              new_chance: float, delta: float = DELTA) -> dict:
    """The tests of one cell, before the correction across cells."""
    metric = "final_test_accuracy" if cell[3] == "evaluation" else "final_val_accuracy"
    reference_by_seed = accuracy_by_seed(reference_runs, reference_chance, metric)
    new_by_seed = accuracy_by_seed(new_runs, new_chance, metric)
    found = judge_cell(reference_by_seed, new_by_seed, delta)
    return {**found, "cell": cell, "metric": metric, "reference_runs": reference_runs, "new_runs": new_runs,
            "reference_by_seed": reference_by_seed, "new_by_seed": new_by_seed}


def difference_p_values(differences):
    """The two-sided p-value a cell's test of difference gives for its per-seed differences NEW -
    REFERENCE (n,) or a batch of them (..., n): 1 where the pairs are identical, else the exact
    sign-flip p-value. `judge_cell` (through `bench.analysis.stats.paired`) gives the same."""
    d = np.asarray(differences, dtype=float)
    return np.where(is_identical(d), 1.0, sign_flip_p(d))


def judge_cell(reference_by_seed: dict, new_by_seed: dict, delta: float = DELTA) -> dict:
    """One cell's NEW - REFERENCE difference (paired over shared seeds, else unpaired), its TOST
    p-value within ±delta, and the smallest p-value its test of difference could give."""
    shared = sorted(set(reference_by_seed) & set(new_by_seed))
    if shared:
        difference = paired(new_by_seed, reference_by_seed)
        d = np.array([new_by_seed[seed] - reference_by_seed[seed] for seed in shared])
        p_equivalence = None if difference.identical else float(equivalence_p(d, delta))
        floor = 1.0 if difference.identical else float(smallest_p(d))
    else:
        new_values, reference_values = list(new_by_seed.values()), list(reference_by_seed.values())
        difference = unpaired(new_values, reference_values)
        p_equivalence = (two_sample_equivalence_p(new_values, reference_values, delta)
                         if difference.p_value is not None else None)
        floor = difference.smallest_p if difference.p_value is not None else 1.0
    return {"difference": difference, "p_equivalence": p_equivalence, "smallest_p": floor}


def judge(reference_by_seed: dict, new_by_seed: dict, delta: float = DELTA, alpha: float = ALPHA
          ) -> tuple[str, str, Difference]:
    """(verdict, reason, NEW - REFERENCE difference) of one cell judged alone (a family of one)."""
    found = judge_cell(reference_by_seed, new_by_seed, delta)
    p_value = found["difference"].p_value
    p_holm = p_value if p_value is not None and found["smallest_p"] <= alpha else None
    verdict, reason = cell_verdict(found, p_holm, delta, alpha)
    return verdict, reason, found["difference"]


def cell_verdict(found: dict, p_holm: float | None, delta: float, alpha: float) -> tuple[str, str]:
    difference, p_equivalence = found["difference"], found["p_equivalence"]
    pairs = difference.n_pairs
    if difference.identical:
        return IDENTICAL, f"every one of {pairs} shared seed(s) the same"
    if p_equivalence is not None and p_equivalence <= alpha:
        return EQUIVALENT, f"TOST p {p_equivalence:.2g} ≤ {alpha:g}: within ±{delta:g}"
    if p_holm is not None and p_holm <= alpha:
        return DIFFERENT, f"{difference.test} p {difference.p_value:.2g}, {p_holm:.2g} after Holm ≤ {alpha:g}"
    if found["smallest_p"] / 2 > alpha:  # neither the test nor either one-sided half of TOST can reach alpha
        return INCONCLUSIVE, (f"too few seeds to judge ({pairs} pairs: an exact test cannot reach p ≤ {alpha:g})"
                              if pairs else "too few seeds to judge")
    if p_holm is None and difference.p_value is not None and difference.p_value <= alpha:
        return INCONCLUSIVE, f"{difference.test} p {difference.p_value:.2g}, not significant over the cells"
    return INCONCLUSIVE, f"neither within ±{delta:g} nor different (p {_format(difference.p_value, '.2g')})"


def finish_cell(found: dict, p_holm: float | None, delta: float, alpha: float, reference_row: dict | None,
                new_row: dict | None, reference_steps: int | None, new_steps: int | None) -> CellComparison:
    verdict, reason = cell_verdict(found, p_holm, delta, alpha)
    reference_runs, new_runs = found["reference_runs"], found["new_runs"]
    failed = (sum(run["failed"] for run in reference_runs), sum(run["failed"] for run in new_runs))
    if failed[0] != failed[1]:
        reason += f"; failures {failed[0]}/{len(reference_runs)} vs {failed[1]}/{len(new_runs)}"
    return CellComparison(
        cell=found["cell"], configuration=format_configuration(reference_runs[0], budget=True),
        metric="test" if found["metric"] == "final_test_accuracy" else "val",
        seeds_reference=len(reference_runs), seeds_new=len(new_runs),
        failed_reference=failed[0], failed_new=failed[1],
        mean_reference=float(np.mean(list(found["reference_by_seed"].values()))),
        mean_new=float(np.mean(list(found["new_by_seed"].values()))),
        difference=found["difference"], p_equivalence=found["p_equivalence"], p_holm=p_holm,
        steps_reference=format_steps(reference_row, reference_steps),
        steps_new=format_steps(new_row, new_steps), verdict=verdict, reason=reason,
        unstable_reference=sum(bool(run.get("unstable")) for run in reference_runs),
        unstable_new=sum(bool(run.get("unstable")) for run in new_runs))


def format_steps(row: dict | None, steps: int | None) -> str:
    """The censored median steps to target on the evaluation grid: "(50, 75]", "> 300" (half
    or more never reached it)."""
    return "—" if row is None else format_median(row, steps)


def _shared_budgets(reference: dict, new: dict) -> list[tuple[str, dict, dict]]:
    """(suffix, reference slice, new slice) of each budget both files trained to (one, "",
    where neither has several: `bench.records.budgets`)."""
    shared = [budget for budget in budgets.budgets(reference) if budget in budgets.budgets(new)]
    return [("" if budget is None else f", {budgets.label(budget)}", budgets.slice_of(reference, budget),
             budgets.slice_of(new, budget)) for budget in shared]


def compare_chosen(reference: dict, new: dict) -> list[ChosenComparison]:
    """Each pair (at each budget) both files chose a configuration for: the same one?"""
    found = []
    for suffix, first, second in _shared_budgets(reference, new):
        reference_chosen, new_chosen = chosen_rows(first, "selection"), chosen_rows(second, "selection")
        found += [ChosenComparison((*pair[:2], pair[2] + suffix), format_configuration(reference_chosen[pair]),
                                   format_configuration(new_chosen[pair]))
                  for pair in sorted(set(reference_chosen) & set(new_chosen))]
    return found


def compare_rankings(reference: dict, new: dict) -> list[RankingComparison]:
    """Per (task, init), the order of the optimizers by the test accuracy of their chosen
    configuration in each file, and Kendall's tau between the two orders."""
    means = [defaultdict(dict), defaultdict(dict)]
    for suffix, *parts in _shared_budgets(reference, new):
        for side, results in enumerate(parts):
            for (task, optimizer, init), row in chosen_rows(results, "evaluation").items():
                means[side][(task + suffix, init)][optimizer] = row["test_accuracy_mean"]
    found = []
    for key in sorted(set(means[0]) & set(means[1])):
        names = sorted(set(means[0][key]) & set(means[1][key]))
        if len(names) < 2:
            continue
        first, second = ([means[side][key][name] for name in names] for side in (0, 1))
        tau, p_value = None, None
        if len(set(first)) > 1 and len(set(second)) > 1:
            result = scipy_stats.kendalltau(first, second)
            tau, p_value = float(result.statistic), float(result.pvalue)
        order = lambda values: [name for _, name in sorted(zip(values, names), key=lambda t: -t[0])]
        found.append(RankingComparison(key[0], key[1], order(first), order(second), tau, p_value))
    return found


def provenance_line(results: dict) -> str:
    """Where a file's numbers were made: CPU, devices, versions, code."""
    meta = results["meta"]
    versions = meta.get("versions") or {}
    parts = [f"CPU {meta.get('cpu_model') or 'not recorded'}",
             f"{meta.get('backend', '?')} {meta.get('device_kind', '?')} × {meta.get('device_count', '?')}"]
    if meta.get("gpu_name"):
        parts.append(f"GPU {meta['gpu_name']}")
    parts.append(", ".join(f"{name} {versions[name]}" for name in ("jax", "jaxlib") if versions.get(name)))
    if meta.get("git_revision"):
        parts.append(f"git {meta['git_revision'][:12]}")
    if meta.get("upgraded_from"):
        parts.append(f"schema {meta['upgraded_from']}: selection and evaluation shared seeds")
    return "; ".join(part for part in parts if part)


# -- printing ---------------------------------------------------------------------------------------

def print_comparison(result: ComparisonResult, console=None) -> None:
    from bench.console import output_console  # rich only when printing

    console = console or output_console()
    for label, line in zip(("REFERENCE", "NEW"), result.provenance):
        console.print(f"{label}: {line}", highlight=False)
    console.print(comparison_table(result))
    for label, cells in (("only in REFERENCE", result.only_in_reference), ("only in NEW", result.only_in_new)):
        if cells:
            shown = ", ".join(map(describe_cell, cells[:LISTED]))
            more = f", and {len(cells) - LISTED} more" if len(cells) > LISTED else ""
            console.print(f"{len(cells)} cell(s) {label} (not compared): {shown}{more}", highlight=False)
    changed = [chosen for chosen in result.chosen if not chosen.same]
    if result.chosen:
        console.print(f"chosen configuration (on validation): the same for {len(result.chosen) - len(changed)} of "
                      f"{len(result.chosen)} (task, optimizer, init)"
                      + ("; changed: " + "; ".join(f"{'/'.join(c.pair)}: {c.reference} -> {c.new}" for c in changed)
                         if changed else ""), highlight=False)
    for ranking in result.rankings:
        tau = "untestable (ties)" if ranking.tau is None else f"Kendall's tau {ranking.tau:+.2f}"
        same = "same order" if ranking.reference_order == ranking.new_order else (
            f"REFERENCE {' > '.join(ranking.reference_order)}; NEW {' > '.join(ranking.new_order)}")
        console.print(f"optimizer ranking, {ranking.task} init {ranking.init}: {tau} ({same})", highlight=False)
    style = {REPRODUCED: "bold green", NOT_REPRODUCED: "bold red"}.get(result.verdict, "bold yellow")
    console.print(result.summary_line(), style=style, highlight=False)


LISTED = 8


def describe_cell(cell: tuple, with_task: bool = True) -> str:
    task, optimizer, init, phase, configuration = cell
    text = ", ".join(f"lr {value:.3g}" if name == "learning_rate" else f"{name} {value}"
                     for name, value in configuration)
    return "/".join(([task] if with_task else []) + [optimizer, init, phase, text])


def comparison_table(result: ComparisonResult):
    from rich.table import Table

    table = Table(title="NEW vs REFERENCE per cell: mean accuracy over every seed, failures counted "
                        f"(Δ = NEW − REFERENCE with its 95% bootstrap interval; p: exact sign-flip, two-sided; "
                        f"TOST: equivalent within ±{result.delta:g}; seeds, failures: REFERENCE/NEW)",
                  title_justify="left")
    table.add_column("cell", no_wrap=True)
    for name in ("seeds", "failed", "ref", "new", "Δ", "95% interval", "p", "p (Holm)", "TOST p",
                 "median steps"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("why")
    with_task = len({compared.cell[0] for compared in result.cells}) > 1
    for compared in result.cells:
        table.add_row(*_table_row(compared, with_task))
    return table


COLOURS = {IDENTICAL: "green", EQUIVALENT: "green", INCONCLUSIVE: "yellow", DIFFERENT: "red"}


def _table_row(compared: CellComparison, with_task: bool) -> list[str]:
    task, optimizer, init, phase, _ = compared.cell
    colour = COLOURS[compared.verdict]
    difference = compared.difference
    interval = ("—" if difference.interval is None
                else f"[{difference.interval[0]:+.4f}, {difference.interval[1]:+.4f}]")
    name = "/".join(([task] if with_task else []) + [optimizer, init, compared.configuration])
    return [f"{name} {'eval test' if phase == 'evaluation' else 'sel val'}",
            f"{compared.seeds_reference}/{compared.seeds_new}",
            f"{compared.failed_reference}/{compared.failed_new}",
            f"{compared.mean_reference:.4f}", f"{compared.mean_new:.4f}",
            _format(difference.mean, "+.4f"), interval, _format(difference.p_value, ".2g"),
            _format(compared.p_holm, ".2g"), _format(compared.p_equivalence, ".2g"),
            f"{compared.steps_reference} → {compared.steps_new}",
            f"[{colour}]{compared.verdict}[/{colour}]", compared.reason]


def _format(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)

"""`python -m bench compare REFERENCE.json NEW.json`: does NEW reproduce REFERENCE?

Cell by cell (task, optimizer, init, phase, configuration) present in both files, it compares
the per-seed accuracies: test accuracy in evaluation cells, validation accuracy in selection
cells, every seed counted (a failed run at what it measured, or chance). Where both files ran a
seed, the comparison is **paired**: a paired t-test on the per-seed differences NEW - REFERENCE
(`scipy.stats.ttest_rel`), which cancels each seed's luck (the same seed starts from the same
parameters and sees the same batches in both files). With fewer than two shared seeds it falls
back to Welch's t-test on the two samples (Student's pooled test when one side has one seed).

The verdict of a cell, with Δ the mean difference and I its (1 - ALPHA) = 99% interval:

- **differs**: |Δ| > TOLERANCE (0.01, one point of accuracy) and p < ALPHA (0.01): a
  difference both practically large and statistically clear; or the failure counts differ
  (Fisher's exact test, p < ALPHA);
- **reproduced**: I lies within ±TOLERANCE: any difference is smaller than a point;
- **inconclusive**: neither: I is too wide to tell (it holds 0 and reaches past ±TOLERANCE),
  or a difference smaller than the tolerance cannot be told from one larger than it.

Why both a tolerance and a test: a CPU reference and a GPU run differ by float rounding, so tiny
but consistent differences are "significant" with many seeds (the tolerance absorbs them); with
few seeds, a difference of a few points can be seed noise (the test absorbs that). ALPHA is 0.01
because a suite has tens of cells. With one seed on each side there is no interval: the
tolerance alone decides. Cells in one file only are listed, not failed.

Beyond accuracy per cell it reports, without judging them (near ties swap by noise): whether each
(task, optimizer, init)'s chosen configuration is the same, and per (task, init) how the ranking
of optimizers by test accuracy agrees (Kendall's tau, `scipy.stats.kendalltau`). The header shows
both files' CPU model, devices and versions, so a reader sees why numbers moved by rounding.

Exit code: 0 when at least one cell is shared and none differs (inconclusive cells are listed
but do not fail); 1 otherwise; 2 for an unreadable file.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as scipy_stats

from bench.analysis.stats import Difference, paired, unpaired
from bench.records.keys import cell_of
from bench.records.labels import format_configuration
from bench.records.queries import accuracy_by_seed, chance, chosen_rows, runs_by_cell, task_settings
from bench.results.document import check_document

TOLERANCE = 0.01
ALPHA = 0.01
REPRODUCED, DIFFERS, INCONCLUSIVE = "reproduced", "differs", "inconclusive"


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
    difference: Difference           # NEW - REFERENCE
    failure_p_value: float           # Fisher's exact test on the failure counts
    steps_reference: str             # the censored median steps to target, as a table shows it
    steps_new: str
    verdict: str
    reason: str


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
    cells: list[CellComparison]
    only_in_reference: list[tuple] = field(default_factory=list)
    only_in_new: list[tuple] = field(default_factory=list)
    chosen: list[ChosenComparison] = field(default_factory=list)
    rankings: list[RankingComparison] = field(default_factory=list)
    provenance: tuple[str, str] = ("", "")
    tolerance: float = TOLERANCE
    alpha: float = ALPHA

    @property
    def differing(self) -> list[CellComparison]:
        return [cell for cell in self.cells if cell.verdict == DIFFERS]

    @property
    def inconclusive(self) -> list[CellComparison]:
        return [cell for cell in self.cells if cell.verdict == INCONCLUSIVE]

    @property
    def reproduced(self) -> bool:
        """True when there is something to compare and no common cell differs."""
        return bool(self.cells) and not self.differing

    def summary_line(self) -> str:
        unmatched = f"{len(self.only_in_reference)} only in REFERENCE, {len(self.only_in_new)} only in NEW"
        if not self.cells:
            return f"compare: no cell in common ({unmatched}): nothing reproduced"
        rule = (f"differs: |Δ| > {self.tolerance:g} and p < {self.alpha:g}, or failure counts apart; "
                f"reproduced: the {100 * (1 - self.alpha):g}% interval within ±{self.tolerance:g}")
        counts = (f"{len(self.cells) - len(self.differing) - len(self.inconclusive)} reproduced, "
                  f"{len(self.inconclusive)} inconclusive, {len(self.differing)} DIFFER")
        same_choice = sum(chosen.same for chosen in self.chosen)
        choices = f"chosen configuration the same for {same_choice} of {len(self.chosen)} pairs"
        verdict = "DIFFERS" if self.differing else "reproduced"
        return f"compare: {verdict}: {counts} of {len(self.cells)} cells ({rule}); {choices}; {unmatched}"


def compare(reference: dict, new: dict, tolerance: float = TOLERANCE, alpha: float = ALPHA) -> ComparisonResult:
    """Compare every cell the two results documents share; see the module docstring."""
    reference = check_document(reference, "REFERENCE")
    new = check_document(new, "NEW")
    reference_cells, new_cells = runs_by_cell(reference), runs_by_cell(new)
    reference_rows = {cell_of(row): row for row in reference["summary"]}
    new_rows = {cell_of(row): row for row in new["summary"]}
    common = sorted(set(reference_cells) & set(new_cells), key=_cell_order)
    compared = [compare_cell(cell, reference_cells[cell], new_cells[cell], chance(reference, cell[0]),
                             chance(new, cell[0]), reference_rows.get(cell), new_rows.get(cell),
                             _steps(reference, cell[0]), _steps(new, cell[0]), tolerance, alpha)
                for cell in common]
    return ComparisonResult(
        cells=compared,
        only_in_reference=sorted(set(reference_cells) - set(new_cells), key=_cell_order),
        only_in_new=sorted(set(new_cells) - set(reference_cells), key=_cell_order),
        chosen=compare_chosen(reference, new), rankings=compare_rankings(reference, new),
        provenance=(provenance_line(reference), provenance_line(new)), tolerance=tolerance, alpha=alpha)


def _cell_order(cell: tuple) -> tuple:
    task, optimizer, init, phase, configuration = cell
    return (task, optimizer, init, phase != "selection", repr(configuration))


def _steps(results: dict, task: str) -> int | None:
    return task_settings(results, task).get("steps")


def compare_cell(cell: tuple, reference_runs: list[dict], new_runs: list[dict], reference_chance: float,
                 new_chance: float, reference_row: dict | None = None, new_row: dict | None = None,
                 reference_steps: int | None = None, new_steps: int | None = None,
                 tolerance: float = TOLERANCE, alpha: float = ALPHA) -> CellComparison:
    metric = "final_test_accuracy" if cell[3] == "evaluation" else "final_val_accuracy"
    reference_by_seed = accuracy_by_seed(reference_runs, reference_chance, metric)
    new_by_seed = accuracy_by_seed(new_runs, new_chance, metric)
    failed = (sum(run["failed"] for run in reference_runs), sum(run["failed"] for run in new_runs))
    verdict, reason, difference, failure_p = judge(reference_by_seed, new_by_seed, failed,
                                                   tolerance, alpha)
    return CellComparison(
        cell=cell, configuration=format_configuration(reference_runs[0]),
        metric="test" if metric == "final_test_accuracy" else "val",
        seeds_reference=len(reference_runs), seeds_new=len(new_runs),
        failed_reference=failed[0], failed_new=failed[1],
        mean_reference=float(np.mean(list(reference_by_seed.values()))),
        mean_new=float(np.mean(list(new_by_seed.values()))),
        difference=difference, failure_p_value=failure_p,
        steps_reference=format_steps(reference_row, reference_steps),
        steps_new=format_steps(new_row, new_steps), verdict=verdict, reason=reason)


def judge(reference_by_seed: dict, new_by_seed: dict, failed: tuple[int, int] = (0, 0),
          tolerance: float = TOLERANCE, alpha: float = ALPHA) -> tuple[str, str, Difference, float]:
    """(verdict, reason, NEW - REFERENCE difference, failure p-value) for one cell's per-seed
    accuracies (seed -> counted accuracy) and failure counts (REFERENCE, NEW)."""
    confidence = 1.0 - alpha
    if len(set(reference_by_seed) & set(new_by_seed)) >= 2:
        difference = paired(new_by_seed, reference_by_seed, confidence)
    else:
        difference = unpaired(list(new_by_seed.values()), list(reference_by_seed.values()), confidence)
    failure_p = failure_p_value(failed, (len(reference_by_seed), len(new_by_seed)))
    if failure_p < alpha:
        return (DIFFERS, f"failures {failed[0]}/{len(reference_by_seed)} vs {failed[1]}/{len(new_by_seed)} "
                f"(Fisher p {failure_p:.2g})", difference, failure_p)
    delta, interval, p_value = difference.mean, difference.interval, difference.p_value
    if interval is None:
        verdict = REPRODUCED if abs(delta) <= tolerance else DIFFERS
        return verdict, f"one seed each: the tolerance alone decides (|Δ| {'≤' if verdict == REPRODUCED else '>'} {tolerance:g})", difference, failure_p
    if abs(delta) > tolerance and p_value < alpha:
        return DIFFERS, f"|Δ| > {tolerance:g} and {difference.test} p < {alpha:g}", difference, failure_p
    if -tolerance <= interval[0] and interval[1] <= tolerance:
        return REPRODUCED, f"{difference.test} interval within ±{tolerance:g}", difference, failure_p
    return INCONCLUSIVE, f"{difference.test} interval reaches past ±{tolerance:g}", difference, failure_p


def failure_p_value(failed: tuple[int, int], seeds: tuple[int, int]) -> float:
    """Two-sided Fisher's exact test of equal failure rates (1.0 when neither side failed)."""
    if not any(failed):
        return 1.0
    table = [[failed[0], seeds[0] - failed[0]], [failed[1], seeds[1] - failed[1]]]
    return float(scipy_stats.fisher_exact(table).pvalue)


def format_steps(row: dict | None, steps: int | None) -> str:
    """The censored median steps to target: "150", "> 300" (half or more never reached it)."""
    if row is None:
        return "—"
    median = row["steps_to_target_median"]
    if median is not None:
        return f"{median:g}"
    return f"> {steps}" if steps else "never"


def compare_chosen(reference: dict, new: dict) -> list[ChosenComparison]:
    """Each pair both files chose a configuration for: the same one?"""
    reference_chosen, new_chosen = chosen_rows(reference, "selection"), chosen_rows(new, "selection")
    return [ChosenComparison(pair, format_configuration(reference_chosen[pair]),
                             format_configuration(new_chosen[pair]))
            for pair in sorted(set(reference_chosen) & set(new_chosen))]


def compare_rankings(reference: dict, new: dict) -> list[RankingComparison]:
    """Per (task, init), the order of the optimizers by the test accuracy of their chosen
    configuration in each file, and Kendall's tau between the two orders."""
    means = [defaultdict(dict), defaultdict(dict)]
    for side, results in enumerate((reference, new)):
        for (task, optimizer, init), row in chosen_rows(results, "evaluation").items():
            means[side][(task, init)][optimizer] = row["test_accuracy_mean"]
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
    console.print(result.summary_line(), style="bold red" if not result.reproduced else "bold green",
                  highlight=False)


LISTED = 8


def describe_cell(cell: tuple, with_task: bool = True) -> str:
    task, optimizer, init, phase, configuration = cell
    text = ", ".join(f"lr {value:.3g}" if name == "learning_rate" else f"{name} {value}"
                     for name, value in configuration)
    return "/".join(([task] if with_task else []) + [optimizer, init, phase, text])


def comparison_table(result: ComparisonResult):
    from rich.table import Table

    table = Table(title="NEW vs REFERENCE per cell: mean accuracy over every seed, failures counted "
                        "(Δ = NEW − REFERENCE with its 99% interval; seeds, failures: REFERENCE/NEW)",
                  title_justify="left")
    table.add_column("cell", no_wrap=True)
    for name in ("seeds", "failed", "ref", "new", "Δ", "99% interval", "p", "median steps"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("why")
    with_task = len({compared.cell[0] for compared in result.cells}) > 1
    for compared in result.cells:
        table.add_row(*_table_row(compared, with_task))
    return table


COLOURS = {REPRODUCED: "green", INCONCLUSIVE: "yellow", DIFFERS: "red"}


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
            f"{compared.steps_reference} → {compared.steps_new}",
            f"[{colour}]{compared.verdict}[/{colour}]", compared.reason]


def _format(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)

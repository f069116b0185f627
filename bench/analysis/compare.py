"""`python -m bench compare REFERENCE.json NEW.json`: does NEW reproduce REFERENCE, cell by cell?

For every cell (task, optimizer, init, lr) present in both files it compares the per-seed final
test accuracies of the runs that did not diverge, and reports the difference of the means
(NEW - REFERENCE), the difference of the median steps to target (shown, not judged: a median of
a few seeds on an eval-every grid is too coarse to test), a p-value, and a verdict.

The verdict rule. A cell **differs** when its accuracy difference is both practically large and
statistically clear:

    |mean_new - mean_reference| > TOLERANCE (0.01, one point of accuracy)  AND  p < ALPHA (0.01)

where p comes from Welch's t-test on the per-seed accuracies (`bench.analysis.stats.two_sample_p_value`:
Student's pooled test when one side has a single seed). Otherwise it is **reproduced**. Why both:
a CPU reference and a GPU run differ by float rounding, so tiny but consistent differences can be
"significant" with many seeds (the tolerance absorbs them); and with few seeds a difference of
a few points can be seed noise (the test absorbs that). ALPHA is 0.01, not 0.05, because a
suite has tens of cells and one false alarm in twenty would make `compare` cry wolf.
Special cases: when neither side can be tested (one seed each) the tolerance alone decides;
zero-variance samples never give NaN (identical -> p = 1, constant but different -> p = 0);
every seed diverged on both sides -> reproduced; on one side only -> differs.

Cells present in only one file are listed but are not failures. Exit code: 0 when there is at
least one cell in common and every one reproduces, 1 otherwise; 2 for an unreadable file.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bench.results.document import (accuracy_by_seed, check_schema, format_lr, load_results, runs_by_cell)
from bench.analysis.stats import finite_values, two_sample_p_value

TOLERANCE = 0.01
ALPHA = 0.01
REPRODUCED, DIFFERS = "reproduced", "differs"


@dataclass(frozen=True)
class CellComparison:
    cell: tuple                      # (task, optimizer, init, lr)
    seeds_reference: int
    seeds_new: int
    diverged_reference: int
    diverged_new: int
    mean_reference: float | None     # mean test accuracy over non-diverged seeds
    mean_new: float | None
    difference: float | None         # mean_new - mean_reference
    p_value: float | None
    steps_reference: float | None    # median steps to target over the seeds that reached it
    steps_new: float | None
    verdict: str
    reason: str

    @property
    def steps_difference(self) -> float | None:
        if self.steps_reference is None or self.steps_new is None:
            return None
        return self.steps_new - self.steps_reference


@dataclass(frozen=True)
class ComparisonResult:
    cells: list[CellComparison]
    only_in_reference: list[tuple] = field(default_factory=list)
    only_in_new: list[tuple] = field(default_factory=list)
    tolerance: float = TOLERANCE
    alpha: float = ALPHA

    @property
    def differing(self) -> list[CellComparison]:
        return [cell for cell in self.cells if cell.verdict == DIFFERS]

    @property
    def reproduced(self) -> bool:
        """True when there is something to compare and every common cell reproduces."""
        return bool(self.cells) and not self.differing

    def summary_line(self) -> str:
        unmatched = f"{len(self.only_in_reference)} only in REFERENCE, {len(self.only_in_new)} only in NEW"
        if not self.cells:
            return f"compare: no cell in common ({unmatched}): nothing reproduced"
        rule = f"|diff| > {self.tolerance:g} and Welch p < {self.alpha:g} counts as differing"
        if self.differing:
            return (f"compare: {len(self.differing)} of {len(self.cells)} cells DIFFER ({rule}); {unmatched}")
        return f"compare: all {len(self.cells)} cells reproduced ({rule}); {unmatched}"


def compare_from_args(args) -> int:
    result = compare(load_results(args.reference), load_results(args.new))
    print_comparison(result)
    return 0 if result.reproduced else 1


def compare(reference: dict, new: dict, tolerance: float = TOLERANCE, alpha: float = ALPHA) -> ComparisonResult:
    """Compare every cell the two results dicts share; see the module docstring for the rule."""
    check_schema(reference, "REFERENCE")
    check_schema(new, "NEW")
    reference_cells, new_cells = runs_by_cell(reference), runs_by_cell(new)
    common = sorted(set(reference_cells) & set(new_cells))
    compared = [compare_cell(cell, reference_cells[cell], new_cells[cell], tolerance, alpha) for cell in common]
    return ComparisonResult(cells=compared,
                            only_in_reference=sorted(set(reference_cells) - set(new_cells)),
                            only_in_new=sorted(set(new_cells) - set(reference_cells)),
                            tolerance=tolerance, alpha=alpha)


def compare_cell(cell: tuple, reference_runs: list[dict], new_runs: list[dict],
                 tolerance: float = TOLERANCE, alpha: float = ALPHA) -> CellComparison:
    reference_values = finite_values(accuracy_by_seed(reference_runs).values())
    new_values = finite_values(accuracy_by_seed(new_runs).values())
    verdict, reason, difference, p_value = judge(reference_values, new_values, tolerance, alpha)
    return CellComparison(
        cell=cell, seeds_reference=len(reference_runs), seeds_new=len(new_runs),
        diverged_reference=len(reference_runs) - reference_values.size,
        diverged_new=len(new_runs) - new_values.size,
        mean_reference=float(reference_values.mean()) if reference_values.size else None,
        mean_new=float(new_values.mean()) if new_values.size else None,
        difference=difference, p_value=p_value,
        steps_reference=median_steps_to_target(reference_runs), steps_new=median_steps_to_target(new_runs),
        verdict=verdict, reason=reason)


def judge(reference: np.ndarray, new: np.ndarray, tolerance: float, alpha: float):
    """(verdict, reason, difference, p_value) for two samples of per-seed accuracies."""
    if not reference.size or not new.size:
        if not reference.size and not new.size:
            return REPRODUCED, "all diverged in both", None, None
        side = "NEW" if not new.size else "REFERENCE"
        return DIFFERS, f"all diverged in {side} only", None, None
    difference = float(new.mean() - reference.mean())
    p_value = two_sample_p_value(new, reference)
    if abs(difference) <= tolerance:
        return REPRODUCED, f"|Δ| ≤ {tolerance:g}", difference, p_value
    if p_value is None:
        return DIFFERS, f"|Δ| > {tolerance:g}, untestable (1 seed each)", difference, p_value
    if p_value < alpha:
        return DIFFERS, f"|Δ| > {tolerance:g} and p < {alpha:g}", difference, p_value
    return REPRODUCED, f"|Δ| > {tolerance:g} but p ≥ {alpha:g}", difference, p_value


def median_steps_to_target(runs: list[dict]) -> float | None:
    reached = [run["steps_to_target"] for run in runs
               if not run["diverged"] and run["steps_to_target"] is not None]
    return float(np.median(reached)) if reached else None


def print_comparison(result: ComparisonResult, console=None) -> None:
    from bench.console import output_console  # rich only when printing

    console = console or output_console()
    console.print(comparison_table(result))
    for label, cells in (("only in REFERENCE", result.only_in_reference), ("only in NEW", result.only_in_new)):
        if cells:
            console.print(f"{len(cells)} cell(s) {label} (not compared): " + ", ".join(map(describe_cell, cells)),
                          highlight=False)
    console.print(result.summary_line(), style="bold red" if not result.reproduced else "bold green",
                  highlight=False)


def describe_cell(cell: tuple) -> str:
    task, optimizer, init, lr = cell
    return f"{task}/{optimizer}/{init}/lr {format_lr(lr)}"


def comparison_table(result: ComparisonResult):
    from rich.table import Table

    table = Table(title="NEW vs REFERENCE: final test accuracy per cell (Δ = NEW − REFERENCE; seeds, diverged: REFERENCE/NEW)", title_justify="left")
    for name in ("task", "optimizer", "init", "lr"):
        table.add_column(name, no_wrap=True)
    for name in ("seeds", "diverged", "acc ref", "acc new", "Δ acc", "p", "Δ median steps"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("why", no_wrap=True)
    for compared in result.cells:
        table.add_row(*_table_row(compared))
    return table


def _table_row(compared: CellComparison) -> list[str]:
    task, optimizer, init, lr = compared.cell
    colour = "green" if compared.verdict == REPRODUCED else "red"
    return [task, optimizer, init, format_lr(lr),
            f"{compared.seeds_reference}/{compared.seeds_new}",
            f"{compared.diverged_reference}/{compared.diverged_new}",
            _format(compared.mean_reference, ".4f"), _format(compared.mean_new, ".4f"),
            _format(compared.difference, "+.4f"), _format(compared.p_value, ".3g"),
            _format(compared.steps_difference, "+g"),
            f"[{colour}]{compared.verdict}[/{colour}]", compared.reason]


def _format(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)

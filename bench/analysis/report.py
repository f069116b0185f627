"""`python -m bench report RESULTS.json`: a Markdown report beside the results (`RESULTS.md`).

It holds the protocol (selection and evaluation seeds, the failure rule, censoring, the tests
and what their error rate covers; docs/methodology.md) and, per task: test accuracy of each
(optimizer, init)'s chosen configuration on the evaluation seeds, with its bootstrap interval
over seeds and the interval over seeds and test examples, failures and unstable runs per cell,
the best set in bold; the best set of every comparison table (`verdicts`), ties printed as
ties, with the minimum detectable difference; each configuration against its table's top, with
its interval and verdict (worse, equivalent within ±delta, inconclusive); the tuning each
optimizer got and the choices flagged (grid edge, near tie); convergence speed on the
evaluation grid ("(50, 75]"; "> N" where half or more seeds never reached the target); the plots
(`bench.analysis.plots`, linked by percent-encoded relative paths, so they render on GitHub
whatever the file names); every configuration in a folded table; and the run's provenance.

The document is checked in full, and the whole text rendered, before any file is written.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from bench.analysis.stats import (DELTA, EQUIVALENT, FAMILY_ALPHA, IDENTICAL, RESOLUTION_EXAMPLES, WORSE,
                                  PairedDifference, TableComparison, table_comparisons)
from bench.errors import UsageError
from bench.records import budgets
from bench.records.choices import NEAR_TIE
from bench.records.labels import format_configuration, format_median
from bench.records.per_run import UNSTABLE_DROP
from bench.records.queries import chosen_rows, inits_of, optimizers_of, shared_seeds, task_settings, tasks
from bench.records.verdicts import METHOD
from bench.results.document import check_document, load_results
from bench.results import files
from bench.results.files import atomic_write

DASH = "—"


def write_report(results_path, plots: bool = True, results: dict | None = None) -> Path:
    """Write `<results>.md` (and, with `plots`, the PNGs) beside the results JSON; the .md path.

    Pass `results` when the document is already in memory (the runner, right after a run);
    otherwise the file is loaded. Either way it is checked first (a bad one raises UsageError)
    and nothing is written until the report's text is complete.
    """
    results_path = Path(results_path)
    results = check_document(results, str(results_path)) if results is not None else load_results(results_path)
    report_path = Path(files.report_path(str(results_path)))  # <stem>.report.md
    if report_path == results_path:
        raise UsageError(f"{results_path}: the report would overwrite its input (give the results .json)")
    folder = report_path.parent
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{folder}: cannot write the report there (permission denied)")
    from bench.analysis.plots import make_plots, plot_paths  # matplotlib only for the plots

    planned = plot_paths(results, folder, stem=results_path.stem) if plots else []
    links = [Path(os.path.relpath(path, folder)).as_posix() for path in planned]
    text = render_report(results, plot_links=links, plots_skipped=not plots, title=results_path.name)
    if plots:
        make_plots(results, folder, stem=results_path.stem)
    atomic_write(str(report_path), text)  # a reader never sees half a report
    return report_path


def render_report(results: dict, plot_links: list[str] = (), plots_skipped: bool = False,
                  title: str | None = None, delta: float = DELTA) -> str:
    """The Markdown text of the report; `plot_links` are paths relative to the report."""
    meta = results["meta"]
    lines = [f"# initopt results: {title or meta.get('suite', 'results')}", ""]
    if not meta.get("complete", True):
        lines += ["> **Incomplete run**: it was interrupted; rerun the same command to finish it. "
                  "Cells below may have fewer seeds than configured.", ""]
    if shared_seeds(results):
        lines += ["> **Schema-1 file**: its learning rates were chosen on the validation accuracy of the "
                  "same seeds that report test accuracy here (selection and evaluation shared seeds), so "
                  "the test accuracies of chosen configurations lean optimistic. Its statistics are "
                  "recomputed under the current rules (failures counted, censored speed).", ""]
    elif meta.get("upgraded_from"):
        lines += [f"> **Schema-{meta['upgraded_from']} file**: its intervals, best sets, speed on the "
                  "evaluation grid, unstable runs and choice flags are computed from its runs under the "
                  "current rules.", ""]
    parts = budgets.slices(results)  # one per budget (`run --budgets`); else the document itself
    comparisons = {budget: table_comparisons(part, delta) for budget, part in parts}
    n_tables = sum(len(found) for found in comparisons.values())
    lines += [seeds_line(meta["config"]) + schedule_words(meta["config"]), "",
              methodology(results, n_tables, delta), ""]
    lines += budgets_section(results)
    task_names = tasks(results)
    for budget, part in parts:
        links = [link for link in plot_links if _is_budget_plot(link, budget)]
        for task in task_names:
            found = [table for table in comparisons[budget] if table.task == task]
            heading = task if budget is None else f"{task}, {budgets.label(budget)}"
            lines += [f"## {heading}", "", settings_line(task_settings(part, task)), ""]
            lines += accuracy_table(part, task, found)
            lines += best_sets_section(found, task_settings(part, task).get("n_test"))
            lines += tuning_section(part, task)
            lines += speed_table(part, task)
            lines += paired_section(found)
            lines += plots_section([link for link in links if _is_task_plot(link, task, len(task_names))],
                                   plots_skipped)
            lines += all_configurations_table(part, task)
        lines += across_tasks_section(part, [link for link in links if "-suite-" in Path(link).name],
                                      plots_skipped)
    lines += metadata_section(meta)
    return "\n".join(lines) + "\n"


def _is_budget_plot(link: str, budget: int | None) -> bool:
    """A plot of `budget`'s slice: its name carries the budget where the document has several."""
    return budget is None or f"-{budgets.slug(budget)}-" in Path(link).name


def budgets_section(results: dict) -> list[str]:
    """Several budgets: whether the ranking holds from one to the next, and the configuration
    each budget chose; nothing for a document of one budget."""
    if not budgets.several(results):
        return []
    lines = ["## Across budgets", "",
             "Each configuration trained to each budget as a run of its own: the budget is its schedule's "
             "horizon (a 150-step run is not a 300-step run cut short), and each budget chose its own "
             "configuration on the selection seeds. Ranking agreement: Kendall's tau-b between the (optimizer, "
             "init) pairs' mean test accuracies at two budgets, with a 95% percentile bootstrap interval over the "
             "evaluation seeds (redrawn at both budgets at once); 1 is the same order, -1 the reverse.", ""]
    agreement = budgets.ranking_agreement(results)
    lines += [f"- {budgets.agreement_line(entry)}" for entry in agreement] or [
        "- fewer than two configurations were chosen at two budgets: no ranking to compare."]
    lines.append("")
    parts = budgets.slices(results)
    for task in tasks(results):
        chosen = {budget: chosen_rows(part, "evaluation", task) for budget, part in parts}
        keys = [key for key in dict.fromkeys(k for rows in chosen.values() for k in rows)]
        table = [["/".join(key[1:]), *(f"{format_accuracy(chosen[budget].get(key))} "
                                       f"({format_configuration(chosen[budget][key])})"
                                       if key in chosen[budget] else DASH for budget, _ in parts)]
                 for key in keys]
        lines += [f"### {task}: the chosen configuration at each budget", "",
                  "Mean test accuracy over the evaluation seeds [95% bootstrap interval] at the configuration "
                  "chosen on validation for that budget.", ""]
        lines += markdown_table(["optimizer/init", *(budgets.label(budget) for budget, _ in parts)], table)
    return lines


def _is_task_plot(link: str, task: str, task_count: int) -> bool:
    name = Path(link).name
    return "-suite-" not in name and (task_count == 1 or f"-{task}-" in name)


def across_tasks_section(results: dict, links: list[str], plots_skipped: bool) -> list[str]:
    """Aggregates and performance profiles (several tasks) and the muP study (the `mup` suite)."""
    from bench.analysis import mup, profiles

    lines = []
    if len(tasks(results)) > 1:
        lines += aggregates_section(results)
        table = profiles.profile_table(results)
        if table is not None:
            header, rows = table
            lines += ["## Across tasks: performance profiles", "",
                      "For each method (optimizer, init, or both where both vary), the fraction of tasks on "
                      "which the censored median number of training examples to the task's target of its "
                      "chosen configuration, on the evaluation seeds, is within tau times the fastest "
                      "method's (Dolan & Moré 2002; AlgoPerf's scoring); the score is the area under that "
                      f"profile from 1 to {profiles.TAU_MAX:g}, over {profiles.TAU_MAX - 1:g} (1: fastest "
                      "everywhere), with its 95% bootstrap interval over seeds (redrawn within each method "
                      "and task). A task where half or more of a method's seeds never reached the target "
                      "counts against it.", ""] + markdown_table(header, rows)
    if mup.applies(results):
        header, rows = mup.table(results)
        lines += ["## muP: the best learning rate across widths", "",
                  "Best learning rate (lowest **median** final training loss over the selection seeds: one "
                  "diverged seed cannot move it; a non-finite loss counts as worse than any) of each width "
                  "under each parametrization; drift = log10(largest / smallest best rate), with its 95% "
                  "percentile bootstrap interval over resamples of the selection seeds.", ""]
        lines += markdown_table(header, rows)
    if lines and not plots_skipped:
        lines += [line for link in links for line in (f"![{Path(link).stem}]({quote(link, safe='/')})", "")]
    return lines


def aggregates_section(results: dict) -> list[str]:
    """"Across tasks": the IQM of normalized scores per method with intervals, the probability
    of improvement of each pair, and (3+ tasks and methods) Friedman, ranks and Nemenyi's CD."""
    from bench.records.aggregates import aggregates

    found = results.get("aggregates") or aggregates(results)  # files written before it: computed here
    if not found or not found["methods"]:
        return []
    boot = found["bootstrap"]
    level = f"{100 * boot['level']:g}%"
    lines = ["## Across tasks", "",
             f"Scores of the chosen configurations on the evaluation seeds, normalized {found['normalization']} "
             "(0: guessing; 1: the best method's mean on that task). Each method's interquartile mean (IQM: the "
             "mean of the middle 50% of all its task-and-seed scores), mean and median, with "
             f"{level} stratified-bootstrap intervals ({boot['resamples']} resamples, seeds redrawn within "
             f"each task; Agarwal et al. 2021). Tasks: {', '.join(found['tasks'])}."]
    if found.get("unscaled_tasks"):
        lines += [f"Left out (no method above chance, so no scale): {', '.join(found['unscaled_tasks'])}."]
    lines.append("")
    methods = sorted(found["methods"], key=lambda name: -found["methods"][name]["iqm"])

    def estimate(value, interval, digits=3):
        return f"{value:.{digits}f} [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"

    rows = [[name, *(estimate(entry[key], entry[f"{key}_ci95"]) for key in ("iqm", "mean", "median")),
             entry["n_tasks"], entry["n_scores"]]
            for name, entry in ((name, found["methods"][name]) for name in methods)]
    lines += markdown_table(["method", f"IQM [{level} CI]", "mean", "median", "tasks", "scores"], rows)
    if len(methods) == 1:
        lines += ["One method: on every task the best is its own mean, so its scores sit at 1 by construction "
                  "and the intervals say only how much its seeds spread.", ""]
    improvement = {(entry["x"], entry["y"]): entry for entry in found["probability_of_improvement"]}
    if improvement:
        lines += ["Probability of improvement P(row > column): the chance that a seed of the row method "
                  "scores above one of the column method on a task both ran, averaged over those tasks (ties "
                  f"count half; 0.5: neither is better), with its {level} stratified-bootstrap interval; an "
                  "interval that excludes 0.5 says which way the pair goes.", ""]
        matrix = [[x, *(estimate(improvement[(x, y)]["probability"], improvement[(x, y)]["ci95"], 2)
                        if (x, y) in improvement else DASH for y in methods)] for x in methods]
        lines += markdown_table(["P(row > column)", *methods], matrix)
    friedman = found.get("friedman")
    if friedman:
        ranks = sorted(friedman["average_ranks"].items(), key=lambda item: item[1])
        different = friedman["different"]
        lines += [f"Friedman test over the methods' mean scores on {len(friedman['tasks'])} tasks: chi-square "
                  f"{friedman['statistic']:.2f}, p = {friedman['p_value']:.3g}. Average ranks (1: best): "
                  + ", ".join(f"{name} {rank:.2f}" for name, rank in ranks)
                  + f". Nemenyi's critical difference at alpha {friedman['alpha']:g} (the family: every pair of "
                  f"methods; Demšar 2006): {friedman['critical_difference']:.2f}. "
                  + ("Pairs whose average ranks differ by more: " + "; ".join(f"{a} and {b}" for a, b in different)
                     + "." if different else
                     "No two methods' average ranks differ by more than that: at this number of tasks, a tie."), ""]
    elif len(found["tasks"]) >= 3 and len(methods) == 2:
        lines += ["No Friedman test: it needs three or more methods (with two, the probability of "
                  "improvement above is the comparison).", ""]
    return lines


def seed_list(seeds) -> str:
    """[0, 1, 2, 3, 7] -> "0-3, 7": runs of consecutive seeds as ranges."""
    seeds, parts, start = sorted(seeds), [], None
    for index, seed in enumerate(seeds):
        start = seed if start is None else start
        if index + 1 == len(seeds) or seeds[index + 1] != seed + 1:
            parts.append(str(seed) if seed == start else f"{start}–{seed}")
            start = None
    return ", ".join(parts) or "none"


def seeds_line(config: dict) -> str:
    return (f"**selection seeds** {seed_list(config['selection_seeds'])} · "
            f"**evaluation seeds** {seed_list(config['evaluation_seeds'])}")


def schedule_words(config: dict) -> str:
    """" · **learning rate** ..." : the run's schedule, as every configuration trained it."""
    schedule = config.get("schedule") or "constant"
    if schedule == "constant":
        return " · **learning rate** constant"
    shape = "cosine" if schedule == "warmup_cosine" else "linear"
    warmup, final = config.get("warmup_fraction"), config.get("final_fraction")
    if warmup is None:  # a search's candidates carry their own fractions
        return f" · **learning rate** {schedule}"
    return (f" · **learning rate** linear warm-up over {warmup:g} of the steps, then {shape} decay to "
            f"{final:g} of the peak (methods that make their own schedule, schedule-free, hold the peak)")


def settings_line(settings: dict) -> str:
    parts = [("steps", settings.get("steps")), ("batch size", settings.get("batch_size")),
             ("eval every", settings.get("eval_every")), ("target val accuracy", settings.get("target")),
             ("classes", settings.get("num_classes")), ("test examples", settings.get("n_test"))]
    return " · ".join(f"**{name}** {value}" for name, value in parts if value is not None)


def methodology(results: dict, n_tables: int = 0, delta: float = DELTA) -> str:
    """The protocol in one paragraph: what every number below means (docs/methodology.md)."""
    config = results["meta"]["config"]
    selection = ("on the validation accuracy of the same seeds (this schema-1 file shared them)"
                 if shared_seeds(results) else
                 f"on the mean validation accuracy of the selection seeds ({seed_list(config['selection_seeds'])}); "
                 f"the chosen one is re-trained on the evaluation seeds ({seed_list(config['evaluation_seeds'])}), "
                 "disjoint from them, and every test accuracy below comes from those")
    family = (f"This report has {n_tables} comparison table(s), so the chance that some best set misses its "
              f"table's best is at most {min(1.0, n_tables * FAMILY_ALPHA):.2g} over the report (and the same bound "
              "holds, separately, for its \"equivalent\" claims)." if n_tables else "")
    return (f"**Protocol.** For each (optimizer, init) the configuration (learning rate, ...) is chosen {selection}. "
            "A run **fails** when its training loss, parameters or evaluations go non-finite, or its training loss "
            "at any step exceeds 10× its loss before training; a failed run never reaches the target, and counts in "
            "every mean, interval and difference at the accuracy it measured, or at chance (1 / classes). "
            f"A run that did not fail is **unstable** when its final validation accuracy lies more than "
            f"{UNSTABLE_DROP:g} below its own peak; it counts at what it measured and is counted beside the failures. "
            "A configuration where more than half the seeds failed ranks below every other. "
            "**Intervals**: 95% percentile bootstrap over seeds (`scipy.stats.bootstrap`, never clipped), covering "
            "another training run on this test set; beside it, \"task\": seeds resampled and the test set redrawn "
            "(a binomial draw of its size), covering this method on the task. Below about 8 seeds a bootstrap "
            "interval covers less than 95%. "
            "**Speed**: the Kaplan-Meier median of the first evaluation at which the validation accuracy reached the "
            "target, a seed that never did censored at the end of training; a crossing is known only to the "
            "evaluation grid, so the median is shown as the grid interval it lies in, \"(50, 75]\", and \"> N\" "
            "where half or more seeds never reached it. "
            "**Best**: each table's best set is every configuration not shown worse than another of the table on the "
            f"evaluation seeds ({METHOD}); it holds the table's truly best configuration with probability at least "
            f"{1 - FAMILY_ALPHA:.0%} where the per-seed differences are symmetric under no difference (the sign-flip "
            f"tests' assumption: a method with collapsed or unstable seeds can skew them). Ties are ties: several configurations in a set are printed together, in no "
            f"order. **Equivalent** within ±{delta:g}: two one-sided exact sign-flip tests, Holm over the table "
            "(the chance that any of a table's \"equivalent\" claims is false is at most 0.05). "
            "Tests are exact: two seeds never give p < 0.5, and identical pairs are \"identical\", not significant. "
            f"The {FAMILY_ALPHA:g} error rate covers one table. {family}")


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(map(_cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in rows]
    return lines + [""]


def format_accuracy(row: dict | None, metric: str = "test", task_interval: bool = False) -> str:
    """"0.953 [0.949, 0.957]" (bootstrap over seeds); with `task_interval` also the interval over
    seeds and test examples, "task [0.93, 0.97]"; a single seed has no interval; failures and
    unstable runs counted and shown."""
    if row is None:
        return DASH
    mean, interval = row[f"{metric}_accuracy_mean"], row[f"{metric}_accuracy_ci95"]
    if mean is None:
        return DASH
    text = f"{mean:.3f} " + (f"[{interval[0]:.3f}, {interval[1]:.3f}]" if interval else f"(n={row['n_seeds']}, no CI)")
    task = row.get("test_accuracy_task_ci95") if metric == "test" and task_interval else None
    if task:
        text += f" · task [{task[0]:.3f}, {task[1]:.3f}]"
    text += f" · {row['n_failed']}/{row['n_seeds']} failed" if row["n_failed"] else ""
    return text + (f" · {row['n_unstable']}/{row['n_seeds']} unstable" if row.get("n_unstable") else "")


def format_speed(row: dict | None, steps: int | None, kind: str = "steps") -> str:
    """"(50, 75], CI (25, 100]": the median's evaluation interval and its 95% interval on the
    grid; "> 300" where half or more seeds never reached the target."""
    if row is None:
        return DASH
    text = format_median(row, steps, kind)
    interval = row[f"{kind}_to_target_ci95"]
    if row[f"{kind}_to_target_median"] is not None and interval is not None:
        high = DASH if interval[1] is None else format(interval[1], "g")
        text += f", CI ({interval[0]:g}, {high}]"
    return text


def accuracy_table(results: dict, task: str, comparisons: list[TableComparison] = ()) -> list[str]:
    rows = chosen_rows(results, "evaluation", task)
    best = best_of_task(comparisons)
    optimizers, inits = optimizers_of(results, task), inits_of(results, task)
    table = []
    for init in inits:
        cells = []
        for optimizer in optimizers:
            row = rows.get((task, optimizer, init))
            text = format_accuracy(row, task_interval=True) + (f" ({format_configuration(row)})" if row else "")
            cells.append(f"**{text}**" if (task, optimizer, init) in best else text)
        table.append([init, *cells])
    widest = _widest(comparisons)
    bold = (f"Bold: the best set of {widest.title} (see below): not shown worse than the best on the evaluation "
            "seeds. " if widest else "")
    intro = ["### Test accuracy of the chosen configuration", "",
             "Mean final test accuracy over the evaluation seeds, every seed counted (failed runs at what they "
             "measured, or chance), at each (optimizer, init)'s configuration chosen on validation. First its 95% "
             "bootstrap interval over seeds (another training run on this test set), then \"task\": over seeds and "
             "test examples (this method on the task). Failures and unstable runs shown per cell. "
             f"{bold}{DASH}: not run.", ""]
    return intro + markdown_table(["init \\ optimizer", *optimizers], table)


def _widest(comparisons) -> TableComparison | None:
    """The table the accuracy grid bolds: every (optimizer, init) if there is one, else the only table."""
    overall = [table for table in comparisons if not table.held_fixed]
    return overall[0] if overall else (comparisons[0] if len(comparisons) == 1 else None)


def best_of_task(comparisons) -> set:
    widest = _widest(comparisons)
    return set(widest.found.best) if widest else set()


def tie_line(table: TableComparison) -> str:
    """"best: adam" or "tied for best: adam, rmsprop" (alphabetical: no order is claimed)."""
    names = sorted(table.labels[key] for key in table.found.best)
    return ("best: " if len(names) == 1 else "tied for best: ") + ", ".join(names)


def best_sets_section(comparisons: list[TableComparison], n_test: int | None) -> list[str]:
    lines = ["### Best sets", "",
             "Per table, every configuration not shown worse than another on the evaluation seeds (see "
             "**Best** in the protocol): it holds the table's truly best configuration with probability at least "
             f"{1 - FAMILY_ALPHA:.0%}; several are **tied**. The minimum detectable difference: what one comparison "
             "catches with 80% power at these seeds (`statsmodels` `TTestPower` at Bonferroni's level over the "
             "table: a normal-theory approximation; the exact max-T test on few seeds needs more).", ""]
    if not comparisons:
        return lines + ["Nothing to compare (one configuration per table).", ""]
    for table in comparisons:
        found = table.found
        shown = "; ".join(f"{table.labels[key]} (by {table.labels[why.better]}, p {why.p_value:.2g} ≤ "
                          f"{why.threshold:.2g})" for key, why in found.worse.items())
        lines.append(f"- **{table.title}** ({len(found.means)} configurations, {found.n_seeds} seeds): "
                     f"{tie_line(table)}" + (f"; shown worse: {shown}" if shown else "") + "; "
                     + detectable_text(found, n_test))
    return lines + [""]


def detectable_text(found, n_test: int | None) -> str:
    if found.minimum_detectable_difference is None:
        return (f"nothing detectable: {found.n_seeds} seed(s) cannot reach p ≤ {found.level:g} with an exact test "
                "(too few seeds to judge)" if found.threshold else "no comparison")
    mdd = found.minimum_detectable_difference
    examples = f" ({mdd * n_test:.1f} test examples)" if n_test else ""
    return f"minimum detectable difference {mdd:.4f}{examples}"


def tuning_section(results: dict, task: str) -> list[str]:
    """How many candidates each optimizer's choice was made among, and the choices to doubt."""
    chosen = chosen_rows(results, "selection", task)
    if not chosen:
        return []
    candidates: dict[str, set] = {}
    for (_, optimizer, _), row in chosen.items():
        candidates.setdefault(optimizer, set()).add(row.get("n_candidates", 1))
    search = ("quasi-random search of its hyperparameters" if results["meta"]["config"].get("search_space")
              else "grid of learning rates")
    counts = ", ".join(f"{optimizer} {'/'.join(map(str, sorted(found)))}" for optimizer, found in candidates.items())
    equal = len({count for found in candidates.values() for count in found}) == 1
    lines = ["### Tuning and choices", "",
             f"Candidates per optimizer ({search}, chosen on the selection seeds): {counts}. "
             + ("Every optimizer got the same number." if equal else
                "**Unequal tuning**: a comparison favours the optimizers with more candidates; one candidate means "
                "its rate was chosen outside this run."), ""]
    flagged = [(pair, row) for pair, row in chosen.items() if choice_flags(row)]
    if flagged:
        lines += [f"{len(flagged)} of {len(chosen)} choices flagged: at an edge of the grid (the best may lie "
                  f"beyond it) or a near tie (choice stability, the fraction of bootstrap resamples of the "
                  f"selection seeds that choose the same, below {NEAR_TIE:g}).", ""]
        lines += markdown_table(["optimizer", "init", "chosen", "candidates", "grid edge", "choice stability", "flag"],
                                [[pair[1], pair[2], format_configuration(row), row.get("n_candidates", 1),
                                  row.get("grid_edge") or DASH, _number(row.get("choice_stability"), ".2f"),
                                  "; ".join(choice_flags(row))] for pair, row in flagged])
    else:
        lines += ["No choice at a grid edge or a near tie.", ""]
    return lines


def choice_flags(row: dict) -> list[str]:
    """Why a chosen configuration deserves doubt: at an edge of its grid, or a near tie."""
    flags = []
    if row.get("grid_edge"):
        flags.append(f"at the {row['grid_edge']} edge of its grid: widen it (--lrs)")
    stability = row.get("choice_stability")
    if stability is not None and stability < NEAR_TIE:
        flags.append(f"near tie (stability {stability:.2f} < {NEAR_TIE:g}): this choice may differ on another machine")
    return flags


def speed_table(results: dict, task: str) -> list[str]:
    settings = task_settings(results, task)
    steps, every = settings["steps"], settings.get("eval_every")
    evaluation = chosen_rows(results, "evaluation", task)
    selection_rows = [row for row in results["summary"] if row["task"] == task and row["phase"] == "selection"]
    table = []
    for pair in _in_config_order(results, task, evaluation):
        row = evaluation[pair]
        candidates = [r for r in selection_rows if (r["optimizer"], r["init"]) == pair[1:]]
        table.append([pair[1], pair[2], format_configuration(row), format_speed(row, steps),
                      format_speed(row, steps, "examples"), f"{100 * row['reached_fraction']:.0f}%",
                      f"{row['n_failed']}/{row['n_seeds']}", f"{row.get('n_unstable', 0)}/{row['n_seeds']}",
                      (f"{sum(r['n_failed'] for r in candidates)}/{sum(r['n_seeds'] for r in candidates)}"
                       if candidates else DASH)])
    grid = f"every {every} steps" if every else "at each evaluation"
    intro = ["### Convergence speed", "",
             "At each (optimizer, init)'s chosen configuration, over its evaluation seeds: the Kaplan-Meier median "
             "of the first evaluated step (and of training examples seen: steps × batch size, the whole training "
             "set per step for full-batch methods) at which the validation accuracy reached the target. The "
             f"accuracy is evaluated {grid}, so a crossing first seen at 75 happened in (50, 75]: the median is "
             "shown as the interval of the grid it lies in, and its 95% interval opens one evaluation earlier "
             f"({DASH} for an upper end beyond training); \"> {steps}\" where half or more seeds never reached it. "
             "A failed run never counts as reached. Failures and unstable runs at the chosen configuration, and "
             "failures over every candidate on the selection seeds.", ""]
    return intro + markdown_table(["optimizer", "init", "chosen", "median steps, 95% CI",
                                   "median examples, 95% CI", "reached", "failed (chosen)", "unstable (chosen)",
                                   "failed (all candidates)"], table)


def _in_config_order(results: dict, task: str, rows: dict) -> list[tuple]:
    return [(task, optimizer, init) for optimizer in optimizers_of(results, task)
            for init in inits_of(results, task) if (task, optimizer, init) in rows]


VERDICT_TEXT = {WORSE: "worse", EQUIVALENT: "equivalent", IDENTICAL: "identical"}


def format_difference(difference: PairedDifference) -> list[str]:
    mean = DASH if difference.mean_difference is None else f"{difference.mean_difference:+.4f}"
    interval = (DASH if difference.ci95 is None
                else f"[{difference.ci95[0]:+.4f}, {difference.ci95[1]:+.4f}]")
    examples = (DASH if difference.mean_difference is None or not difference.n_test
                else f"{difference.mean_difference * difference.n_test:+.1f}")
    verdict = VERDICT_TEXT.get(difference.verdict, "inconclusive")
    if difference.verdict == WORSE and difference.worse_than and difference.worse_than != difference.b:
        verdict += f" (than {difference.worse_than})"
    if difference.verdict == EQUIVALENT:
        verdict += f" within ±{difference.delta:g}"
    note = (f"< {RESOLUTION_EXAMPLES} test examples" if difference.below_resolution else "")
    return [f"{difference.a} − {difference.b}", mean, interval, examples, _number(difference.p_value, ".3g"),
            _number(difference.p_equivalence_holm, ".3g"), difference.n_pairs, verdict, note]


def paired_section(comparisons: list[TableComparison]) -> list[str]:
    header = ["difference", "mean", "95% CI", "test examples", "p (not best, max-T)", "p (equivalent, Holm)",
              "pairs", "verdict", "note"]
    lines = ["### Each configuration against its table's best", "",
             "Seeds are paired: for a given (seed, init) every optimizer starts from the same parameters and sees "
             "the same batches. Each row is the mean over the evaluation seeds of (test accuracy of a configuration "
             "minus that of its table's highest test mean), each at its chosen configuration, every seed counted, "
             "with its 95% bootstrap interval and in test examples. p (not best): the exact sign-flip max-T test "
             "of the best sets, that another configuration of the table beats this one (it cannot go below "
             "1/2^n). Verdict: **worse** when outside the table's best set (p ≤ 0.05); **equivalent** when two one-sided tests put the difference within ±delta (Holm over the table); "
             "**identical** when every seed scored the same; else **inconclusive**.", ""]
    if not comparisons:
        return lines + ["Nothing to compare (one configuration per table).", ""]
    for table in comparisons:
        title = f"{table.title}: top {table.labels[table.top]} ({table.found.means[table.top]:.4f}); {tie_line(table)}"
        body = markdown_table(header, [format_difference(d) for d in table.differences])
        if not table.held_fixed and len(table.differences) > 12:  # the big table folds
            lines += [f"<details><summary>{title}</summary>", "", *body, "</details>", ""]
        else:
            lines += [f"**{title}**", "", *body]
    return lines


def plots_section(links: list[str], skipped: bool) -> list[str]:
    lines = ["### Plots", ""]
    if skipped:
        return lines + ["Plots skipped (`--no-plots`); run `python -m bench report RESULTS.json` to draw them.", ""]
    for link in links:
        # percent-encoded: a destination with spaces or parentheses still renders under CommonMark
        lines += [f"![{Path(link).stem}]({quote(link, safe='/')})", ""]
    return lines


def all_configurations_table(results: dict, task: str) -> list[str]:
    rows = [row for row in results["summary"] if row["task"] == task]
    order = {name: index for index, name in enumerate(optimizers_of(results, task) + inits_of(results, task))}
    rows.sort(key=lambda row: (order.get(row["optimizer"], 0), order.get(row["init"], 0),
                               row["phase"] != "selection", row["lr"], row["trial"]))
    steps = task_settings(results, task)["steps"]
    table = [[row["optimizer"], row["init"], row["phase"],
              format_configuration(row) + (" ★" if row["chosen"] else ""), row["n_seeds"],
              failure_counts(row), row.get("n_unstable", 0),
              format_accuracy(row, "val"), format_accuracy(row, "test"), format_speed(row, steps),
              f"{100 * row['reached_fraction']:.0f}%"] for row in rows]
    header = ["optimizer", "init", "phase", "configuration (★ chosen)", "seeds", "failed", "unstable",
              "val accuracy [95% CI]", "test accuracy [95% CI]", "median steps, 95% CI", "reached"]
    return (["<details><summary>Every configuration, selection and evaluation</summary>", ""]
            + markdown_table(header, table) + ["</details>", ""])


def failure_counts(row: dict) -> str:
    """"0", "3 (non-finite)", "4 (1 non-finite, 3 exploded)"."""
    kinds = [f"{count} {kind}" for count, kind in ((row["n_diverged"], "non-finite"),
                                                  (row["n_failed"] - row["n_diverged"], "exploded")) if count]
    if not row["n_failed"]:
        return "0"
    return f"{row['n_failed']} ({kinds[0].split(' ', 1)[1]})" if len(kinds) == 1 else f"{row['n_failed']} ({', '.join(kinds)})"


def _number(value, spec: str) -> str:
    return DASH if value is None else format(value, spec)


def metadata_section(meta: dict) -> list[str]:
    versions = meta.get("versions") or {}
    devices = meta.get("devices") or []
    rows = [
        ["complete", "yes" if meta.get("complete") else "**no** (interrupted)"],
        ["command", f"`{meta.get('command', DASH)}`"],
        ["git revision", f"`{meta['git_revision']}`" if meta.get("git_revision") else DASH],
        ["started / finished", f"{meta.get('started_at', DASH)} / {meta.get('finished_at', DASH)}"],
        ["wall time", _number(meta.get("wall_seconds"), ".1f") + " s"],
        ["CPU", meta.get("cpu_model") or "not recorded"],
        ["GPU", meta.get("gpu_name") or DASH],
        ["backend", f"{meta.get('backend', DASH)} ({meta.get('device_kind', DASH)} × {meta.get('device_count', '?')}; "
                    f"{meta.get('process_count', 1)} process(es); deterministic: {meta.get('deterministic')})"],
        ["devices", ", ".join(map(str, devices[:8])) + (f", … ({len(devices)} in all)" if len(devices) > 8 else "")],
        ["versions", ", ".join(f"{name} {version}" for name, version in versions.items())],
    ]
    lines = ["## Run metadata", ""] + markdown_table(["", ""], rows)
    programs = meta.get("programs") or []
    if programs:
        lines += markdown_table(["task", "optimizer", "phase", "runs", "compile (s)", "run (s)", "s / step", "reused"],
                                [[p.get("task"), p.get("optimizer"), p.get("phase", DASH), p.get("runs"),
                                  _number(p.get("compile_seconds"), ".2f"), _number(p.get("run_seconds"), ".2f"),
                                  _number(p.get("seconds_per_step"), ".3g"), "yes" if p.get("reused") else "no"]
                                 for p in programs])
    return lines

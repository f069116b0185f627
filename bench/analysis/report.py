"""`python -m bench report RESULTS.json`: a Markdown report beside the results (`RESULTS.md`).

It holds the protocol (selection and evaluation seeds, the failure rule, censoring, corrections)
and, per task: test accuracy of each (optimizer, init)'s chosen configuration on the evaluation
seeds, with failures per cell; convergence speed (censored medians, "> N" where half or more
seeds never reached the target); the paired comparisons of `bench.analysis.stats` against the
leader chosen on validation, Holm-corrected per table; the plots (`bench.analysis.plots`,
linked by percent-encoded relative paths, so they render on GitHub whatever the file names);
every configuration in a folded table; and the run's provenance.

The document is checked in full, and the whole text rendered, before any file is written.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from bench.analysis.stats import (FAMILY_ALPHA, RESOLUTION_EXAMPLES, PairedDifference, init_differences,
                                  optimizer_differences)
from bench.errors import UsageError
from bench.records.labels import format_configuration
from bench.records.queries import chosen_rows, inits_of, optimizers_of, shared_seeds, task_settings, tasks
from bench.records.selection import selection_key
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
                  title: str | None = None) -> str:
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
    lines += [seeds_line(meta["config"]), "", methodology(results), ""]
    optimizer_pairs, init_pairs = optimizer_differences(results), init_differences(results)
    task_names = tasks(results)
    for task in task_names:
        lines += [f"## {task}", "", settings_line(task_settings(results, task)), ""]
        lines += accuracy_table(results, task)
        lines += speed_table(results, task)
        lines += paired_section([d for d in optimizer_pairs if d.task == task],
                                [d for d in init_pairs if d.task == task])
        lines += plots_section([link for link in plot_links if _is_task_plot(link, task, len(task_names))],
                               plots_skipped)
        lines += all_configurations_table(results, task)
    lines += across_tasks_section(results, [link for link in plot_links if "-suite-" in Path(link).name],
                                  plots_skipped)
    lines += metadata_section(meta)
    return "\n".join(lines) + "\n"


def _is_task_plot(link: str, task: str, task_count: int) -> bool:
    name = Path(link).name
    return "-suite-" not in name and (task_count == 1 or f"-{task}-" in name)


def across_tasks_section(results: dict, links: list[str], plots_skipped: bool) -> list[str]:
    """Performance profiles (several tasks) and the muP study (the `mup` suite)."""
    from bench.analysis import mup, profiles

    lines = []
    if len(tasks(results)) > 1:
        header, rows = profiles.profile_table(results)
        lines += ["## Across tasks: performance profiles", "",
                  "For each method (optimizer, init, or both where both vary), the fraction of tasks on which "
                  "its censored median number of training examples to the task's target, on the evaluation "
                  "seeds, is within tau times the fastest method's (Dolan & Moré 2002; AlgoPerf's scoring). "
                  "A task where half or more of a method's seeds never reached the target counts against it.",
                  ""] + markdown_table(header, rows)
    if mup.applies(results):
        header, rows = mup.table(results)
        lines += ["## muP: the best learning rate across widths", "",
                  "Best learning rate (lowest mean final training loss over the selection seeds) of each "
                  "width under each parametrization; drift = log10(largest / smallest best rate).", ""]
        lines += markdown_table(header, rows)
    if lines and not plots_skipped:
        lines += [line for link in links for line in (f"![{Path(link).stem}]({quote(link, safe='/')})", "")]
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


def settings_line(settings: dict) -> str:
    parts = [("steps", settings.get("steps")), ("batch size", settings.get("batch_size")),
             ("eval every", settings.get("eval_every")), ("target val accuracy", settings.get("target")),
             ("classes", settings.get("num_classes")), ("test examples", settings.get("n_test"))]
    return " · ".join(f"**{name}** {value}" for name, value in parts if value is not None)


def methodology(results: dict) -> str:
    """The protocol in one paragraph: what every number below means."""
    config = results["meta"]["config"]
    selection = ("on the validation accuracy of the same seeds (this schema-1 file shared them)"
                 if shared_seeds(results) else
                 f"on the mean validation accuracy of the selection seeds ({seed_list(config['selection_seeds'])}); "
                 f"the chosen one is re-trained on the evaluation seeds ({seed_list(config['evaluation_seeds'])}), "
                 "disjoint from them, and every test accuracy below comes from those")
    return (f"**Protocol.** For each (optimizer, init) the configuration (learning rate, ...) is chosen {selection}. "
            "A run **fails** when its training loss, parameters or evaluations go non-finite, or its training loss "
            "at any step exceeds 10× its loss before training; a failed run never reaches the target, and counts in "
            "every mean, interval and difference at the accuracy it measured, or at chance (1 / classes). "
            "A configuration where more than half the seeds failed ranks below every other. "
            "**Speed**: the Kaplan-Meier median of steps to the target over all seeds, a seed that never reached it "
            "censored at the end of training (\"> N\", N the training steps: half or more never did), with its 95% "
            "interval. "
            "**Comparisons**: paired over seeds, against the leader chosen on validation (never on test), "
            f"Holm-Bonferroni corrected within each table (family-wise {FAMILY_ALPHA:g}).")


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(map(_cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in rows]
    return lines + [""]


def format_accuracy(row: dict | None, metric: str = "test") -> str:
    """"0.953 [0.949, 0.957]"; a single seed has no interval; failures counted and shown."""
    if row is None:
        return DASH
    mean, interval = row[f"{metric}_accuracy_mean"], row[f"{metric}_accuracy_ci95"]
    if mean is None:
        return DASH
    text = f"{mean:.3f} " + (f"[{interval[0]:.3f}, {interval[1]:.3f}]" if interval else f"(n={row['n_seeds']}, no CI)")
    return text + (f" · {row['n_failed']}/{row['n_seeds']} failed" if row["n_failed"] else "")


def format_speed(row: dict | None, steps: int | None, kind: str = "steps") -> str:
    """"150 [125, 200]"; "> 300" where half or more seeds never reached the target."""
    if row is None:
        return DASH
    median, interval = row[f"{kind}_to_target_median"], row[f"{kind}_to_target_ci95"]
    if median is None:
        return censored_limit(row, steps, kind)
    text = f"{median:g}"
    if interval is not None:
        text += f" [{interval[0]:g}, {DASH if interval[1] is None else format(interval[1], 'g')}]"
    return text


def censored_limit(row: dict, steps: int | None, kind: str = "steps") -> str:
    """"> N": the end of training, in steps or (where the row tells the batch) in examples."""
    if not steps:
        return "never"
    if kind == "steps":
        return f"> {steps}"
    interval, step_interval = row["examples_to_target_ci95"], row["steps_to_target_ci95"]
    if interval and step_interval and step_interval[0]:
        return f"> {steps * interval[0] / step_interval[0]:g}"
    return f"> {steps} steps"


def leader(results: dict, task: str) -> tuple | None:
    """The (task, optimizer, init) whose chosen configuration is best on validation."""
    selection = chosen_rows(results, "selection", task)
    evaluated = chosen_rows(results, "evaluation", task)
    candidates = [pair for pair in selection if pair in evaluated]
    return min(candidates, key=lambda pair: selection_key(selection[pair])) if candidates else None


def accuracy_table(results: dict, task: str) -> list[str]:
    rows = chosen_rows(results, "evaluation", task)
    best = leader(results, task)
    optimizers, inits = optimizers_of(results, task), inits_of(results, task)
    table = []
    for init in inits:
        cells = []
        for optimizer in optimizers:
            row = rows.get((task, optimizer, init))
            text = format_accuracy(row) + (f" ({format_configuration(row)})" if row else "")
            cells.append(f"**{text}**" if (task, optimizer, init) == best else text)
        table.append([init, *cells])
    intro = ["### Test accuracy of the chosen configuration", "",
             "Mean final test accuracy over the evaluation seeds, every seed counted (failed runs at what they "
             "measured, or chance), with its 95% t interval, at each (optimizer, init)'s configuration chosen on "
             f"validation; failures shown per cell. Bold: the best (optimizer, init) on validation, not on test. "
             f"{DASH}: not run.", ""]
    return intro + markdown_table(["init \\ optimizer", *optimizers], table)


def speed_table(results: dict, task: str) -> list[str]:
    steps = task_settings(results, task)["steps"]
    evaluation = chosen_rows(results, "evaluation", task)
    selection_rows = [row for row in results["summary"] if row["task"] == task and row["phase"] == "selection"]
    table = []
    for pair in _in_config_order(results, task, evaluation):
        row = evaluation[pair]
        candidates = [r for r in selection_rows if (r["optimizer"], r["init"]) == pair[1:]]
        table.append([pair[1], pair[2], format_configuration(row), format_speed(row, steps),
                      format_speed(row, steps, "examples"), f"{100 * row['reached_fraction']:.0f}%",
                      f"{row['n_failed']}/{row['n_seeds']}",
                      (f"{sum(r['n_failed'] for r in candidates)}/{sum(r['n_seeds'] for r in candidates)}"
                       if candidates else DASH)])
    intro = ["### Convergence speed", "",
             "At each (optimizer, init)'s chosen configuration, over its evaluation seeds: the Kaplan-Meier median "
             "number of steps (and of training examples seen: steps × batch size, the whole training set per step "
             "for full-batch methods) until the validation accuracy first reached the target, with its 95% interval "
             f"({DASH} for an upper end beyond training); \"> {steps}\" where half or more seeds never reached it. A "
             "failed run never counts as reached. Failures at the chosen configuration, and over every candidate on "
             "the selection seeds.", ""]
    return intro + markdown_table(["optimizer", "init", "chosen", "median steps [95% CI]",
                                   "median examples [95% CI]", "reached", "failed (chosen)",
                                   "failed (all candidates)"], table)


def _in_config_order(results: dict, task: str, rows: dict) -> list[tuple]:
    return [(task, optimizer, init) for optimizer in optimizers_of(results, task)
            for init in inits_of(results, task) if (task, optimizer, init) in rows]


def format_difference(difference: PairedDifference) -> list[str]:
    mean = DASH if difference.mean_difference is None else f"{difference.mean_difference:+.4f}"
    interval = (DASH if difference.ci95 is None
                else f"[{difference.ci95[0]:+.4f}, {difference.ci95[1]:+.4f}]")
    p_value = DASH if difference.p_value is None else f"{difference.p_value:.3g}"
    p_holm = DASH if difference.p_holm is None else f"{difference.p_holm:.3g}"
    verdict = "yes" if difference.significant else ("no" if difference.p_holm is not None else "untestable")
    note = (f"< {RESOLUTION_EXAMPLES} test examples" if difference.below_resolution else "")
    return [difference.held_fixed, f"{difference.a} − {difference.b}", mean, interval, p_value, p_holm,
            difference.n_pairs, verdict, note]


def paired_section(optimizer_pairs: list[PairedDifference], init_pairs: list[PairedDifference]) -> list[str]:
    header = ["held fixed", "difference", "mean", "95% CI", "p (paired t)", "p (Holm)", "pairs",
              "significant", "note"]
    lines = ["### Paired differences", "",
             "Seeds are paired: for a given (seed, init) every optimizer starts from the same parameters and sees "
             "the same batches. Each row is the mean over the evaluation seeds of (test accuracy of the first minus "
             "that of the leader), each at its chosen configuration, every seed counted, with its 95% t interval "
             "(`scipy.stats.ttest_rel`). The leader is the best on **validation**, so the test that follows is not "
             "biased towards it. Significant: Holm-adjusted p < 0.05 within the table.", ""]
    for title, found in (("Each optimizer vs the best optimizer under the same init", optimizer_pairs),
                         ("Each init vs the best init under the same optimizer", init_pairs)):
        lines += [f"**{title}**", ""]
        if not found:
            lines += ["Nothing to compare (one candidate per group).", ""]
            continue
        lines += markdown_table(header, [format_difference(d) for d in found])
        lines += [significance_sentence(found), ""]
    return lines


def significance_sentence(found: list[PairedDifference]) -> str:
    tested = [d for d in found if d.p_value is not None]
    significant = [d for d in tested if d.significant]
    uncorrected = sum(d.p_value < FAMILY_ALPHA for d in tested)
    correction = (f"Holm-Bonferroni over the {len(tested)} tests of this table: {len(significant)} significant "
                  f"at a family-wise {FAMILY_ALPHA:g} ({uncorrected} before correction).")
    if not significant:
        return correction
    described = [f"{d.a} is {'worse' if d.mean_difference < 0 else 'better'} than {d.b} ({d.held_fixed}, "
                 f"{d.mean_difference:+.4f})" for d in significant]
    small = [d for d in significant if d.below_resolution]
    note = (f" Of these, {len(small)} {'is' if len(small) == 1 else 'are'} smaller than {RESOLUTION_EXAMPLES} "
            f"test examples ({small[0].resolution:.4f}): too small to matter whatever the p-value." if small else "")
    return correction + " Significant: " + "; ".join(described) + "." + note


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
              failure_counts(row),
              format_accuracy(row, "val"), format_accuracy(row, "test"), format_speed(row, steps),
              f"{100 * row['reached_fraction']:.0f}%"] for row in rows]
    header = ["optimizer", "init", "phase", "configuration (★ chosen)", "seeds", "failed",
              "val accuracy [95% CI]", "test accuracy [95% CI]", "median steps [95% CI]", "reached"]
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

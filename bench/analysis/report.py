"""`python -m bench report RESULTS.json`: a Markdown report beside the results (`RESULTS.report.md`).

It holds, per task: best-lr test accuracy (optimizer x init, mean and 95% t interval over the
seeds that did not diverge), convergence speed (median steps to target, % of seeds that reached
it, divergences), the paired comparisons of `bench.analysis.stats` (which differences are significant at
95%), every cell in a folded table, the plots (`bench.analysis.plots`, linked by relative path, so the
file renders on GitHub), and the run's provenance (versions, devices, command, git revision).
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from bench.results.document import (best_lr_rows, finite_or_none, format_lr, inits_of, load_results,
                                  optimizers_of, tasks)
from bench.analysis.stats import PairedDifference, init_differences, optimizer_differences
from bench.results import files
from bench.results.files import atomic_write

DASH = "—"


def report_from_args(args) -> int:
    report_path = write_report(args.results, plots=not args.no_plots)
    print(report_path)
    return 0


def write_report(results_path, plots: bool = True, results: dict | None = None) -> Path:
    """Write `<stem>.report.md` (and, with `plots`, the PNGs) beside the results JSON; its path.

    Pass `results` when the dict is already in memory (the runner, right after a run); otherwise
    the file is loaded and schema-checked (a bad file raises UsageError).
    """
    results_path = Path(results_path)
    if results is None:
        results = load_results(results_path)
    report_path = Path(files.report_path(str(results_path)))  # <stem>.report.md
    plot_paths = []
    if plots:
        from bench.analysis.plots import make_plots  # matplotlib only when plots are wanted

        plot_paths = make_plots(results, results_path.parent, stem=results_path.stem)
    links = [Path(os.path.relpath(path, report_path.parent)).as_posix() for path in plot_paths]
    text = render_report(results, plot_links=links, plots_skipped=not plots, title=results_path.name)
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
    lines += [config_line(meta.get("config", {})), ""]
    optimizer_pairs, init_pairs = optimizer_differences(results), init_differences(results)
    for task in tasks(results):
        lines += [f"## {task}", ""]
        lines += accuracy_table(results, task)
        lines += speed_table(results, task)
        lines += paired_section([d for d in optimizer_pairs if d.task == task],
                                [d for d in init_pairs if d.task == task])
        lines += plots_section([link for link in plot_links if _is_task_plot(link, task, len(tasks(results)))],
                               plots_skipped)
        lines += all_cells_table(results, task)
    lines += metadata_section(meta)
    return "\n".join(lines) + "\n"


def _is_task_plot(link: str, task: str, task_count: int) -> bool:
    return task_count == 1 or f"-{task}-" in Path(link).name


def config_line(config: dict) -> str:
    parts = [("task", config.get("task")), ("seeds", config.get("seeds")), ("steps", config.get("steps")),
             ("batch size", config.get("batch_size")), ("eval every", config.get("eval_every")),
             ("target val accuracy", config.get("target"))]
    return " · ".join(f"**{name}** {value}" for name, value in parts if value is not None)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(map(_cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in rows]
    return lines + [""]


def format_accuracy(row: dict | None) -> str:
    """"0.953 [0.949, 0.957]"; a single seed has no interval; every seed diverged -> "diverged"."""
    if row is None:
        return DASH
    mean = finite_or_none(row["test_accuracy_mean"])
    if mean is None:
        return "diverged"
    interval = row["test_accuracy_ci95"]
    if interval is None:
        return f"{mean:.3f} (n={row['n_seeds'] - row['n_diverged']}, no CI)"
    return f"{mean:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def accuracy_table(results: dict, task: str) -> list[str]:
    rows_by_pair = best_lr_rows(results, task)
    optimizers, inits = optimizers_of(results, task), inits_of(results, task)
    scored = {pair: finite_or_none(row["test_accuracy_mean"]) for pair, row in rows_by_pair.items()}
    scored = {pair: mean for pair, mean in scored.items() if mean is not None}
    winner = max(scored, key=scored.get) if scored else None
    table = []
    for init in inits:
        cells = []
        for optimizer in optimizers:
            row = rows_by_pair.get((task, optimizer, init))
            text = format_accuracy(row) + (f" lr {format_lr(row['lr'])}" if row else "")
            cells.append(f"**{text}**" if (task, optimizer, init) == winner else text)
        table.append([init, *cells])
    intro = ["### Test accuracy at the best learning rate", "",
             "Mean final test accuracy over the seeds that did not diverge, with its 95% t interval, at "
             "each cell's best learning rate (chosen by mean validation accuracy). Bold: the best cell; "
             f"{DASH}: not run.", ""]
    return intro + markdown_table(["init \\ optimizer", *optimizers], table)


def speed_table(results: dict, task: str) -> list[str]:
    all_rows = [row for row in results["summary"] if row["task"] == task]
    table = []
    for (_, optimizer, init), row in _in_config_order(results, task):
        siblings = [r for r in all_rows if (r["optimizer"], r["init"]) == (optimizer, init)]
        median = finite_or_none(row["steps_to_target_median"])
        table.append([optimizer, init, format_lr(row["lr"]),
                      DASH if median is None else f"{median:g}",
                      f"{100 * row['reached_fraction']:.0f}%",
                      f"{row['n_diverged']}/{row['n_seeds']}",
                      f"{sum(r['n_diverged'] for r in siblings)}/{sum(r['n_seeds'] for r in siblings)}"])
    intro = ["### Convergence speed", "",
             "At each (optimizer, init)'s best learning rate: the median number of steps until the validation "
             "accuracy first reached the target (over the seeds that reached it), the share of seeds that reached "
             "it (a diverged seed never counts as reached), and divergences at that lr and over the whole lr grid.",
             ""]
    return intro + markdown_table(["optimizer", "init", "best lr", "median steps to target", "reached",
                                   "diverged (best lr)", "diverged (all lrs)"], table)


def _in_config_order(results: dict, task: str) -> list[tuple]:
    rows = best_lr_rows(results, task)
    return [((task, opt, init), rows[(task, opt, init)]) for opt in optimizers_of(results, task)
            for init in inits_of(results, task) if (task, opt, init) in rows]


def format_difference(difference: PairedDifference) -> list[str]:
    mean = DASH if difference.mean_difference is None else f"{difference.mean_difference:+.4f}"
    interval = (DASH if difference.ci95 is None
                else f"[{difference.ci95[0]:+.4f}, {difference.ci95[1]:+.4f}]")
    p_value = DASH if difference.p_value is None else f"{difference.p_value:.3g}"
    verdict = "yes" if difference.significant else ("no" if difference.ci95 is not None else "untestable")
    return [difference.held_fixed, f"{difference.a} − {difference.b}", mean, interval, p_value,
            f"{difference.n_pairs} ({difference.n_dropped} dropped)", verdict]


def paired_section(optimizer_pairs: list[PairedDifference], init_pairs: list[PairedDifference]) -> list[str]:
    header = ["held fixed", "difference", "mean", "95% CI", "p (paired t)", "pairs", "significant"]
    lines = ["### Paired differences", "",
             "Seeds are paired: for a given (seed, init) every optimizer starts from the same parameters and sees "
             "the same batches. Each row is the mean over seeds of (test accuracy of the first minus that of the "
             "best), both at their best learning rate, with a 95% t interval (`scipy.stats.ttest_rel`). Seeds where "
             "either run diverged are dropped and counted. Significant: the interval excludes zero.", ""]
    for title, found in (("Each optimizer vs the best optimizer under the same init", optimizer_pairs),
                         ("Each init vs the best init under the same optimizer", init_pairs)):
        lines += [f"**{title}**", ""]
        if not found:
            lines += ["Nothing to compare (one candidate, or every candidate diverged).", ""]
            continue
        lines += markdown_table(header, [format_difference(d) for d in found])
        lines += [significance_sentence(found), ""]
    return lines


def significance_sentence(found: list[PairedDifference]) -> str:
    significant = [d for d in found if d.significant]
    if not significant:
        return "No difference is significant at 95%."
    described = [f"{d.a} is {'worse' if d.mean_difference < 0 else 'better'} than {d.b} ({d.held_fixed}, "
                 f"{d.mean_difference:+.4f})" for d in significant]
    return "Significant at 95%: " + "; ".join(described) + "."


def plots_section(links: list[str], skipped: bool) -> list[str]:
    lines = ["### Plots", ""]
    if skipped:
        return lines + ["Plots skipped (`--no-plots`); run `python -m bench report RESULTS.json` to draw them.", ""]
    for link in links:
        # percent-encoded: a path with spaces (or parentheses) is still one CommonMark link
        lines += [f"![{Path(link).stem}]({quote(link)})", ""]
    return lines


def all_cells_table(results: dict, task: str) -> list[str]:
    rows = [row for row in results["summary"] if row["task"] == task]
    order = {name: index for index, name in enumerate(optimizers_of(results, task) + inits_of(results, task))}
    rows.sort(key=lambda row: (order.get(row["optimizer"], 0), order.get(row["init"], 0), row["lr"]))
    table = [[row["optimizer"], row["init"], format_lr(row["lr"]) + (" ★" if row.get("best_lr") else ""),
              row["n_seeds"], row["n_diverged"], format_accuracy(row),
              _number(row["val_accuracy_mean"], ".3f"), _number(row["steps_to_target_median"], "g"),
              f"{100 * row['reached_fraction']:.0f}%"] for row in rows]
    header = ["optimizer", "init", "lr (★ best)", "seeds", "diverged", "test accuracy [95% CI]",
              "val accuracy", "median steps to target", "reached"]
    return (["<details><summary>All cells (every learning rate)</summary>", ""]
            + markdown_table(header, table) + ["</details>", ""])


def _number(value, spec: str) -> str:
    value = finite_or_none(value)
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
        ["backend", f"{meta.get('backend', DASH)} ({meta.get('device_kind', DASH)} × {meta.get('device_count', '?')}; "
                    f"{meta.get('process_count', 1)} process(es); deterministic: {meta.get('deterministic')})"],
        ["devices", ", ".join(map(str, devices[:8])) + (f", … ({len(devices)} in all)" if len(devices) > 8 else "")],
        ["versions", ", ".join(f"{name} {version}" for name, version in versions.items())],
    ]
    lines = ["## Run metadata", ""] + markdown_table(["", ""], rows)
    programs = meta.get("programs") or []
    if programs:
        lines += markdown_table(["task", "optimizer", "runs", "compile (s)", "run (s)", "s / step"],
                                [[p.get("task"), p.get("optimizer"), p.get("runs"),
                                  _number(p.get("compile_seconds"), ".2f"), _number(p.get("run_seconds"), ".2f"),
                                  _number(p.get("seconds_per_step"), ".3g")] for p in programs])
    return lines

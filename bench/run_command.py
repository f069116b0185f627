"""`python -m bench run` and `python -m bench list`: flags -> Config -> run -> rich tables."""
from __future__ import annotations

import os
import signal
import sys
from typing import Any, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"


class RichProgress:
    """One bar for all programs, one for the steps of the current program."""

    def __init__(self, progress: Progress, n_programs: int):
        self.progress = progress
        self.programs = progress.add_task("programs", total=n_programs)
        self.steps = None

    def start(self, description: str, total_steps: int) -> None:
        if self.steps is not None:
            self.progress.update(self.steps, visible=False)
            self.progress.advance(self.programs)
        self.steps = self.progress.add_task(description, total=total_steps)

    def advance(self, steps: int) -> None:
        self.progress.advance(self.steps, steps)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run_from_args(args, argv: Sequence[str] | None = None) -> int:
    if args.deterministic:
        # Must reach XLA before its GPU backend starts: nothing has imported jax yet.
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {DETERMINISTIC_FLAG}".strip()
    if args.distributed:
        import jax

        jax.distributed.initialize()

    from bench.config import check_output_path, resolve
    from bench.experiment import Interrupted, run_suite

    config = resolve(args.suite, task=args.task, optimizers=args.optimizers, inits=args.inits,
                     seeds=args.seeds, steps=args.steps, lrs=args.lrs, batch_size=args.batch_size,
                     eval_every=args.eval_every, target=args.target,
                     max_runs_per_chunk=args.max_runs_per_chunk)
    if args.out:
        # run_suite checks it too (for API callers); here it must fail before the progress bar
        # starts, or the bar's teardown puts a blank line on stderr ahead of the error
        check_output_path(args.out)
    console = Console(stderr=True, quiet=args.quiet)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            path, document = run_suite(config, args.out, argv=argv, deterministic=args.deterministic,
                                       progress=RichProgress(bar, len(config.optimizers)))
    except Interrupted as interrupted:
        print(f"interrupted: finished programs saved in {interrupted.path} "
              "(meta.complete = false); run the same command to finish", file=sys.stderr)
        print(interrupted.path)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)

    import jax

    if jax.process_index() != 0:  # multi-host: process 0 writes and prints
        return 0
    report = None
    if not args.no_plots:
        from bench.report import write_report

        report = write_report(path, results=document)
    if args.quiet:
        print(path)
        return 0
    # Piped output would be cut to 80 columns; a results table is worth its width.
    out = Console(width=None if sys.stdout.isatty() else 160)
    print_tables(document, out)
    out.print(f"results: {path}  (summary: {os.path.splitext(path)[0]}.csv)")
    if report:
        out.print(f"report:  {report}")
        out.print(f"plots:   {os.path.splitext(path)[0]}-*.png")
    return 0


def _fmt_accuracy(row: dict[str, Any] | None) -> str:
    if row is None:
        return ""
    if row["test_accuracy_mean"] is None:
        return "[red]diverged[/red]"
    text = f"{100 * row['test_accuracy_mean']:.1f}"
    if row["test_accuracy_ci95"]:
        low, high = row["test_accuracy_ci95"]
        text += f" ± {100 * (high - low) / 2:.1f}"
    return text + (f" [red]({row['n_diverged']} div)[/red]" if row["n_diverged"] else "")


def _fmt_speed(row: dict[str, Any] | None) -> str:
    if row is None:
        return ""
    median = row["steps_to_target_median"]
    return f"{'—' if median is None else int(median)} ({100 * row['reached_fraction']:.0f}%)"


def print_tables(document: dict[str, Any], console: Console) -> None:
    config = document["meta"]["config"]
    best = {(r["optimizer"], r["init"]): r for r in document["summary"] if r["best_lr"]}
    optimizers, inits = config["optimizers"], config["inits"]
    title = f"{config['task']}: test accuracy %, mean ± 95% CI over {config['seeds']} seeds"
    speed_title = f"{config['task']}: median steps to {100 * config['target']:.0f}% val. accuracy (% reached)"
    caption = "each cell at its best learning rate, chosen on validation accuracy"
    for table_title, cell in ((title, _fmt_accuracy), (speed_title, _fmt_speed)):
        table = Table(title=table_title, title_justify="left", caption=caption, caption_justify="left")
        table.add_column("init")
        for optimizer in optimizers:
            table.add_column(optimizer, justify="right")
        for init in inits:
            table.add_row(init, *(cell(best.get((opt, init))) for opt in optimizers))
        console.print(table)
    runs = document["runs"]
    diverged = [r for r in runs if r["diverged"]]
    line = f"divergences: {len(diverged)} of {len(runs)} runs"
    if diverged:
        counts: dict[tuple[str, str, float], int] = {}
        for r in diverged:
            counts[(r["optimizer"], r["init"], r["lr"])] = counts.get((r["optimizer"], r["init"], r["lr"]), 0) + 1
        line += ": " + ", ".join(f"{o}/{i}/lr={lr:g} x{n}" for (o, i, lr), n in sorted(counts.items()))
    console.print(line)
    programs = document["meta"]["programs"]
    compile_s = sum(p["compile_seconds"] for p in programs if not p.get("reused"))
    run_s = sum(p["run_seconds"] for p in programs if not p.get("reused"))
    reused = sum(1 for p in programs if p.get("reused"))
    console.print(f"{len(runs)} runs in {len(programs)} programs on {document['meta']['device_count']} "
                  f"{document['meta']['backend']} device(s): compile {compile_s:.1f} s, train {run_s:.1f} s, "
                  f"wall {document['meta']['wall_seconds']:.1f} s"
                  + (f"; {reused} program(s) reused from the earlier file" if reused else ""))


def print_listing() -> None:
    from bench.config import suites
    from bench.tasks import TASKS
    from inits import STRATEGIES
    from optimizers import OPTIMIZERS

    console = Console()
    for title, rows in (
            ("tasks", [(name, f"{t.description}; target {t.target:g}, {t.steps} steps")
                       for name, t in TASKS.items()]),
            ("init strategies", [(name, f"{s.description} ({s.reference})") for name, s in STRATEGIES.items()]),
            ("optimizers", [(name, f"{o.description}; lrs {', '.join(f'{lr:g}' for lr in o.learning_rates)}"
                             + ("; full batch" if o.full_batch else "")) for name, o in OPTIMIZERS.items()]),
            ("suites", [(name, s.description) for name, s in suites().items()])):
        table = Table(title=title, title_justify="left", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        for row in rows:
            table.add_row(*row)
        console.print(table)

"""The run's console tables: best-lr test accuracy and convergence speed, init x optimizer,
and the lines on divergences and timings that `python -m bench run` prints after a run."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


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

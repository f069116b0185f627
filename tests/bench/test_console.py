"""bench.console: the progress of a run fills exactly once, however the runs are chunked."""
from rich.console import Console

from bench.console import RunProgress
from bench.suite.config import resolve
from bench.suite.execute import run_suite


def test_chunked_programs_fill_their_bar_exactly_once(tmp_path):
    config = resolve("smoke", optimizers="sgd,adam", inits="he_normal", seeds=3, steps=20,
                     eval_every=10, max_runs_per_chunk=1)  # every run its own chunk
    with RunProgress(len(config.optimizers), Console(file=open(tmp_path / "bar.txt", "w"))) as progress:
        run_suite(config, str(tmp_path / "run.json"), progress=progress)
        bars = {task.description: task for task in progress.bar.tasks if task.description != "programs"}
    assert len(bars) == 2
    for bar in bars.values():
        # 2 selection + 3 evaluation seeds (one learning rate: one program for both) x 20 steps
        assert bar.total == 5 * 20 and bar.completed == bar.total  # never short, never over

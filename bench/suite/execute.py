"""A suite run from start to results file: the Python API the CLI calls (`bench.run`).

    config -> init params once per task -> one train program per optimizer -> records
           -> summary -> results JSON + CSV (written after every program, so an interrupted
              run keeps its finished programs and a rerun with the same `out` reuses them)
"""
from __future__ import annotations

import time
from typing import Any, Protocol, Sequence

from bench.results import document, files, provenance
from bench.suite import metrics
from bench.suite.config import Config, check_output_path, resolve


class Progress(Protocol):
    def start(self, description: str, total_steps: int) -> None: ...
    def advance(self, steps: int) -> None: ...


class _Silent:
    def start(self, description: str, total_steps: int) -> None:
        pass

    def advance(self, steps: int) -> None:
        pass


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during a run; the finished programs are in `path`."""

    def __init__(self, path: str, finished: int, total: int):
        super().__init__(f"interrupted: {finished} of {total} programs finished, saved in {path}")
        self.path = path


def program_config(config: Config, optimizer: str, backend: str) -> dict[str, Any]:
    """Everything that decides a program's numbers: equal configs give reusable results."""
    from optimizers import OPTIMIZERS

    spec = OPTIMIZERS[optimizer]
    return {
        "task": config.task, "optimizer": optimizer, "inits": config.inits_for(optimizer),
        "seeds": list(config.seeds), "steps": config.steps, "batch_size": config.batch_size,
        "eval_every": config.eval_every, "target": config.target,
        "learning_rates": list(config.learning_rates[optimizer]),
        "hyperparams": {k: v for k, v in spec.hyperparams.items()},
        "full_batch": spec.full_batch, "backend": backend,
    }


def run_suite(config: Config, out: str | None = None, *, argv: Sequence[str] | None = None,
              deterministic: bool = False, progress: Progress | None = None,
              devices=None) -> tuple[str, dict[str, Any]]:
    """Run `config`, write the results to `out` and return (path, results dict)."""
    path = check_output_path(out or files.default_path(config.suite))
    with files.lock(path):  # one writer per results file (re-entrant: the CLI may hold it)
        return _run_suite(config, path, argv=argv, deterministic=deterministic,
                          progress=progress, devices=devices)


def _run_suite(config: Config, path: str, *, argv, deterministic, progress, devices):
    import jax
    import json

    from bench import runner
    from bench.tasks import TASKS
    from inits import STRATEGIES
    from optimizers import OPTIMIZERS

    began = time.perf_counter()
    progress = progress or _Silent()
    meta = provenance.new_meta(config.suite, config.as_json(), argv, deterministic)
    configs = {(config.task, opt): json.loads(json.dumps(program_config(config, opt, meta["backend"])))
               for opt in config.optimizers}
    reused = files.reusable_programs(path, configs)
    task = TASKS[config.task]
    dataset = task.load()
    mesh = runner.runs_mesh(devices)

    records: list[dict[str, Any]] = []
    programs: list[dict[str, Any]] = []
    todo = [opt for opt in config.optimizers if (config.task, opt) not in reused]
    needed_inits = [init for init in config.inits if any(init in config.inits_for(o) for o in todo)]
    params = None
    if needed_inits:
        strategies = {name: STRATEGIES[name] for name in needed_inits}
        params = runner.init_params(task, dataset, strategies, config.seeds, config.batch_size, mesh)

    def save(complete: bool) -> dict[str, Any]:
        order = {opt: i for i, opt in enumerate(config.optimizers)}
        programs.sort(key=lambda p: order[p["optimizer"]])
        records.sort(key=lambda r: order[r["optimizer"]])
        seconds = {(p["task"], p["optimizer"]): p["seconds_per_step"] for p in programs}
        meta.update(complete=complete, programs=programs, finished_at=provenance.utc_now(),
                    wall_seconds=round(time.perf_counter() - began, 3))
        results = document.build(meta, records, metrics.summarize(records, seconds))
        if jax.process_index() == 0:  # multi-host: every process computes, one writes
            files.write(path, results)
        return results

    try:
        for optimizer in config.optimizers:
            key = (config.task, optimizer)
            if key in reused:
                program, program_records = reused[key]
                programs.append({**program, "reused": True})
                records.extend(program_records)
                continue
            spec = OPTIMIZERS[optimizer]
            runs = runner.grid(config.inits_for(optimizer), config.seeds,
                               config.learning_rates[optimizer])
            progress.start(f"{config.task} / {optimizer} ({len(runs)} runs)", len(runs) * config.steps)
            output, timing = runner.train_runs(
                task, dataset, spec, spec.hyperparams, runs, params, needed_inits, config.seeds,
                steps=config.steps, batch_size=config.batch_size, eval_every=config.eval_every,
                mesh=mesh, max_runs_per_call=config.max_runs_per_chunk,
                on_progress=progress.advance)
            program_records = metrics.run_records(config.task, optimizer, runs, output, config.target)
            records.extend(program_records)
            programs.append({
                "task": config.task, "optimizer": optimizer, "runs": len(runs),
                "compile_seconds": round(timing.compile_seconds, 3),
                "run_seconds": round(timing.run_seconds, 3),
                "seconds_per_step": timing.run_seconds / config.steps,
                "config": configs[key], "reused": False,
                **files.program_stamp(configs[key], program_records),  # reuse_key, records_sha256, code
            })
            save(complete=False)
    except KeyboardInterrupt:
        save(complete=False)
        raise Interrupted(path, len(programs), len(config.optimizers)) from None
    return path, save(complete=True)


def run(suite: str = "default", out: str | None = None, *, argv: Sequence[str] | None = None,
        deterministic: bool = False, progress: Progress | None = None, **overrides
        ) -> dict[str, Any]:
    """Run a suite (with `resolve`'s overrides: task, optimizers, inits, seeds, steps, lrs,
    batch_size, eval_every, target, max_runs_per_chunk) and return the results dict.

    >>> results = bench.run("default", seeds=4, out="results/mine.json")
    """
    config = resolve(suite, **overrides)
    _, document = run_suite(config, out, argv=argv or ["bench.run"], deterministic=deterministic,
                            progress=progress)
    return document

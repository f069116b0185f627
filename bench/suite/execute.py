"""A suite run from start to results file: the Python API the CLI calls (`bench.run`).

    config -> per task: every (strategy, seed)'s initial variables, once
           -> per (task, optimizer):
                selection program: every candidate configuration x init x selection seed
                    (skipped when the optimizer has one candidate) -> the configuration chosen
                    per init on validation accuracy
                evaluation program: the chosen configuration x init x evaluation seed, which
                    alone report test accuracy
           -> records -> summary -> results JSON + CSV, written after every program, so an
              interrupted run keeps its finished programs and a rerun with the same `out`
              reuses them
"""
from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Sequence

from bench.results import document, files, provenance
from bench.records import summary
from bench.suite.config import Config, check_output_path, resolve
from bench.suite.programs import (BOTH, EVALUATION, SELECTION, Checkpoint, Program, Progress, Silent,
                                  Workload,
                                  evaluation_program, first_program, parts_folder, train)

class Interrupted(Exception):
    """Ctrl-C or SIGTERM during a run; the finished programs are in `path`."""

    def __init__(self, path: str, finished: int, total: int):
        super().__init__(f"interrupted: {finished} of {total} programs finished, saved in {path}")
        self.path = path


CHECKPOINT_MINUTES = 5.0  # minutes of training between two saves of a program's state


def run_suite(config: Config, out: str | None = None, *, argv: Sequence[str] | None = None,
              deterministic: bool = False, progress: Progress | None = None,
              devices=None, executor=None,
              checkpoint_minutes: float = CHECKPOINT_MINUTES) -> tuple[str, dict[str, Any]]:
    """Run `config`, write the results to `out` and return (path, results dict).

    `executor`: None trains every program here, one after the other; else each program is a
    job of the executor (anything with `submit(fn, *args)` returning an object with `result()`:
    a submitit executor, a concurrent.futures executor, a Dask Client; `bench.suite.jobs`),
    and this process, the owner, merges what they write. A failed job's program is listed in
    `meta.failed_programs` (the run is then incomplete; the same command retrains it). Every
    program saves its state every `checkpoint_minutes` of training (and on Ctrl-C) beside the
    results; an interrupted one resumes there with the numbers of an uninterrupted run."""
    shown = check_output_path(out or files.default_path(config.suite))
    # absolute inside: a job whose working folder differs (Dask, SLURM) writes its part beside it
    path = os.path.abspath(shown)
    with files.lock(path):  # one writer per results file (re-entrant: the CLI may hold it)
        _, results = _run_suite(config, path, argv=argv, deterministic=deterministic,
                                progress=progress or Silent(), devices=devices, executor=executor,
                                checkpoint_seconds=60 * checkpoint_minutes)
    return shown, results


def _run_suite(config: Config, path: str, *, argv, deterministic, progress, devices, executor,
               checkpoint_seconds: float):
    """Per task, per optimizer: its programs (reused or trained), the file saved after each."""
    results = ResultsInProgress(config, path, provenance.new_meta(
        config.suite, config.as_json(), argv, deterministic), checkpoint_seconds)
    scheduler = None
    try:
        if executor is None:
            train_inline(results, progress, devices)
        else:
            from bench.suite.jobs import Scheduler

            scheduler = Scheduler(results, executor, progress)
            scheduler.run()
            results.in_plan_order()  # jobs finish in any order; the file reads as inline's
    except KeyboardInterrupt:
        if scheduler is not None:
            scheduler.cancel()
        results.save(complete=False, statistics=True)
        raise Interrupted(path, len(results.programs), count_programs(config)) from None
    document = results.save(complete=not results.failed, statistics=True)
    with contextlib.suppress(OSError):  # parts and checkpoints are merged or finished: gone
        os.rmdir(os.path.join(parts_folder(path), "checkpoints"))
    with contextlib.suppress(OSError):
        os.rmdir(parts_folder(path))
    return path, document


def train_inline(results: "ResultsInProgress", progress: Progress, devices=None) -> None:
    """Every program in this process: per task its data and initial variables once, then per
    optimizer its programs."""
    from bench.imports import preload_beside_compile
    from bench.sharding import runs_mesh

    preload_beside_compile("scipy.stats")  # the records' statistics (bench.imports)
    mesh = runs_mesh(devices)
    for settings in results.config.tasks:
        workload = Workload(results.config, settings, mesh)
        for optimizer in results.config.optimizers:
            train_optimizer(results, workload, optimizer, progress)


def count_programs(config: Config) -> int:
    """Programs a run trains: per task and optimizer, one, or a selection and an evaluation."""
    return sum(1 + (config.candidates_per_budget(opt) > 1) for opt in config.optimizers) * len(config.tasks)


class ResultsInProgress:
    """The results file a run fills: the earlier file's reusable programs, the records and
    programs so far, and `save`, called after every program."""

    def __init__(self, config: Config, path: str, meta: dict[str, Any],
                 checkpoint_seconds: float = CHECKPOINT_MINUTES * 60):
        self.config, self.path, self.meta = config, path, meta
        self.checkpoint_seconds = checkpoint_seconds
        self.began = time.perf_counter()
        self.earlier = files.reusable_programs(path)
        self.records: list[dict[str, Any]] = []
        self.programs: list[dict[str, Any]] = []
        self.failed: list[dict[str, Any]] = []  # programs whose job failed (meta.failed_programs)
        self.classes = {settings.task: settings.num_classes for settings in config.tasks}

    def reused(self, program: "Program") -> list[dict[str, Any]] | None:
        """The earlier file's records of this program, if its key is unchanged (then added)."""
        key = (program.task, program.optimizer, program.phase)
        if key not in self.earlier or self.earlier[key][0].get("config") != program.key:
            return None
        entry, records = self.earlier[key]
        self.add(records, {**entry, "reused": True})
        return records

    def add(self, records: list[dict[str, Any]], entry: dict[str, Any], save: bool = False) -> None:
        self.records.extend(records)
        self.programs.append(entry)
        if save:
            self.save(complete=False)

    def in_plan_order(self) -> None:
        """Programs and records in the order an inline run writes them: by task, optimizer,
        then phase (a program's records keep their run order)."""
        tasks = [settings.task for settings in self.config.tasks]
        optimizers = self.config.optimizers
        phases = {SELECTION: 0, BOTH: 0, EVALUATION: 1}

        def rank(item: dict) -> tuple:
            return (tasks.index(item["task"]), optimizers.index(item["optimizer"]),
                    phases.get(item.get("phase"), 0))

        self.programs.sort(key=rank)
        self.records.sort(key=rank)  # stable: each program's records keep their order

    def fail(self, program: Program, job: dict[str, Any], error: str, log: list[str]) -> None:
        """A program whose job raised, was killed or ran out of time: recorded, then saved."""
        self.failed.append({"task": program.task, "optimizer": program.optimizer,
                            "phase": program.phase, "job": job, "error": error, "log_tail": log})
        self.save(complete=False)

    def checkpoint_of(self, program: "Program") -> Checkpoint:
        """Where a program saves its training state between calls (a folder of its own beside
        the results, named by its key), so that an interrupted program resumes."""
        return Checkpoint(os.path.join(parts_folder(self.path), "checkpoints",
                                       files.reuse_key(program.key)[:16]), self.checkpoint_seconds)

    def save(self, complete: bool, statistics: bool | None = None) -> dict[str, Any]:
        """Write the results as they stand. `statistics` (default: `complete`) computes the
        bootstrap intervals, choice stabilities and best sets; the saves between programs leave
        them out (they cost about 0.6 s each on the default suite, and grow with the file), the
        last save and an interrupted run's have them."""
        import jax

        statistics = complete if statistics is None else statistics
        seconds = {}
        for p in self.programs:
            for phase in ((SELECTION, EVALUATION) if p["phase"] == BOTH else (p["phase"],)):
                seconds[(p["task"], p["optimizer"], phase)] = p["seconds_per_step"]
        self.meta.update(complete=complete, programs=self.programs, finished_at=provenance.utc_now(),
                         wall_seconds=round(time.perf_counter() - self.began, 3))
        if self.failed:
            self.meta["failed_programs"] = self.failed
        else:
            self.meta.pop("failed_programs", None)
        rows = summary.summarize(self.records, seconds, num_classes=self.classes, intervals=statistics,
                                 search_spaces=self.config.search_space)
        results = document.build(self.meta, self.records, rows, statistics=statistics)
        if jax.process_index() == 0:  # multi-host: every process computes, one writes
            files.write(self.path, results)
        return results


def train_optimizer(results: ResultsInProgress, workload: Workload, optimizer: str,
                    progress: Progress) -> None:
    """One optimizer on one task, inline: choose its configuration on the selection seeds,
    then train the choice on the evaluation seeds (one program for both when there is nothing
    to choose). Each program is reused from the earlier file when its key is unchanged."""
    config, backend = results.config, results.meta["backend"]
    first = first_program(config, workload.settings, optimizer, backend)
    records = results.reused(first)
    if records is None:
        records, entry = train(config, workload, first, progress, results.checkpoint_of(first))
        results.add(records, entry, save=True)
    if first.phase == SELECTION:
        second = evaluation_program(config, workload.settings, optimizer, records, backend)
        if results.reused(second) is None:
            results.add(*train(config, workload, second, progress, results.checkpoint_of(second)),
                        save=True)


def run(suite: str = "default", out: str | None = None, *, argv: Sequence[str] | None = None,
        deterministic: bool = False, progress: Progress | None = None, executor=None,
        checkpoint_minutes: float = CHECKPOINT_MINUTES, **overrides) -> dict[str, Any]:
    """Run a suite (with `resolve`'s overrides: task, optimizers, inits, seeds, selection_seeds,
    steps, lrs, batch_size, eval_every, target, max_runs_per_chunk) and return the results dict.

    >>> results = bench.run("default", seeds=4, out="results/mine.json")
    """
    config = resolve(suite, **overrides)
    _, results = run_suite(config, out, argv=argv or ["bench.run"], deterministic=deterministic,
                           progress=progress, executor=executor,
                           checkpoint_minutes=checkpoint_minutes)
    return results


def tune(task: Any, optimizers: Any, budget: int, selection_seeds: int = 2, *,
         seeds: int | None = None, inits: Any = "he_normal", steps: int | None = None,
         schedule: str = "warmup_cosine", out: str | None = None, argv: Sequence[str] | None = None,
         progress: Progress | None = None, max_runs_per_chunk: int | None = None,
         executor=None, checkpoint_minutes: float = CHECKPOINT_MINUTES
         ) -> tuple[str, dict[str, Any]]:
    """A quasi-random search (`bench.suite.search`) of `budget` trials per optimizer, each on
    `selection_seeds` selection seeds, all trials x seeds x inits of an optimizer in one
    program; each (optimizer, init)'s best trial on validation is then trained on `seeds` fresh
    evaluation seeds (default 8), which alone report test accuracy, as in `run`. Task,
    optimizers and inits may be the user's (`resolve`). `schedule`: the learning rate's, decayed
    by default as in the comparison suites (its warm-up searched). Returns (path, results)."""
    import dataclasses

    from bench.errors import UsageError
    from bench.runner import SCHEDULES
    from bench.suite import search
    from bench.suite.config import Suite, check_positive

    check_positive("--budget", budget)
    if schedule not in SCHEDULES:
        raise UsageError(f"unknown schedule '{schedule}'; valid: {', '.join(SCHEDULES)}")
    base = Suite("tune", "a quasi-random search", ("digits-mlp",), inits=("he_normal",))
    config = resolve(base, task=task, optimizers=optimizers, inits=inits, seeds=seeds,
                     selection_seeds=selection_seeds, steps=steps, max_runs_per_chunk=max_runs_per_chunk,
                     trials=budget)  # the memory check counts `budget` candidates
    spaces, candidates = {}, {}
    for optimizer in config.optimizers:
        space = dict(getattr(config.optimizer_spec(optimizer), "search_space", {}) or {})
        if "learning_rate" not in {tuple(dimension)[0] for dimension in space.values()}:
            raise UsageError(f"optimizer '{optimizer}' has no search space with a learning rate "
                             f"to tune (see `python -m bench list`)")
        spaces[optimizer] = {name: list(dimension) for name, dimension in space.items()}
        candidates[optimizer] = search.sample(space, budget, schedule=schedule)
    config = dataclasses.replace(config, search=candidates, search_space=spaces, schedule=schedule)
    return run_suite(config, out, argv=argv or ["bench.tune"], progress=progress, executor=executor,
                     checkpoint_minutes=checkpoint_minutes)

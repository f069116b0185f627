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

import json
import time
from typing import Any, Protocol, Sequence

from bench.results import document, files, provenance
from bench.records import per_run, summary
from bench.suite.config import Config, TaskSettings, check_output_path, resolve

SELECTION, EVALUATION = "selection", "evaluation"
BOTH = document.BOTH_PHASES


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


def program_config(settings: TaskSettings, optimizer: str, phase: str, runs, backend: str,
                   test: bool) -> dict[str, Any]:
    """Everything that decides a program's numbers: equal configs give reusable results."""
    from optimizers import OPTIMIZERS

    spec = OPTIMIZERS[optimizer]
    config = {
        "task": settings.task, "optimizer": optimizer, "phase": phase,
        "runs": [[run.init, run.seed, run.trial, run.traced_values()] for run in runs],
        "steps": settings.steps, "batch_size": settings.batch_size,
        "eval_every": settings.eval_every, "target": settings.target, "test": test,
        "hyperparams": dict(spec.hyperparams), "full_batch": spec.full_batch, "backend": backend,
    }
    return json.loads(json.dumps(config))  # as it reads back from a file (tuples -> lists)


def _runs(config: Config, optimizer: str, seeds: Sequence[int],
          chosen: dict[str, int] | None = None) -> list:
    """The runs of one program: every (init, seed, trial), or each init's chosen trial."""
    from bench import runner

    candidates = config.candidates(optimizer)

    def run(init, seed, trial):
        values = dict(candidates[trial])
        lr = float(values.pop("learning_rate"))
        return runner.Run(init, seed, lr, trial, tuple(sorted(values.items())))

    inits = config.inits_for(optimizer)
    if chosen is None:
        return [run(init, seed, trial) for init in inits for seed in seeds
                for trial in range(len(candidates))]
    return [run(init, seed, chosen[init]) for init in inits for seed in seeds]


def _row(output, i: int):
    """The RunOutput of run i alone."""
    return type(output)(*(field if name == "steps" else field[i:i + 1]
                          for name, field in zip(output._fields, output)))


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

    from bench import runner
    from bench.tasks import TASKS
    from inits import STRATEGIES
    from optimizers import OPTIMIZERS

    began = time.perf_counter()
    progress = progress or _Silent()
    meta = provenance.new_meta(config.suite, config.as_json(), argv, deterministic)
    earlier = files.reusable_programs(path)
    mesh = runner.runs_mesh(devices)
    records: list[dict[str, Any]] = []
    programs: list[dict[str, Any]] = []
    classes = {settings.task: settings.num_classes for settings in config.tasks}
    n_programs = sum(1 + (len(config.candidates(opt)) > 1) for opt in config.optimizers) * len(config.tasks)

    def save(complete: bool) -> dict[str, Any]:
        seconds = {}
        for p in programs:
            for phase in ((SELECTION, EVALUATION) if p["phase"] == BOTH else (p["phase"],)):
                seconds[(p["task"], p["optimizer"], phase)] = p["seconds_per_step"]
        meta.update(complete=complete, programs=programs, finished_at=provenance.utc_now(),
                    wall_seconds=round(time.perf_counter() - began, 3))
        results = document.build(meta, records, summary.summarize(records, seconds, num_classes=classes))
        if jax.process_index() == 0:  # multi-host: every process computes, one writes
            files.write(path, results)
        return results

    def train(settings: TaskSettings, task, dataset, initialized, optimizer: str, phase: str,
              runs: list, test: bool) -> list[dict[str, Any]]:
        """One program: reused from the earlier file when its configuration is unchanged.

        phase BOTH trains selection and evaluation seeds of one configuration in one program;
        the selection runs' test accuracy is computed with the others' but never recorded."""
        spec = OPTIMIZERS[optimizer]
        key = (settings.task, optimizer, phase)
        program_key = program_config(settings, optimizer, phase, runs, meta["backend"], test)
        if key in earlier and earlier[key][0].get("config") == program_key:
            program, program_records = earlier[key]
            programs.append({**program, "reused": True})
            records.extend(program_records)
            return program_records
        progress.start(f"{settings.task} / {optimizer} / {phase} ({len(runs)} runs)",
                       len(runs) * settings.steps)
        output, timing = runner.train_runs(
            task, dataset, spec, spec.hyperparams, runs, initialized(), steps=settings.steps,
            batch_size=settings.batch_size, eval_every=settings.eval_every, mesh=mesh, test=test,
            max_runs_per_call=config.max_runs_per_chunk, on_progress=progress.advance)
        examples = dataset.x_train.shape[0] if spec.full_batch else settings.batch_size
        if phase == BOTH:
            evaluation = set(config.evaluation_seeds)
            new = []
            for i, run in enumerate(runs):
                one = per_run.run_records(
                    settings.task, optimizer, [run], _row(output, i), target=settings.target,
                    phase=EVALUATION if run.seed in evaluation else SELECTION,
                    examples_per_step=examples)[0]
                if run.seed not in evaluation:
                    one["final_test_accuracy"] = None  # selection seeds never report test accuracy
                new.append(one)
        else:
            new = per_run.run_records(settings.task, optimizer, runs, output,
                                      target=settings.target, phase=phase, examples_per_step=examples)
        records.extend(new)
        programs.append({
            "task": settings.task, "optimizer": optimizer, "phase": phase, "runs": len(runs),
            "compile_seconds": round(timing.compile_seconds, 3),
            "run_seconds": round(timing.run_seconds, 3),
            "seconds_per_step": timing.run_seconds / settings.steps,
            "calls": timing.calls, "runs_per_call": timing.runs_per_call,
            "config": program_key, "reused": False,
            **files.program_stamp(program_key, new),  # reuse_key, records_sha256, code
        })
        save(complete=False)
        return new

    try:
        for settings in config.tasks:
            task = TASKS[settings.task]
            dataset = task.load()
            cache: list = []

            def initialized(task=task, dataset=dataset, settings=settings, cache=cache):
                # once per task, and only if some program of the task is not reused
                if not cache:
                    strategies = {name: STRATEGIES[name] for name in config.inits}
                    seeds = list(dict.fromkeys(config.selection_seeds + config.evaluation_seeds))
                    cache.append(runner.initialize(task, dataset, strategies, seeds,
                                                   settings.batch_size, mesh))
                return cache[0]

            for optimizer in config.optimizers:
                if len(config.candidates(optimizer)) == 1:
                    # Nothing to choose, but the selection seeds still train: the report picks
                    # its leaders (the reference of each comparison) on them, never on the
                    # seeds that report test accuracy. One program for both phases.
                    seeds = config.selection_seeds + config.evaluation_seeds
                    train(settings, task, dataset, initialized, optimizer, BOTH,
                          _runs(config, optimizer, seeds), test=True)
                    continue
                selection = train(settings, task, dataset, initialized, optimizer, SELECTION,
                                  _runs(config, optimizer, config.selection_seeds), test=False)
                chosen = summary.chosen_trials(selection, num_classes=classes)
                train(settings, task, dataset, initialized, optimizer, EVALUATION,
                      _runs(config, optimizer, config.evaluation_seeds, chosen), test=True)
    except KeyboardInterrupt:
        save(complete=False)
        raise Interrupted(path, len(programs), n_programs) from None
    return path, save(complete=True)


def run(suite: str = "default", out: str | None = None, *, argv: Sequence[str] | None = None,
        deterministic: bool = False, progress: Progress | None = None, **overrides
        ) -> dict[str, Any]:
    """Run a suite (with `resolve`'s overrides: task, optimizers, inits, seeds, selection_seeds,
    steps, lrs, batch_size, eval_every, target, max_runs_per_chunk) and return the results dict.

    >>> results = bench.run("default", seeds=4, out="results/mine.json")
    """
    config = resolve(suite, **overrides)
    _, document = run_suite(config, out, argv=argv or ["bench.run"], deterministic=deterministic,
                            progress=progress)
    return document


def tune(task: str, optimizers: str | Sequence[str], budget: int, seeds: int, *,
         evaluation_seeds: int | None = None, inits: str | Sequence[str] = "he_normal",
         steps: int | None = None, schedule: str = "constant", out: str | None = None,
         argv: Sequence[str] | None = None, progress: Progress | None = None,
         max_runs_per_chunk: int | None = None) -> tuple[str, dict[str, Any]]:
    """A quasi-random search (`bench.suite.search`) of `budget` trials per optimizer, each on
    `seeds` selection seeds, all trials x seeds x inits of an optimizer in one program; each
    (optimizer, init)'s best trial on validation is then trained on `evaluation_seeds` fresh
    seeds (default 8), which alone report test accuracy. Returns (path, results)."""
    import dataclasses

    from bench.errors import UsageError
    from bench.runner import SCHEDULES
    from bench.suite import search
    from bench.suite.config import Suite, check_positive
    from optimizers import OPTIMIZERS

    check_positive("--budget", budget)
    if schedule not in SCHEDULES:
        raise UsageError(f"unknown schedule '{schedule}'; valid: {', '.join(SCHEDULES)}")
    base = Suite("tune", "a quasi-random search", ("digits-mlp",), inits=("he_normal",))
    config = resolve(base, task=task, optimizers=optimizers, inits=inits, seeds=evaluation_seeds,
                     selection_seeds=seeds, steps=steps, max_runs_per_chunk=max_runs_per_chunk,
                     trials=budget)  # the memory check counts `budget` candidates
    spaces, candidates = {}, {}
    for optimizer in config.optimizers:
        space = dict(getattr(OPTIMIZERS[optimizer], "search_space", {}) or {})
        if "learning_rate" not in {tuple(dimension)[0] for dimension in space.values()}:
            raise UsageError(f"optimizer '{optimizer}' has no search space with a learning rate "
                             f"to tune (see `python -m bench list`)")
        spaces[optimizer] = {name: list(dimension) for name, dimension in space.items()}
        candidates[optimizer] = search.sample(space, budget, schedule=schedule)
    config = dataclasses.replace(config, search=candidates, search_space=spaces, schedule=schedule)
    return run_suite(config, out, argv=argv or ["bench.tune"], progress=progress)

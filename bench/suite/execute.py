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


def program_config(config: Config, settings: TaskSettings, optimizer: str, phase: str, runs,
                   backend: str, test: bool) -> dict[str, Any]:
    """Everything that decides a program's numbers: equal configs give reusable results. The
    user's code a program trains (its task, optimizer, inits) is part of it by file sha256."""
    spec = config.optimizer_spec(optimizer)
    program = {
        "task": settings.task, "optimizer": optimizer, "phase": phase,
        "runs": [[run.init, run.seed, run.trial, run.traced_values()] for run in runs],
        "steps": settings.steps, "batch_size": settings.batch_size,
        "eval_every": settings.eval_every, "target": settings.target, "test": test,
        "hyperparams": dict(spec.hyperparams), "full_batch": spec.full_batch, "backend": backend,
    }
    user_code = config.sources_of(settings.task, optimizer)
    if user_code:
        program["user_code"] = user_code
    return json.loads(json.dumps(program))  # as it reads back from a file (tuples -> lists)


def _runs(config: Config, optimizer: str, seeds: Sequence[int],
          chosen: dict[str, int] | None = None) -> list:
    """The runs of one program: every (init, seed, trial), or each init's chosen trial."""
    from bench.runner import Run

    candidates = config.candidates(optimizer)
    inits = config.inits_for(optimizer)
    if chosen is None:
        return [Run.of(init, seed, candidates[trial], trial) for init in inits for seed in seeds
                for trial in range(len(candidates))]
    return [Run.of(init, seed, candidates[chosen[init]], chosen[init]) for init in inits
            for seed in seeds]


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
    """Per task, per optimizer: its programs (reused or trained), the file saved after each."""
    from bench.sharding import runs_mesh

    results = ResultsInProgress(config, path, provenance.new_meta(
        config.suite, config.as_json(), argv, deterministic))
    mesh = runs_mesh(devices)
    try:
        for settings in config.tasks:
            workload = Workload(config, settings, mesh)
            for optimizer in config.optimizers:
                train_optimizer(results, workload, optimizer, progress or _Silent())
    except KeyboardInterrupt:
        results.save(complete=False)
        raise Interrupted(path, len(results.programs), count_programs(config)) from None
    return path, results.save(complete=True)


def count_programs(config: Config) -> int:
    """Programs a run trains: per task and optimizer, one, or a selection and an evaluation."""
    return sum(1 + (len(config.candidates(opt)) > 1) for opt in config.optimizers) * len(config.tasks)


class Workload:
    """One task of a run: its data and, made once and only if some program trains, the initial
    variables of every (init, seed) the run needs."""

    def __init__(self, config: Config, settings: TaskSettings, mesh):
        self.config, self.settings, self.mesh = config, settings, mesh
        self.task = config.task_spec(settings.task)
        self.dataset = self.task.load()
        self._initialized = None

    def initialized(self):
        if self._initialized is None:
            from bench import runner

            config = self.config
            strategies = {name: config.strategy(name) for name in config.inits}
            seeds = list(dict.fromkeys(config.selection_seeds + config.evaluation_seeds))
            self._initialized = runner.initialize(self.task, self.dataset, strategies, seeds,
                                                  self.settings.batch_size, self.mesh)
        return self._initialized


class ResultsInProgress:
    """The results file a run fills: the earlier file's reusable programs, the records and
    programs so far, and `save`, called after every program."""

    def __init__(self, config: Config, path: str, meta: dict[str, Any]):
        self.config, self.path, self.meta = config, path, meta
        self.began = time.perf_counter()
        self.earlier = files.reusable_programs(path)
        self.records: list[dict[str, Any]] = []
        self.programs: list[dict[str, Any]] = []
        self.classes = {settings.task: settings.num_classes for settings in config.tasks}

    def reused(self, key: tuple, program_key: dict) -> list[dict[str, Any]] | None:
        """The earlier file's records of this program, if its configuration is unchanged."""
        if key not in self.earlier or self.earlier[key][0].get("config") != program_key:
            return None
        program, records = self.earlier[key]
        self.add(records, {**program, "reused": True})
        return records

    def add(self, records: list[dict[str, Any]], program: dict[str, Any]) -> None:
        self.records.extend(records)
        self.programs.append(program)

    def save(self, complete: bool) -> dict[str, Any]:
        import jax

        seconds = {}
        for p in self.programs:
            for phase in ((SELECTION, EVALUATION) if p["phase"] == BOTH else (p["phase"],)):
                seconds[(p["task"], p["optimizer"], phase)] = p["seconds_per_step"]
        self.meta.update(complete=complete, programs=self.programs, finished_at=provenance.utc_now(),
                         wall_seconds=round(time.perf_counter() - self.began, 3))
        results = document.build(self.meta, self.records,
                                 summary.summarize(self.records, seconds, num_classes=self.classes))
        if jax.process_index() == 0:  # multi-host: every process computes, one writes
            files.write(self.path, results)
        return results


def train_optimizer(results: ResultsInProgress, workload: Workload, optimizer: str,
                    progress: Progress) -> None:
    """One optimizer on one task: choose its configuration on the selection seeds, then train
    the choice on the evaluation seeds (one program for both when there is nothing to choose)."""
    config = results.config
    if len(config.candidates(optimizer)) == 1:
        # Nothing to choose, but the selection seeds still train: the report picks its leaders
        # (the reference of each comparison) on them, never on the seeds that report test
        # accuracy. One program for both phases.
        seeds = config.selection_seeds + config.evaluation_seeds
        train_program(results, workload, optimizer, BOTH, _runs(config, optimizer, seeds),
                      test=True, progress=progress)
        return
    selection = train_program(results, workload, optimizer, SELECTION,
                              _runs(config, optimizer, config.selection_seeds), test=False,
                              progress=progress)
    chosen = summary.chosen_trials(selection, num_classes=results.classes)
    train_program(results, workload, optimizer, EVALUATION,
                  _runs(config, optimizer, config.evaluation_seeds, chosen), test=True,
                  progress=progress)


def train_program(results: ResultsInProgress, workload: Workload, optimizer: str, phase: str,
                  runs: list, *, test: bool, progress: Progress) -> list[dict[str, Any]]:
    """One program: reused from the earlier file when its configuration is unchanged, else
    trained, recorded and saved. Phase BOTH trains selection and evaluation seeds of one
    configuration in one program; the selection runs' test accuracy is never recorded."""
    from bench import runner

    config, settings = results.config, workload.settings
    program_key = program_config(config, settings, optimizer, phase, runs,
                                 results.meta["backend"], test)
    reused = results.reused((settings.task, optimizer, phase), program_key)
    if reused is not None:
        return reused
    spec = config.optimizer_spec(optimizer)
    progress.start(f"{settings.task} / {optimizer} / {phase} ({len(runs)} runs)",
                   len(runs) * settings.steps)
    train = (runner.train_each_configuration if optimizer in config.methods.static
             else runner.train_runs)  # a factory that cannot take traced values: one program each
    output, timing = train(
        workload.task, workload.dataset, spec, runs, workload.initialized(), steps=settings.steps,
        batch_size=settings.batch_size, eval_every=settings.eval_every, mesh=workload.mesh,
        test=test, max_runs_per_call=config.max_runs_per_chunk, on_progress=progress.advance)
    examples = workload.dataset.x_train.shape[0] if spec.full_batch else settings.batch_size
    new = records_of(config, settings, optimizer, phase, runs, output, examples)
    results.add(new, {
        "task": settings.task, "optimizer": optimizer, "phase": phase, "runs": len(runs),
        "compile_seconds": round(timing.compile_seconds, 3),
        "run_seconds": round(timing.run_seconds, 3),
        "seconds_per_step": timing.run_seconds / settings.steps,
        "calls": timing.calls, "runs_per_call": timing.runs_per_call,
        "config": program_key, "reused": False,
        **files.program_stamp(program_key, new),  # reuse_key, records_sha256, code
    })
    results.save(complete=False)
    return new


def records_of(config: Config, settings: TaskSettings, optimizer: str, phase: str, runs,
               output, examples_per_step: int) -> list[dict[str, Any]]:
    """The run records of one program's output; in a BOTH program, each run's phase is its
    seed's, and the selection seeds' test accuracy is dropped."""
    if phase != BOTH:
        return per_run.run_records(settings.task, optimizer, runs, output, target=settings.target,
                                   phase=phase, examples_per_step=examples_per_step)
    evaluation = set(config.evaluation_seeds)
    new = []
    for i, run in enumerate(runs):
        one = per_run.run_records(
            settings.task, optimizer, [run], _row(output, i), target=settings.target,
            phase=EVALUATION if run.seed in evaluation else SELECTION,
            examples_per_step=examples_per_step)[0]
        if run.seed not in evaluation:
            one["final_test_accuracy"] = None  # selection seeds never report test accuracy
        new.append(one)
    return new


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


def tune(task: Any, optimizers: Any, budget: int, selection_seeds: int = 2, *,
         seeds: int | None = None, inits: Any = "he_normal", steps: int | None = None,
         schedule: str = "constant", out: str | None = None, argv: Sequence[str] | None = None,
         progress: Progress | None = None, max_runs_per_chunk: int | None = None
         ) -> tuple[str, dict[str, Any]]:
    """A quasi-random search (`bench.suite.search`) of `budget` trials per optimizer, each on
    `selection_seeds` selection seeds, all trials x seeds x inits of an optimizer in one
    program; each (optimizer, init)'s best trial on validation is then trained on `seeds` fresh
    evaluation seeds (default 8), which alone report test accuracy, as in `run`. Task,
    optimizers and inits may be the user's (`resolve`). Returns (path, results)."""
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
    return run_suite(config, out, argv=argv or ["bench.tune"], progress=progress)

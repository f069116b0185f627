"""The programs of a run: what each trains (`Program`, planned from the config), the task's
data and initial variables they share (`Workload`), and training one (`train`), the same inline
and in a job (`bench.suite.jobs`)."""
from __future__ import annotations

import json
import sys
from typing import Any, NamedTuple, Protocol, Sequence

from bench.records import per_run, summary
from bench.results import document, files
from bench.suite.config import Config, TaskSettings

SELECTION, EVALUATION = "selection", "evaluation"
BOTH = document.BOTH_PHASES


class Progress(Protocol):
    def start(self, description: str, total_steps: int) -> None: ...
    def advance(self, steps: int) -> None: ...


class Silent:
    """A progress that shows nothing (a job's, an API caller's without one)."""

    def start(self, description: str, total_steps: int) -> None:
        pass

    def advance(self, steps: int) -> None:
        pass

    def job(self, label: str, state: str) -> None:
        pass


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
          chosen: dict[tuple, int] | None = None) -> list:
    """The runs of one program: every (init, seed, trial), or each (init, budget)'s chosen
    trial (`summary.chosen_trials`)."""
    from bench.runner import Run

    candidates = config.candidates(optimizer)
    inits = config.inits_for(optimizer)
    if chosen is None:
        return [Run.of(init, seed, candidates[trial], trial) for init in inits for seed in seeds
                for trial in range(len(candidates))]
    return [Run.of(init, seed, candidates[trial], trial) for init in inits
            for (of, _), trial in chosen.items() if of == init for seed in seeds]


def _row(output, i: int):
    """The RunOutput of run i alone."""
    return type(output)(*(field if name == "steps" else field[i:i + 1]
                          for name, field in zip(output._fields, output)))


def parts_folder(path: str) -> str:
    """Beside a results file, what its programs leave while the run goes on: the jobs' part
    files and the programs' training checkpoints (`<stem>.parts/`)."""
    return files.stem(path) + ".parts"


class Checkpoint(NamedTuple):
    """Where a program saves its training state between calls, and how often (seconds of
    training between two saves): an interrupted or killed program resumes from its last save."""

    folder: str
    seconds: float


class Workload:
    """One task of a run: its data and, made once and only if some program trains, the initial
    variables of every (init, seed) the run needs. `shares_compiles`: whether its programs
    run one after the other here (inline), so that one may run what the one before compiled;
    a job's workload trains one program alone."""

    def __init__(self, config: Config, settings: TaskSettings, mesh, shares_compiles: bool = True):
        self.config, self.settings, self.mesh = config, settings, mesh
        self.task = config.task_spec(settings.task)
        self.dataset = self.task.load()
        self._initialized = None
        self._compiled = None
        self.shares_compiles = shares_compiles

    def compiled(self):
        """The train program this task's last program compiled (`runner.CompiledPrograms`): an
        evaluation program of its selection program's shapes runs that one's executables. None
        where the workload's programs do not share compiles."""
        if self._compiled is None and self.shares_compiles:
            from bench import runner

            self._compiled = runner.CompiledPrograms()
        return self._compiled

    def initialized(self):
        if self._initialized is None:
            from bench import runner

            config = self.config
            strategies = {name: config.strategy(name) for name in config.inits}
            seeds = list(dict.fromkeys(config.selection_seeds + config.evaluation_seeds))
            self._initialized = runner.initialize(self.task, self.dataset, strategies, seeds,
                                                  self.settings.batch_size, self.mesh)
        return self._initialized


class Program(NamedTuple):
    """One compiled program of a run: what it trains, and `key`, everything that decides its
    numbers (`program_config`): equal keys give reusable results."""

    task: str
    optimizer: str
    phase: str
    runs: tuple
    test: bool
    key: dict

    @property
    def label(self) -> str:
        return f"{self.task} / {self.optimizer} / {self.phase}"


def plan(config: Config, settings: TaskSettings, optimizer: str, phase: str, runs,
         backend: str) -> Program:
    test = phase != SELECTION  # selection runs never report test accuracy
    return Program(settings.task, optimizer, phase, tuple(runs), test,
                   program_config(config, settings, optimizer, phase, runs, backend, test))


def first_program(config: Config, settings: TaskSettings, optimizer: str, backend: str) -> Program:
    """An optimizer's first program on a task: its selection program, or, when there is only
    one candidate, one program for both phases. Nothing to choose, but the selection seeds still
    train: the report picks its leaders (the reference of each comparison) on them, never on
    the seeds that report test accuracy."""
    if config.candidates_per_budget(optimizer) == 1:
        seeds = config.selection_seeds + config.evaluation_seeds
        return plan(config, settings, optimizer, BOTH, _runs(config, optimizer, seeds), backend)
    return plan(config, settings, optimizer, SELECTION,
                _runs(config, optimizer, config.selection_seeds), backend)


def evaluation_program(config: Config, settings: TaskSettings, optimizer: str,
                       selection: list[dict[str, Any]], backend: str) -> Program:
    """The configuration chosen per init on the selection records, on the evaluation seeds."""
    chosen = summary.chosen_trials(selection, num_classes={settings.task: settings.num_classes})
    return plan(config, settings, optimizer, EVALUATION,
                _runs(config, optimizer, config.evaluation_seeds, chosen), backend)


def train(config: Config, workload: Workload, program: Program, progress: Progress,
          checkpoint: Checkpoint | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Train one program: its run records and its `meta.programs` entry. Phase BOTH trains
    selection and evaluation seeds of one configuration; the selection runs' test accuracy is
    never recorded. Inline and in a job alike."""
    from bench import runner

    settings, runs = workload.settings, list(program.runs)
    spec = config.optimizer_spec(program.optimizer)
    progress.start(f"{program.label} ({len(runs)} runs)", len(runs) * settings.steps)
    train_runs = (runner.train_each_configuration if program.optimizer in config.methods.static
                  else runner.train_runs)  # a factory that cannot take traced values: one program each
    output, timing = train_runs(
        workload.task, workload.dataset, spec, runs, workload.initialized(), steps=settings.steps,
        batch_size=settings.batch_size, eval_every=settings.eval_every, mesh=workload.mesh,
        test=program.test, max_runs_per_call=config.max_runs_per_chunk,
        on_progress=progress.advance, compiled=workload.compiled(),
        **({} if checkpoint is None else {"checkpoint": checkpoint.folder,
                                          "checkpoint_seconds": checkpoint.seconds}))
    examples = workload.dataset.x_train.shape[0] if spec.full_batch else settings.batch_size
    records = records_of(config, settings, program.optimizer, program.phase, runs, output, examples)
    entry = {
        "task": program.task, "optimizer": program.optimizer, "phase": program.phase,
        "runs": len(runs), "compile_seconds": round(timing.compile_seconds, 3),
        "run_seconds": round(timing.run_seconds, 3),
        "seconds_per_step": timing.run_seconds / settings.steps,
        "calls": timing.calls, "runs_per_call": timing.runs_per_call,
        "config": program.key, "reused": False,
        **files.program_stamp(program.key, records),  # reuse_key, records_sha256, code
    }
    if timing.resumed_from is not None:
        entry["resumed_from"] = timing.resumed_from
        _note(progress, f"{program.label}: resumed from its last save, {timing.resumed_from} of "
                        f"{settings.steps} steps in (the numbers are an uninterrupted run's)")
    return records, entry


def _note(progress: Progress, text: str) -> None:
    """A line for the user beside the progress bar (a job's log, where there is none)."""
    note = getattr(progress, "note", None)
    if note is not None:
        note(text)
    else:
        print(text, file=sys.stderr)


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

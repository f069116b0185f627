"""Scale-out: every program of a run as a job of an executor, one owner merging what they write.

    owner (the process the user started)                 jobs (one per program)
      plan the first program of every (task, optimizer) -> run_job: re-resolve the methods from
      submit them together (a job array where the          their specs, train the program exactly
        executor has one)                                  as inline does, write a part file
      as each finishes: read its part, check it is the     (atomic rename) and return its path
        program submitted and its records' hash, merge,
        write the results; a selection's choice known,
        submit its evaluation program

The owner is the only writer of the results document; a job never writes it and never takes its
lock (no flock across hosts). A job receives plain data: the configuration without its objects,
the specs of every method (a built-in's name, a file's absolute `PATH.py:NAME`, a module's
`package.module:NAME`, an entry point's name) and the sources the owner saw; it resolves them again
and refuses to train if a user's file changed in between. A job that raises, is killed or runs
out of time is a failed program: recorded in `meta.failed_programs` with its job and the last
lines of its log; the others go on, and a rerun trains only what is missing (the reuse key
decides). Ctrl-C in the owner cancels the jobs that have not finished.

An executor is anything with `submit(fn, *args)` returning an object with `result()`: a
submitit executor (`make_executor` builds one from a TOML file: `read_executor_config`), a
`concurrent.futures` executor, a Dask `distributed.Client`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from typing import Any, Mapping, NamedTuple

from bench.errors import UsageError
from bench.results import files
from bench.suite.config import Config, TaskSettings
from bench.suite.programs import (SELECTION, Checkpoint, Program, Silent, Workload,
                                  evaluation_program, first_program, parts_folder, train)

CLUSTERS = ("slurm", "local", "debug")
# What a `--executor-config` file may hold besides `cluster` and `folder`: submitit's generic
# parameters and SLURM's (each with the type it must have). Checked here: submitit's local
# executor accepts unknown keys silently and its AutoExecutor asserts on some types.
GENERIC_PARAMETERS: dict[str, tuple[type, ...]] = {
    "timeout_min": (int,), "mem_gb": (int, float), "nodes": (int,), "tasks_per_node": (int,),
    "cpus_per_task": (int,), "gpus_per_node": (int,), "name": (str,), "stderr_to_stdout": (bool,),
}
SLURM_PARAMETERS: dict[str, tuple[type, ...]] = {
    "slurm_partition": (str,), "slurm_account": (str,), "slurm_qos": (str,),
    "slurm_constraint": (str,), "slurm_comment": (str,), "slurm_exclude": (str,),
    "slurm_nodelist": (str,), "slurm_gres": (str,), "slurm_mem": (str,), "slurm_time": (int, str),
    "slurm_array_parallelism": (int,), "slurm_cpus_per_gpu": (int,), "slurm_gpus_per_task": (int,),
    "slurm_mem_per_cpu": (str,), "slurm_mem_per_gpu": (str,), "slurm_exclusive": (bool,),
    "slurm_signal_delay_s": (int,), "slurm_job_name": (str,), "slurm_mail_type": (str,),
    "slurm_mail_user": (str,), "slurm_wckey": (str,), "slurm_use_srun": (bool,),
    "slurm_setup": (list,), "slurm_srun_args": (list,), "slurm_additional_parameters": (dict,),
}
POLL_SECONDS = 0.25
LOG_LINES = 5  # lines of a failed job's log kept in meta.failed_programs


@dataclasses.dataclass(frozen=True)
class ExecutorConfig:
    """A `--executor-config` file: which submitit cluster, where its logs go, and the
    parameters passed to submitit's `update_parameters`."""

    cluster: str
    folder: str
    parameters: dict[str, Any]
    source: str = ""


def read_executor_config(path: str) -> ExecutorConfig:
    """Read and check a TOML executor config; every problem is one UsageError line."""
    import tomllib

    try:
        with open(path, "rb") as handle:
            table = tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"--executor-config '{path}': no such file") from None
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"--executor-config '{path}': cannot be read ({error})") from None
    cluster = table.pop("cluster", "slurm")
    if cluster not in CLUSTERS:
        raise UsageError(f"--executor-config '{path}': cluster must be one of {', '.join(CLUSTERS)}, "
                         f"got {cluster!r}")
    folder = table.pop("folder", "initopt-jobs")
    if not isinstance(folder, str) or not folder:
        raise UsageError(f"--executor-config '{path}': folder must be a path, got {folder!r}")
    known = {**GENERIC_PARAMETERS, **(SLURM_PARAMETERS if cluster == "slurm" else {})}
    for key, value in table.items():
        if key not in known:
            hint = " (a SLURM key; this cluster is not slurm)" if key in SLURM_PARAMETERS else ""
            raise UsageError(f"--executor-config '{path}': unknown key '{key}'{hint}; known: "
                             f"{', '.join(sorted(known))}")
        types = known[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise UsageError(f"--executor-config '{path}': {key} must be "
                             f"{' or '.join(t.__name__ for t in types)}, got {value!r}")
    if cluster == "slurm" and shutil.which("sbatch") is None:
        raise UsageError(f"--executor-config '{path}': cluster = \"slurm\" but no SLURM here (no "
                         "sbatch on PATH); use cluster = \"local\" to try it on this machine")
    if cluster == "slurm":
        table.setdefault("gpus_per_node", 1)  # a job asks for one GPU unless told otherwise
    return ExecutorConfig(cluster, folder, dict(table), path)


def import_submitit():
    """submitit, imported without its logging set-up: on import it calls logging's dictConfig,
    which closes every handler the process already has (absl's among them, and with it the
    stream that handler writes to). SUBMITIT_LOG_LEVEL=NOCONFIG is submitit's own switch; a
    value the user set is kept."""
    os.environ.setdefault("SUBMITIT_LOG_LEVEL", "NOCONFIG")
    import submitit

    return submitit


def make_executor(config: ExecutorConfig, run_name: str):
    """A submitit executor for `config`, its logs in a folder of this run's own (job ids are pids
    on the local cluster: a shared folder could hand back another job's result)."""
    submitit = import_submitit()

    folder = os.path.join(config.folder, f"{run_name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    executor = submitit.AutoExecutor(folder=folder, cluster=config.cluster)
    executor.update_parameters(**config.parameters)
    executor.initopt_cluster = config.cluster  # recorded in each program's `job`
    return executor


# ---------------------------------------------------------------------------------------------
# What a job receives, and what it does


class ProgramJob(NamedTuple):
    """Plain, picklable data: all a job needs to train one program as inline does."""

    config: Config  # without its objects (methods=None): they are re-resolved from `specs`
    specs: dict[str, dict[str, str]]  # kind -> name -> spec
    sources: dict[str, dict[str, dict]]  # the owner's provenance of the user's methods
    program: Program
    part: str  # the part file the job writes
    checkpoint: Checkpoint | None
    executor: str
    cluster: str | None


def method_specs(config: Config) -> dict[str, dict[str, str]]:
    """kind -> name -> the spec a job resolves again; a method given as a Python object (not
    loadable by another process) is a UsageError saying how to give it instead."""
    specs: dict[str, dict[str, str]] = {}
    tables = {"task": config.methods.tasks, "optimizer": config.methods.optimizers,
              "init": config.methods.strategies}
    for kind, table in tables.items():
        sources = config.methods.sources.get(kind, {})
        specs[kind] = {}
        for name in table:
            source = sources.get(name)
            spec = name if source is None else loadable_spec(source)
            if spec is None:
                raise UsageError(f"{kind} '{name}' was given as a Python object, which a job in "
                                 f"another process cannot load; give it as PATH.py:NAME or "
                                 f"package.module:NAME to run with an executor")
            specs[kind][name] = spec
    return specs


def loadable_spec(source: Mapping[str, Any]) -> str | None:
    """A user method's spec as another process (another folder, another host) can load it."""
    spec = source.get("spec", "")
    path, _, attribute = spec.rpartition(":")
    if path.endswith(".py") and source.get("file"):
        return f"{source['file']}:{attribute}"
    if ":" in spec and not spec.startswith("<"):
        return spec  # package.module:NAME
    if source.get("entry_point"):
        return spec
    return None


def resolve_for_job(job: ProgramJob) -> Config:
    """The job's Config: its program's task and optimizer, and every init of the run (the
    initial variables are made as inline makes them), resolved again from their specs; refused
    if a user's file is no longer what the owner resolved."""
    from bench import plugins
    from bench.suite.config import Methods
    from bench.tasks import TASKS
    from inits import STRATEGIES
    from optimizers import OPTIMIZERS

    program, specs = job.program, job.specs
    task = plugins.resolve_many("task", {program.task: specs["task"][program.task]}, TASKS)
    optimizer = plugins.resolve_many(
        "optimizer", {program.optimizer: specs["optimizer"][program.optimizer]}, OPTIMIZERS)
    inits = plugins.resolve_many("init", dict(specs["init"]), STRATEGIES)
    methods = Methods.of(task, optimizer, inits, [(program.optimizer, init) for init in inits])
    changed = [f"{kind} {name}" for kind, table in methods.sources.items()
               for name, source in table.items()
               if _content(source) != _content(job.sources.get(kind, {}).get(name))]
    if changed:
        raise RuntimeError(f"the user's code changed since the run started: {', '.join(changed)}")
    return dataclasses.replace(job.config, methods=dataclasses.replace(methods, pairs=job.config.pairs))


def _content(source: Mapping[str, Any] | None) -> dict | None:
    """A source as far as its code goes: the spec's spelling (relative here, absolute in a
    job) is not the code."""
    return None if source is None else {key: value for key, value in source.items() if key != "spec"}


def run_job(job: ProgramJob) -> dict[str, Any]:
    """What a job runs: one program, trained as inline, its records written to `job.part`."""
    import socket

    import jax

    from bench.sharding import runs_mesh

    _save_when_preempted()
    config = resolve_for_job(job)
    settings = next(s for s in config.tasks if s.task == job.program.task)
    workload = Workload(config, settings, runs_mesh(), shares_compiles=False)  # one program alone
    records, entry = train(config, workload, job.program, Silent(), job.checkpoint)
    entry["job"] = {"executor": job.executor, "cluster": job.cluster, "job_id": _job_id(),
                    "host": socket.gethostname(), "pid": os.getpid(),
                    "devices": [str(device) for device in jax.devices()]}
    os.makedirs(os.path.dirname(job.part), exist_ok=True)
    files.atomic_write(job.part, json.dumps({"config": job.program.key, "records": records,
                                             "entry": entry}, allow_nan=False))
    return {"part": job.part, "config": job.program.key}


def _save_when_preempted() -> None:
    """SLURM's SIGTERM (time out, preemption) becomes a SIGINT in the job's main thread: the
    runner holds it while a call runs (its inputs are donated), saves at the call's end and
    stops, so the rerun resumes from there. submitit's own SIGUSR2 handling is left alone."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return  # a thread pool's job: the pool's process owns the signals
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))


def _job_id() -> str | None:
    try:
        return str(import_submitit().JobEnvironment().job_id)
    except Exception:  # noqa: BLE001 - not in a submitit job
        return os.environ.get("SLURM_JOB_ID")


# ---------------------------------------------------------------------------------------------
# The owner


class Scheduler:
    """The owner's side: submits programs, merges their parts as they finish, and submits each
    evaluation program once its selection's choice is known."""

    def __init__(self, results, executor, view):
        """`results`: the owner's `execute.ResultsInProgress`; `view`: a progress object, shown
        each job's state where it has `job(label, state)`."""
        self.results, self.executor = results, executor
        self.view = view if hasattr(view, "job") else Silent()
        self.config: Config = results.config
        self.specs = method_specs(self.config)
        self.bare_config = dataclasses.replace(self.config, methods=None)
        self.executor_name = _executor_name(executor)
        self.cluster = getattr(executor, "initopt_cluster", None)
        self.pending: dict[Any, tuple[TaskSettings, Program, int]] = {}

    def run(self) -> None:
        backend = self.results.meta["backend"]
        first = [(settings, first_program(self.config, settings, optimizer, backend))
                 for settings in self.config.tasks for optimizer in self.config.optimizers]
        batch = getattr(self.executor, "batch", None)  # submitit: one job array for the stage
        to_submit = [(settings, program) for settings, program in first if not self._reused(settings, program)]
        if batch is not None and len(to_submit) > 1:
            submitted = []
            with batch():
                for settings, program in to_submit:
                    submitted.append((self.executor.submit(run_job, self._job(program)), settings, program))
            for future, settings, program in submitted:
                self._track(future, settings, program, 0)
        else:
            for settings, program in to_submit:
                self._submit(settings, program)
        while self.pending:
            for future in self._finished():
                self._collect(future)

    def cancel(self) -> None:
        """Ctrl-C: cancel every job not finished (the finished ones are merged already)."""
        for future in list(self.pending):
            cancel = getattr(future, "cancel", None)
            try:
                cancel(check=False) if _is_submitit(future) else cancel()
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.pending.clear()

    def _reused(self, settings: TaskSettings, program: Program) -> bool:
        records = self.results.reused(program)
        if records is None:
            return False
        self.view.job(program.label, "reused")
        self._next(settings, program, records)
        return True

    def _next(self, settings: TaskSettings, program: Program, records: list) -> None:
        if program.phase == SELECTION:
            second = evaluation_program(self.config, settings, program.optimizer, records,
                                        self.results.meta["backend"])
            if not self._reused(settings, second):
                self._submit(settings, second)

    def _job(self, program: Program) -> ProgramJob:
        key = files.reuse_key(program.key)[:16]
        part = os.path.join(parts_folder(self.results.path), f"{program.optimizer}-{key}.json")
        return ProgramJob(self.bare_config, self.specs, self.config.methods.sources, program, part,
                          self.results.checkpoint_of(program), self.executor_name, self.cluster)

    def _submit(self, settings: TaskSettings, program: Program, attempt: int = 0) -> None:
        self._track(self.executor.submit(run_job, self._job(program)), settings, program, attempt)

    def _track(self, future, settings: TaskSettings, program: Program, attempt: int) -> None:
        self.pending[future] = (settings, program, attempt)
        self.view.job(program.label, "queued")

    def _finished(self) -> list:
        """The futures done now (polling, with the view refreshed); an executor whose futures
        cannot say whether they are done is waited on in submission order."""
        while True:
            if not all(hasattr(future, "done") for future in self.pending):
                return [next(iter(self.pending))]
            done = [future for future in self.pending if future.done()]
            if done:
                return done
            for future, (_, program, _) in self.pending.items():
                if _state(future) == "running":
                    self.view.job(program.label, "running")
            time.sleep(POLL_SECONDS)

    def _collect(self, future) -> None:
        settings, program, attempt = self.pending.pop(future)
        try:
            outcome = future.result()
            records, entry = read_part(outcome, program)
        except PartMismatch as mismatch:
            if attempt == 0:  # a part that is not the program submitted: trained again, once
                self._submit(settings, program, attempt + 1)
                return
            self._fail(future, program, mismatch)
            return
        except Exception as error:  # noqa: BLE001 - a failed job is recorded, never a crash
            self._fail(future, program, error)
            return
        self.results.add(records, entry, save=True)
        self.view.job(program.label, "done")
        self._next(settings, program, records)

    def _fail(self, future, program: Program, error: BaseException) -> None:
        self.results.fail(program, {"executor": self.executor_name, "cluster": self.cluster,
                                    "job_id": _future_job_id(future)},
                          _one_line(error), _log_tail(future))
        self.view.job(program.label, "failed")


class PartMismatch(Exception):
    """A part file that is not the program that was submitted, or whose records fail their hash."""


def read_part(outcome: Any, program: Program) -> tuple[list[dict], dict]:
    """The records and program entry a job wrote, checked: the program submitted (its key), and
    records that match their hash. The part is removed once read."""
    if not isinstance(outcome, dict) or outcome.get("config") != program.key:
        raise PartMismatch(f"the job returned another program than {program.label}")
    try:
        with open(outcome["part"], encoding="utf-8") as handle:
            part = json.load(handle)
    except (OSError, ValueError) as error:
        raise PartMismatch(f"its part file cannot be read ({error})") from None
    records, entry = part.get("records"), part.get("entry", {})
    if part.get("config") != program.key or entry.get("records_sha256") != files.sha256_of(records):
        raise PartMismatch(f"the part file of {program.label} is not its program's, or its records "
                           "fail their hash")
    os.unlink(outcome["part"])
    return records, entry


def _executor_name(executor) -> str:
    module = type(executor).__module__.split(".")[0]
    return "submitit" if module == "submitit" else f"{module}.{type(executor).__name__}"


def _is_submitit(future) -> bool:
    return type(future).__module__.split(".")[0] == "submitit"


def _state(future) -> str:
    if _is_submitit(future):
        return {"RUNNING": "running", "COMPLETED": "done"}.get(str(getattr(future, "state", "")).upper(), "queued")
    running = getattr(future, "running", None)
    return "running" if callable(running) and running() else "queued"


def _future_job_id(future) -> str | None:
    job_id = getattr(future, "job_id", None)
    return None if job_id is None else str(job_id)


def _log_tail(future) -> list[str]:
    """The last lines of a submitit job's log (stderr, else stdout); nothing for others."""
    for reader in ("stderr", "stdout"):
        try:
            text = getattr(future, reader)() if _is_submitit(future) else None
        except Exception:  # noqa: BLE001 - no log yet, or the folder is gone
            text = None
        if text:
            return [line for line in text.splitlines() if line.strip()][-LOG_LINES:]
    return []


def _one_line(error: BaseException) -> str:
    """A failed job's cause in one line: submitit's "has not produced any output (state: ...)" or
    the exception the job raised (its last line)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    last = next((line for line in reversed(lines) if "Error" in line or "state:" in line), None)
    return f"{type(error).__name__}: {last or (lines[0] if lines else '')}"[:300]

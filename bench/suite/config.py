"""What to run: suites, and the validated `Config` a run is built from.

Every check here raises `UsageError` with one line naming the bad value (and, for a name, the
closest valid one), before anything is compiled or written.
"""
from __future__ import annotations

import difflib
import functools
import numbers
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from bench.errors import UsageError

CLASSIC_OPTIMIZERS = ("gd", "sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam")
# The twelve strategies of the default and deep suites: every one applies to a plain MLP.
CLASSIC_INITS = ("small_random", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                 "lecun_normal", "orthogonal", "zeros", "constant", "random_normal",
                 "random_uniform", "lsuv")


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    task: str
    # (optimizer, init) pairs; None means every pair of `optimizers` x `inits`.
    optimizers: tuple[str, ...] | None = None
    inits: tuple[str, ...] | None = None
    pairs: tuple[tuple[str, str], ...] | None = None
    seeds: int = 8
    steps: int | None = None  # None: the task's default
    eval_every: int = 25
    # optimizer -> learning rates; None (or a missing optimizer): the optimizer's default grid
    learning_rates: dict[str, tuple[float, ...]] | None = None


def _default_pairs(inits: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """All strategies under momentum and Adam, all classic optimizers under he_normal."""
    pairs = [(opt, init) for opt in ("momentum", "adam") for init in inits]
    pairs += [(opt, "he_normal") for opt in CLASSIC_OPTIMIZERS if (opt, "he_normal") not in pairs]
    return tuple(sorted(pairs, key=lambda p: (CLASSIC_OPTIMIZERS.index(p[0]), inits.index(p[1]))))


# The best learning rate under he_normal in the committed sweep (results/reference/sweep.json,
# made by `python -m bench --suite sweep --out results/reference/sweep.json`). Momentum and Adam,
# which carry all twelve inits, also get the rate a decade below: a rate tuned on he_normal is
# too large for the inits that start with exploding activations, and the best of the two is
# chosen per (optimizer, init) on validation. tests/bench/test_suites.py holds them to the sweep.
SWEPT_BEST_LEARNING_RATE: dict[str, float] = {
    "gd": 1.0, "sgd": 1.0, "momentum": 0.3, "nesterov": 0.3, "adagrad": 0.3, "adadelta": 3.0,
    "rmsprop": 0.01, "adam": 0.003,
}
DEFAULT_LEARNING_RATES: dict[str, tuple[float, ...]] = {
    opt: (round(best / 10, 12), best) if opt in ("momentum", "adam") else (best,)
    for opt, best in SWEPT_BEST_LEARNING_RATE.items()}

SWEEP_LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)


def suites() -> dict[str, Suite]:
    inits = CLASSIC_INITS
    return {
        "default": Suite(
            "default", "digits-mlp: 12 inits under momentum and Adam, 8 optimizers under "
            "he_normal, 8 seeds, each optimizer at its swept learning rate",
            "digits-mlp", pairs=_default_pairs(inits), seeds=8,
            learning_rates=DEFAULT_LEARNING_RATES),
        "full": Suite(
            "full", "digits-mlp: every optimizer x every init, each optimizer's learning-rate grid",
            "digits-mlp", seeds=8),
        "sweep": Suite(
            "sweep", "digits-mlp: the 8 classic optimizers under he_normal over 11 learning "
            "rates (1e-4..10), 4 seeds: picks the default suite's learning rates",
            "digits-mlp", optimizers=CLASSIC_OPTIMIZERS, inits=("he_normal",), seeds=4,
            learning_rates={opt: SWEEP_LEARNING_RATES for opt in CLASSIC_OPTIMIZERS}),
        "deep": Suite(
            "deep", "digits-deep (20 hidden layers): every init under momentum and Adam",
            "digits-deep", optimizers=("momentum", "adam"), inits=CLASSIC_INITS, seeds=8,
            # not swept: the MLP's swept momentum rates (0.1-1) are too hot for 20 plain layers
            learning_rates={"momentum": (0.003, 0.01, 0.03), "adam": (1e-3, 3e-3, 1e-2)}),
        "smoke": Suite(
            "smoke", "a few seconds: 2 optimizers x 2 inits x 2 seeds, 50 steps",
            "digits-mlp", optimizers=("sgd", "adam"), inits=("he_normal", "lsuv"), seeds=2,
            steps=50, eval_every=10, learning_rates={"sgd": (0.1,), "adam": (3e-3,)}),
    }


@dataclass(frozen=True)
class Config:
    """A fully resolved, validated run: everything a results file's `meta.config` records."""

    suite: str
    task: str
    pairs: tuple[tuple[str, str], ...]
    seeds: tuple[int, ...]
    steps: int
    batch_size: int
    eval_every: int
    target: float
    learning_rates: dict[str, tuple[float, ...]] = field(default_factory=dict)
    max_runs_per_chunk: int | None = None

    @property
    def optimizers(self) -> list[str]:
        return list(dict.fromkeys(opt for opt, _ in self.pairs))

    @property
    def inits(self) -> list[str]:
        return list(dict.fromkeys(init for _, init in self.pairs))

    def inits_for(self, optimizer: str) -> list[str]:
        return [init for opt, init in self.pairs if opt == optimizer]

    def as_json(self) -> dict[str, Any]:
        config = asdict(self)
        config["pairs"] = [list(pair) for pair in self.pairs]
        config["seeds"] = len(self.seeds)
        config["seed_list"] = list(self.seeds)
        config["optimizers"] = self.optimizers
        config["inits"] = self.inits
        config["learning_rates"] = {k: list(v) for k, v in self.learning_rates.items()}
        return config


def check_name(kind: str, name: str, valid: Sequence[str]) -> str:
    if name in valid:
        return name
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else f"; valid: {', '.join(valid)}"
    raise UsageError(f"unknown {kind} '{name}'{hint}")


def check_positive(flag: str, value: int | None) -> None:
    """A count given on the command line must be a positive integer (None: not given)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                              or value <= 0):
        raise UsageError(f"{flag} must be a positive integer, got {value}")


def parse_names(kind: str, text: str, valid: Sequence[str]) -> tuple[str, ...]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UsageError(f"--{kind}s needs at least one name; valid: {', '.join(valid)}")
    return tuple(dict.fromkeys(check_name(kind, name, valid) for name in names))


def parse_learning_rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--lrs must be comma-separated numbers like 1e-3,3e-3, got '{text}'") from None
    bad = [rate for rate in rates if not (rate > 0 and rate < float("inf"))]
    if bad:
        raise UsageError(f"--lrs must all be positive and finite, got {bad[0]}")
    return tuple(dict.fromkeys(rates))


def resolve(suite: str = "default", *, task: str | None = None,
            optimizers: str | Sequence[str] | None = None, inits: str | Sequence[str] | None = None,
            seeds: int | Sequence[int] | None = None, steps: int | None = None,
            lrs: str | Sequence[float] | None = None, batch_size: int | None = None,
            eval_every: int | None = None, target: float | None = None,
            max_runs_per_chunk: int | None = None) -> Config:
    """A suite, overridden by whatever the caller gives; every value checked."""
    from bench.tasks import TASKS
    from inits import STRATEGIES
    from optimizers import OPTIMIZERS

    all_suites = suites()
    base = all_suites[check_name("suite", suite, list(all_suites))]
    task_name = check_name("task", task or base.task, list(TASKS))
    task_spec = TASKS[task_name]
    for flag, value in (("--seeds", seeds if isinstance(seeds, numbers.Integral) else None), ("--steps", steps),
                        ("--batch-size", batch_size), ("--eval-every", eval_every),
                        ("--max-runs-per-chunk", max_runs_per_chunk)):
        check_positive(flag, value)
    if target is not None and not (0 < target <= 1):
        raise UsageError(f"--target must be in (0, 1], got {target}")

    def as_names(kind, value, valid):
        if isinstance(value, str):
            return parse_names(kind, value, valid)
        return tuple(dict.fromkeys(check_name(kind, name, valid) for name in value))

    suite_pairs = base.pairs or tuple(
        (o, i) for o in (base.optimizers or tuple(OPTIMIZERS)) for i in (base.inits or tuple(STRATEGIES)))
    if optimizers is None and inits is None:
        pairs = suite_pairs
    else:
        # An override makes the grid rectangular: given names x the suite's names of the other kind.
        chosen_opts = (as_names("optimizer", optimizers, list(OPTIMIZERS)) if optimizers is not None
                       else tuple(dict.fromkeys(o for o, _ in suite_pairs)))
        chosen_inits = (as_names("init", inits, list(STRATEGIES)) if inits is not None
                        else tuple(dict.fromkeys(i for _, i in suite_pairs)))
        pairs = tuple((o, i) for o in chosen_opts for i in chosen_inits)

    if isinstance(lrs, str):
        override = parse_learning_rates(lrs)
    elif lrs is not None:
        override = parse_learning_rates(",".join(str(float(x)) for x in lrs))
    else:
        override = None
    optimizer_names = list(dict.fromkeys(o for o, _ in pairs))
    learning_rates = {
        opt: override or (base.learning_rates or {}).get(opt) or tuple(OPTIMIZERS[opt].learning_rates)
        for opt in optimizer_names}

    if seeds is not None and not isinstance(seeds, numbers.Integral):
        seeds = tuple(dict.fromkeys(int(s) for s in seeds))
        if not seeds or min(seeds) < 0 or max(seeds) > MAX_SEED:
            raise UsageError(f"seeds must be integers in [0, {MAX_SEED}], got {_abridged(seeds)}")
    dataset = task_spec.load()
    n_train = len(dataset.x_train)
    chosen_batch = batch_size or task_spec.batch_size
    if chosen_batch > n_train:
        raise UsageError(f"--batch-size {chosen_batch} is larger than the {n_train}-example "
                         f"training set of {task_name}")
    chosen_steps = steps or base.steps or task_spec.steps
    if chosen_steps > MAX_STEPS:
        raise UsageError(f"--steps must be at most {MAX_STEPS} (the runner counts steps in "
                         f"int32), got {chosen_steps}")
    chosen_eval = eval_every or min(base.eval_every, chosen_steps)
    if chosen_steps % chosen_eval:
        raise UsageError(f"--steps ({chosen_steps}) must be a multiple of --eval-every ({chosen_eval})")
    n_seeds = base.seeds if seeds is None else seeds if isinstance(seeds, numbers.Integral) else len(seeds)
    check_fits_in_memory(task_spec, dataset.x_train[:1], pairs, learning_rates, n_seeds,
                         chosen_steps // chosen_eval, seeds_flag=isinstance(seeds, numbers.Integral))
    seed_list = tuple(range(n_seeds)) if seeds is None or isinstance(seeds, numbers.Integral) else seeds
    return Config(
        suite=base.name, task=task_name, pairs=tuple(pairs), seeds=seed_list, steps=chosen_steps,
        batch_size=chosen_batch, eval_every=chosen_eval,
        target=target if target is not None else task_spec.target,
        learning_rates=learning_rates, max_runs_per_chunk=max_runs_per_chunk)


def check_output_path(path: str, flag: str = "--out") -> str:
    """`run --out`: a new `.json` path, or an initopt results file to resume and replace.

    Its folder must exist or be creatable, and be writable; an existing file must be a regular
    file holding an initopt results document (anything else is the user's and is never
    overwritten); the derived files beside it (`bench.results.files`) must not be folders or
    devices. The folder is created only once every check has passed.
    """
    from bench.results import files

    check_file_path(path, flag, (files.RESULTS_SUFFIX,), example="run.json")
    files.read_existing(path, flag)
    for derived in (files.summary_path(path), files.report_path(path)):
        if os.path.lexists(derived) and not os.path.isfile(derived):
            raise UsageError(f"{flag} '{path}': '{derived}' (written beside it) exists and is not "
                             "a regular file")
    make_folder(path, flag)
    return path


def check_file_path(path: str, flag: str, suffixes: Sequence[str], example: str) -> str:
    """A path a command will write: a file name (not a folder) with one of `suffixes`, whose
    folder exists or can be made, and can be written. Writes nothing."""
    if not path:
        raise UsageError(f"{flag} needs a file path like {example}")
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        state = "is a directory" if os.path.isdir(path) else "names a folder"
        raise UsageError(f"{flag} '{path}' {state}; give a file path like "
                         f"{os.path.join(path.rstrip('/' + os.sep) or '.', example)}")
    name = os.path.basename(path)
    if not any(name.endswith(suffix) and len(name) > len(suffix) for suffix in suffixes):
        raise UsageError(f"{flag} '{path}' must end in {' or '.join(suffixes)}, like {example}")
    folder = os.path.dirname(os.path.abspath(path))
    existing = folder
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"{flag} '{path}': cannot create its folder ('{existing}' is a file)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} '{path}' cannot be written: no permission to write in '{existing}'")
    if os.path.isfile(path) and not os.access(path, os.W_OK):
        raise UsageError(f"{flag} '{path}' cannot be written (permission denied)")
    return path


def make_folder(path: str, flag: str) -> None:
    """Create the folder of `path` (after its checks have passed)."""
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError as error:
        raise UsageError(f"{flag} '{path}': cannot create its folder ({error.strerror})") from None


# ---------------------------------------------------------------------------------------------
# Counts that cannot fit

MAX_SEED = 2**32 - 1  # seeds become uint32 keys
MAX_STEPS = 2**31 - 1  # the runner's step counter is int32
# Host memory a run keeps until its results are written: the params of every (init, seed) (the
# init program's output and its host copy, float32), and per run its record: ~4 KiB of fields,
# plus ~512 B per recorded point (four curve values as Python floats, as arrays and as JSON text).
RECORD_BYTES = 4096
POINT_BYTES = 512
# The rest of the available memory is for the runner's chunks (up to a third of RAM) and Python.
HOST_MEMORY_SHARE = 0.5


def check_fits_in_memory(task, example_input, pairs: Sequence[tuple[str, str]],
                         learning_rates: dict[str, Sequence[float]], n_seeds: int, points: int,
                         seeds_flag: bool = True) -> None:
    """Refuse, before anything is built, a run whose kept results cannot fit in host memory;
    the message gives the largest number of seeds that fits."""
    from bench._host import available_memory_bytes

    n_inits = len(dict.fromkeys(init for _, init in pairs))
    runs_per_seed = sum(len(learning_rates[optimizer]) for optimizer, _ in pairs)
    per_run = RECORD_BYTES + POINT_BYTES * points
    per_seed = 8 * params_per_run(task, example_input) * n_inits + runs_per_seed * per_run
    available = available_memory_bytes()
    budget = int(available * HOST_MEMORY_SHARE)
    fits = budget // per_seed
    if n_seeds <= fits:
        return
    if fits == 0:
        raise UsageError(
            f"{points:,} recorded points per run (--steps / --eval-every) need about "
            f"{_size(per_seed)} of host memory for even one seed ({runs_per_seed:,} runs), more "
            f"than the {_size(budget)} this run may use (half of the {_size(available)} available); "
            "raise --eval-every or lower --steps")
    what = f"--seeds {n_seeds}" if seeds_flag else f"{n_seeds:,} seeds"
    raise UsageError(
        f"{what}: {runs_per_seed * n_seeds:,} runs would keep about {_size(per_seed * n_seeds)} "
        f"in host memory (parameters, records and curves), more than the {_size(budget)} this "
        f"run may use (half of the {_size(available)} available); at most {fits:,} seeds fit "
        "with these optimizers, inits, learning rates and steps")


def params_per_run(task, example_input) -> int:
    """How many numbers one run's model holds, from shapes alone (nothing is allocated)."""
    return _params_per_run(task.name, task.make_model, tuple(example_input.shape),
                           str(example_input.dtype))


@functools.lru_cache(maxsize=None)
def _params_per_run(name: str, make_model, shape: tuple, dtype: str) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np

    model = make_model(jax.nn.initializers.zeros, jax.nn.initializers.zeros)
    shapes = jax.eval_shape(lambda x: model.init(jax.random.key(0), x),
                            jax.ShapeDtypeStruct(shape, jnp.dtype(dtype)))
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(shapes))


def _size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n_bytes < 1000 or unit == "PB":
            return f"{n_bytes:.3g} {unit}"
        n_bytes /= 1000


def _abridged(values: Sequence[int]) -> str:
    values = list(values)
    return str(values) if len(values) <= 8 else f"[{', '.join(map(str, values[:8]))}, ...]"

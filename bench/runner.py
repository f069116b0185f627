"""The runner: every (init x seed x configuration) of one optimizer as one compiled program.

Read it like PureJaxRL's `make_train`: pure per-run training functions (`make_train`: a call's
start, one step, its evaluation), vmapped over a flat runs axis (each step inside the call's
loop: `over_runs_axis`), the runs axis sharded over every device, the whole thing jit-compiled
once and called by the host until every step is done.

    init program (one per task):   (strategy, seed) -> variables, data-dependent inits included
    train program (one per (task, optimizer)):
        runs x (n_steps steps of the training loop, then, at a period's end, evaluate)

Pairing: a run's randomness comes from its seed alone. `seed -> (init_key, data_key)`; the init
key makes the variables (with the strategy), the data key the batch order (a fresh permutation
per epoch) and, where a task augments, the augmentation. Optimizer and hyperparameters never
touch a key, so every configuration starts from the same variables and sees the same batches
for a given (seed, init). The permutation of an epoch is a function of (seed, epoch) only, so it
is computed once per distinct seed on each device and shared by every run with that seed.

Host calls. The step count, the number of steps of a call and whether the call evaluates are
traced arguments, so one compile serves every call. A call never crosses an evaluation
period's end; it may cross epochs, whose permutations wait in a ring of the next few epochs',
filled once each before the first call that reaches them. Each period's steps are split into
equal calls of about `call_seconds`, from the measured seconds per step: the host regains
control (progress, Ctrl-C) every second or so whatever `eval_every` is.

Saves. Given a folder of its own (`train_runs(checkpoint=...)`), a program saves between calls
every `checkpoint_seconds` of training and on Ctrl-C (orbax-checkpoint: the TrainState shard by
shard, the curves so far, where it stood); run again with the folder it resumes there, and its
numbers are those of an uninterrupted run, bit for bit, since no number depends on how the
steps were split into calls.

What a run reports (per evaluation period): the mean and the maximum of its mini-batch training
losses and whether all were finite; its validation accuracy at the period's end (at the
optimizer's evaluation parameters: schedule-free methods evaluate at their averaged
parameters); after the last step, whether every parameter is finite and its test accuracy;
and the loss of its first batch, before any update.
"""
from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import json
import math
import os
import shutil
import signal
import threading
import time
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, PartitionSpec

from bench.counting import largest_divisor_at_most
from bench.data import Dataset
from bench.dots import unbatch_small_dots
from bench.overlap import Deferred, compiling
from bench.phases import TRAINING, mark
from bench.sharding import (RUNS_AXIS, global_array, replicated, runs_mesh, runs_sharding,
                            to_host)
from bench.shuffle import permutations
from bench.tasks import Task, apply_model, correct, cross_entropy, shape_model
from inits.strategy import Strategy
from optimizers.spec import OptimizerSpec

# fold_in index of a run's augmentation stream: epoch numbers (the permutations' fold_in
# indices) never reach it, so the two streams never share a key.
AUGMENT_STREAM = 2**32 - 1
CALL_SECONDS = 1.0  # target wall time of one program call
EVAL_BATCH = 1024  # examples per evaluation batch: bounds evaluation memory on large test sets
DATA_NAMES = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
# Learning-rate schedules a run may carry as its "schedule" value (an index into this tuple),
# with "warmup_fraction" (of the run's steps) and "final_fraction" (of the peak): per-run
# traced values like every other hyperparameter (optimizers.schedules).
SCHEDULES = ("constant", "warmup_cosine", "warmup_linear")
SCHEDULE_VALUES = ("schedule", "warmup_fraction", "final_fraction")
# A run's training budget in steps, where the runs of a program train to several budgets
# (`run --budgets`): its schedule's horizon, past which its state stays as it was (a traced
# value, so one compiled program serves every budget).
BUDGET = "budget"
RUNNER_VALUES = (*SCHEDULE_VALUES, BUDGET)  # values the runner consumes, never the factory's


class Run(NamedTuple):
    """One training run: a strategy, a seed, and one configuration of the optimizer.

    `hyperparams` is the configuration as (name, value) pairs sorted by name: every value the
    program traces for this run, the learning rate ("learning_rate") one of them, a schedule's
    values ("schedule", "warmup_fraction", "final_fraction") others. It is the one mapping a
    hyperparameter travels in from the suite's candidates to the optimizer's factory.
    """

    init: str
    seed: int
    trial: int  # index of the configuration among the optimizer's candidates
    hyperparams: tuple[tuple[str, float], ...]

    @classmethod
    def of(cls, init: str, seed: int, configuration: Mapping[str, float], trial: int = 0) -> "Run":
        """The run of `init` and `seed` at `configuration` (hyperparameter -> value), trial `trial`."""
        return cls(init, int(seed), int(trial),
                   tuple(sorted((name, float(value)) for name, value in configuration.items())))

    @property
    def lr(self) -> float:
        return dict(self.hyperparams)["learning_rate"]

    def traced_values(self) -> dict[str, float]:
        """The configuration as a mapping, the learning rate first (as results files list it)."""
        return {"learning_rate": self.lr, **dict(self.hyperparams)}

    def described(self) -> dict[str, float | str]:
        """The run's hyperparameters as a results file records them (a schedule by its name)."""
        values: dict[str, float | str] = self.traced_values()
        if "schedule" in values:
            values["schedule"] = SCHEDULES[int(values["schedule"])]
        if BUDGET in values:
            values[BUDGET] = int(values[BUDGET])
        return values


class RunOutput(NamedTuple):
    """Host-side arrays for the runs of one program, each with a leading runs axis."""

    steps: np.ndarray  # [periods]: the step count at the end of each evaluation period
    initial_train_loss: np.ndarray  # [runs]: loss of the first batch, before any update
    train_loss: np.ndarray  # [runs, periods]: mean mini-batch loss over the period
    train_loss_max: np.ndarray  # [runs, periods]: largest mini-batch loss of the period
    finite: np.ndarray  # [runs, periods]: every loss of the period was finite
    params_finite: np.ndarray  # [runs]: every parameter finite after the last update
    val_accuracy: np.ndarray  # [runs, periods]
    test_accuracy: np.ndarray  # [runs]: after the last step; NaN where not evaluated


class ProgramTiming(NamedTuple):
    """What one program's training took in this process. `resumed_from`: None when it started
    fresh, else the steps it had already trained when it resumed from a save (`train_runs`'s
    `checkpoint`), each chunk of runs (and each configuration of `train_each_configuration`)
    counting `steps`: for a program of one chunk, the step it resumed from."""

    compile_seconds: float
    run_seconds: float
    calls: int = 0
    runs_per_call: int = 0
    resumed_from: int | None = None


def grid(inits: Sequence[str], seeds: Sequence[int], lrs: Sequence[float]) -> list[Run]:
    """The flat runs axis of a learning-rate grid: init-major, then seed, then learning rate."""
    return [Run.of(init, seed, {"learning_rate": lr}, trial) for init in inits for seed in seeds
            for trial, lr in enumerate(lrs)]


def seed_keys(seed: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(init_key, data_key) of a seed: the only randomness a run has."""
    init_key, data_key = jax.random.split(jax.random.key(seed))
    return init_key, data_key


def epoch_key(data_key: jax.Array, epoch: jax.Array) -> jax.Array:
    """The key of one epoch's permutation of the training set."""
    return jax.random.fold_in(data_key, epoch)


def epoch_order(data_key: jax.Array, epoch: jax.Array, n_train: int) -> jax.Array:
    """The training-set permutation of one epoch (a fresh shuffle per epoch, from the seed);
    the ring of orders draws the same with `bench.shuffle.permutations`."""
    return jax.random.permutation(epoch_key(data_key, epoch), n_train)


def augment_key(data_key: jax.Array, step: jax.Array) -> jax.Array:
    """The key that augments the batch of `step` (tasks that augment; see AUGMENT_STREAM)."""
    return jax.random.fold_in(jax.random.fold_in(data_key, AUGMENT_STREAM), step)


def device_data(dataset: Dataset, mesh: Mesh) -> dict[str, jax.Array]:
    """The six arrays of a data set, replicated on every device (uint8 images stay uint8)."""
    return {name: global_array(getattr(dataset, name), replicated(mesh)) for name in DATA_NAMES}


def first_batch_index(data_key: jax.Array, n_train: int, batch_size: int) -> jax.Array:
    """The examples of a run's first training batch (the head of epoch 0's order): what
    data-dependent inits see, and what `diagnose` measures at step 0."""
    return epoch_order(data_key, 0, n_train)[:batch_size]


# ---------------------------------------------------------------------------------------------
# Initialization: once per task, for every (init strategy, seed) any program needs.


class Initialized:
    """Every (strategy, seed)'s initial variables, as host copies, and what a program needs of
    them before they exist.

    `variables` is {"params": ..., and any other collection such as "batch_stats"}, each leaf
    shaped [len(inits), len(seeds), ...]. `data_keys` holds each seed's data key (raw key
    data, [len(seeds), ...]: `seed_keys`), made by the init program beside the variables so
    that no program of its own compiles for them. `multipliers[init][rule]` is a params-shaped
    tree of per-parameter learning-rate multipliers for the strategies that set them (muP),
    rule "adam" or "sgd" (`optimizer_rule`).

    `initialize` traces the init program at once but leaves its compile and run to a
    `bench.overlap.Deferred`: beside the first train program's compile, or at the first look at
    `variables` or `data_keys`, which wait for them. `shapes` (the variables as
    ShapeDtypeStructs) and `key_row` (one seed's key data, likewise) are known from the trace:
    a train program compiles from them alone.
    """

    def __init__(self, values: Deferred | tuple[Any, np.ndarray], inits: tuple[str, ...],
                 seeds: tuple[int, ...], shapes: Any, key_row: jax.ShapeDtypeStruct,
                 multipliers: dict[str, dict[str, Any]] | None = None):
        self._values = values
        self.inits, self.seeds, self.shapes, self.key_row = inits, seeds, shapes, key_row
        self.multipliers = {} if multipliers is None else multipliers

    def _resolved(self) -> tuple[Any, np.ndarray]:
        if isinstance(self._values, Deferred):
            self._values = self._values.result()
        return self._values

    @property
    def variables(self) -> Any:
        return self._resolved()[0]

    @property
    def data_keys(self) -> np.ndarray:
        return self._resolved()[1]

    def data_key_data(self, seeds: Sequence[int],
                      shape_only: bool = False) -> np.ndarray | jax.ShapeDtypeStruct:
        """The raw data keys of `seeds` (each one of `self.seeds`), one row each (with
        `shape_only`, their shape and dtype, without waiting for the init program)."""
        rows = self._seed_rows(seeds)
        if shape_only:
            return jax.ShapeDtypeStruct((len(rows),) + self.key_row.shape, self.key_row.dtype)
        return self.data_keys[rows]

    def index(self, runs: Sequence[Run]) -> tuple[np.ndarray, np.ndarray]:
        init_pos = {name: i for i, name in enumerate(self.inits)}
        return (np.asarray([init_pos[run.init] for run in runs], np.int32),
                self._seed_rows([run.seed for run in runs]))

    def _seed_rows(self, seeds: Sequence[int]) -> np.ndarray:
        seed_pos = {seed: i for i, seed in enumerate(self.seeds)}
        return np.asarray([seed_pos[int(seed)] for seed in seeds], np.int32)


def make_init_program(task: Task, strategies: dict[str, Strategy], batch_size: int):
    """jit(seeds, x_train) -> (variables stacked [strategy, seed, ...] in `strategies` order,
    each seed's data key as raw key data [seed, ...]).

    Data-dependent strategies (LSUV) see the first training batch of the seed's data order.
    """

    def init_one(strategy: Strategy, seed, x_train):
        init_key, data_key = seed_keys(seed)
        batch = x_train[first_batch_index(data_key, x_train.shape[0], batch_size)]
        model = task.make_model(strategy.kernel_init, strategy.bias_init)
        variables = model.init(init_key, batch)
        if strategy.post_init is not None:
            variables = strategy.post_init(model, variables, batch)
        return dict(variables)

    def init_all(seeds, x_train):
        per_strategy = [jax.vmap(lambda s, st=st: init_one(st, s, x_train))(seeds)
                        for st in strategies.values()]
        data_keys = jax.vmap(lambda seed: jax.random.key_data(seed_keys(seed)[1]))(seeds)
        return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *per_strategy), data_keys

    return jax.jit(init_all)


def initialize(task: Task, dataset: Dataset, strategies: dict[str, Strategy],
               seeds: Sequence[int], batch_size: int, mesh: Mesh,
               max_seeds_per_call: int | None = None) -> Initialized:
    """Every (strategy, seed)'s initial variables, computed in chunks of seeds that fit in memory
    (one compile: every chunk has the same size, the last one padded). The init program is
    traced and lowered here; its compile and run wait for the first train program's compile
    and run beside it, or for the first look at the values (`Initialized`).

    The init program runs on one device of the mesh (this process's first): its output goes to
    the host, and a program replicated over the mesh computed the same on every device and
    compiled for all of them, SPMD partitioning included (digits-mlp, 12 seeds: 0.33-0.36 s of
    compile against 0.45-0.49 s; the same bits for every built-in init on 9 tasks)."""
    mark("set-up and data")
    seeds = tuple(int(seed) for seed in seeds)
    program = make_init_program(task, strategies, batch_size)
    device = next(d for d in mesh.devices.flat if d.process_index == jax.process_index())
    on_device = jax.sharding.SingleDeviceSharding(device)
    x_train = jax.device_put(dataset.x_train, on_device)
    seeds_of = lambda n: jax.ShapeDtypeStruct((n,), jnp.uint32, sharding=on_device)
    traced = program.trace(seeds_of(len(seeds)), x_train)  # every seed in one call, if they fit
    variables_info, keys_info = traced.out_info
    variables_bytes = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree_util.tree_leaves(variables_info))
    per_seed = 4 * -(-variables_bytes // len(seeds)) + 4 * _activation_bytes(task, dataset, batch_size) * len(strategies)
    size = max(1, min(len(seeds), available_bytes(device) // max(per_seed, 1)))
    if max_seeds_per_call is not None:
        size = min(size, max_seeds_per_call)
    mark("init program: trace and size")
    # traced and lowered here, on the caller's thread (a strategy's own code runs in the trace);
    # compiled and run beside the first train program's compile (bench.overlap)
    lowered = traced.lower() if size == len(seeds) else program.lower(seeds_of(size), x_train)

    def compute() -> tuple[Any, np.ndarray]:
        compiled, chunks = compile_init_program(lowered, device.platform, strategies), []
        for start in range(0, len(seeds), size):  # every chunk has the same size: one compile
            chunk = np.asarray(seeds[start:start + size], np.uint32)
            padded = jax.device_put(np.concatenate([chunk, np.full(size - len(chunk), chunk[-1], np.uint32)]),
                                    on_device)
            out, keys = to_host(compiled(padded, x_train))
            chunks.append((jax.tree_util.tree_map(lambda leaf, n=len(chunk): np.asarray(leaf)[:, :n], out),
                           np.asarray(keys)[:len(chunk)]))
        return (jax.tree_util.tree_map(lambda *parts: np.concatenate(parts, axis=1), *[c[0] for c in chunks]),
                np.concatenate([c[1] for c in chunks]))

    # several processes: at once, since to_host gathers across them (a collective, which must
    # not interleave with another thread's)
    values = Deferred("init program", compute) if jax.process_count() == 1 else compute()
    shapes = jax.tree_util.tree_map(  # every seed's, where the init program ran in chunks
        lambda leaf: jax.ShapeDtypeStruct((leaf.shape[0], len(seeds)) + leaf.shape[2:], leaf.dtype),
        variables_info)
    multipliers = {}
    model_x = jax.ShapeDtypeStruct((batch_size,) + dataset.x_train.shape[1:], dataset.x_train.dtype)
    for name, strategy in strategies.items():
        if strategy.lr_multipliers is not None:
            model = task.make_model(strategy.kernel_init, strategy.bias_init)
            model_shapes = jax.eval_shape(model.init, jax.random.key(0), model_x)
            multipliers[name] = {rule: strategy.lr_multipliers(model, model_shapes, model_x, rule)
                                 for rule in ("adam", "sgd")}
    mark("init program: lower")
    return Initialized(values, tuple(strategies), seeds, shapes,
                       jax.ShapeDtypeStruct(keys_info.shape[1:], keys_info.dtype), multipliers)


# Programs that run once per chunk or once per epoch (the init program, the epoch orders)
# compile with XLA:CPU's LLVM at -O1, its XNNPACK path off and its older fusion emitters
# (`xla_cpu_use_fusion_emitters` off): their compile, not their run, is what they cost.
# digits-mlp's he_normal init program for 256 seeds compiled in 0.44 s against 2.0 s at XLA's
# defaults, the orders of 8 epochs (JAX's permutation, as the runner drew them then) in 0.35 s
# against 0.94 s, the fill of bench.shuffle in 0.47 s against 0.67 s (its binary search; its
# packed sort since: 0.28 s against 0.32 s) (docs/performance.md); the older emitters take
# another 0.1 s off each of the two, the init program's and the fill's (0.51-0.56 s -> 0.39 s
# for 12 seeds, 0.36-0.41 s -> 0.26-0.28 s, 56 fills as fast). Integer
# work (keys, permutations) and the data-independent inits come out bit for bit the same at
# either level (every task on its data or data shaped like it, every init, seeds 0-3 and
# 1000-1007); an init program that runs the model (a strategy with a post_init: LSUV,
# data-dependent scaling) keeps XLA's optimization level and emitters (ROUNDING_OPTIONS), since
# -O1 rounds ResNet-20's forward pass differently.
# They compile their LLVM module in one piece (`xla_cpu_parallel_codegen_split_count` 1): split
# into parts compiled on parallel threads, digits-mlp's init program took 0.42 CPU-s in 0.27 s
# of wall, in one piece 0.33 in 0.275, the fill 0.24 in 0.16 against 0.19 in 0.15 (medians of
# 5, in one process): the same wall time for less work, and the fill compiles beside the train
# program's trace, whose core it shares.
OPTIMIZATION_LEVEL = "xla_backend_optimization_level"
QUICK_COMPILER_OPTIONS = {"cpu": {"xla_cpu_use_xnnpack": False, OPTIMIZATION_LEVEL: 1,
                                  "xla_cpu_use_fusion_emitters": False,
                                  "xla_cpu_parallel_codegen_split_count": 1}}
# dropped where a program runs the model (XNNPACK off stays: bit for bit XLA's defaults with
# LSUV on digits-mlp, digits-cnn and mnist1d-gru, tests/bench/test_start_up.py)
ROUNDING_OPTIONS = (OPTIMIZATION_LEVEL, "xla_cpu_use_fusion_emitters")


def quick_compiler_options(platform: str) -> dict[str, Any] | None:
    """QUICK_COMPILER_OPTIONS of `platform` that this jaxlib knows (each tried alone where not
    all are known), else None (XLA's defaults); a fresh dict, the caller's to change."""
    options = QUICK_COMPILER_OPTIONS.get(platform)
    if not options:
        return None
    options = tuple(sorted(options.items()))
    if _known_options(platform, options):  # one probe where this jaxlib knows them all
        return dict(options)
    known = {name: value for name, value in options if _known_options(platform, ((name, value),))}
    return known or None


@functools.cache
def _known_options(platform: str, options: tuple[tuple[str, Any], ...]) -> bool:
    """Whether this jaxlib compiles with `options` for `platform`: tried once, on a program of
    one addition placed there."""
    one = jax.device_put(np.float32(1), jax.devices(platform)[0])
    try:
        jax.jit(lambda x: x + 1).lower(one).compile(compiler_options=dict(options))
    except jax.errors.JaxRuntimeError as error:
        if "No such compile option" not in str(error):
            raise
        return False
    return True


def compile_quick(lowered, platform: str, drop: Sequence[str] = ()):
    """`lowered` compiled with QUICK_COMPILER_OPTIONS of `platform` but those named in `drop`;
    where this jaxlib does not know them all, with those it knows (`quick_compiler_options`).
    Compiled at once rather than after a probe of the options (0.04-0.05 s, a program of its
    own, in every run)."""
    options = {name: value for name, value in QUICK_COMPILER_OPTIONS.get(platform, {}).items()
               if name not in drop}
    if options:
        try:
            return lowered.compile(compiler_options=options)
        except jax.errors.JaxRuntimeError as error:
            if "No such compile option" not in str(error):
                raise
        options = {name: value for name, value in (quick_compiler_options(platform) or {}).items()
                   if name not in drop}
    return lowered.compile(compiler_options=options) if options else lowered.compile()


def compile_init_program(lowered, platform: str, strategies: Mapping[str, Strategy] | None = None):
    """The lowered init program compiled quick (`compile_quick`), less ROUNDING_OPTIONS where
    one of `strategies` runs the model (has a post_init) or where the strategies are not given."""
    runs_model = strategies is None or any(strategy.post_init is not None for strategy in strategies.values())
    return compile_quick(lowered, platform, ROUNDING_OPTIONS if runs_model else ())


def init_params(task: Task, dataset: Dataset, strategies: dict[str, Strategy],
                seeds: Sequence[int], batch_size: int, mesh: Mesh):
    """Params for every (strategy, seed), leaves shaped [n_strategies, n_seeds, ...] (host arrays)."""
    return initialize(task, dataset, strategies, seeds, batch_size, mesh).variables["params"]


# ---------------------------------------------------------------------------------------------
# Training: one program per (task, optimizer).


class TrainState(NamedTuple):
    """One run's state between calls (leading runs axis in the program)."""

    params: Any
    opt_state: Any
    model_state: Any  # collections other than params (BatchNorm's batch_stats), else {}
    initial_loss: jax.Array  # loss of the first batch, before any update
    loss_sum: jax.Array  # this period's sum of mini-batch losses
    loss_max: jax.Array  # this period's largest mini-batch loss (NaN once any loss is NaN)
    all_finite: jax.Array  # every loss of this period finite


class RunInputs(NamedTuple):
    """Per-run constants of the program (leading runs axis)."""

    hyperparams: dict[str, jax.Array]  # traced values: learning_rate and any others
    seed_slot: jax.Array  # row of this run's seed in its device's epoch permutations
    data_key: jax.Array  # raw key data of the run's data key (augmentation)
    # per-parameter learning-rate multipliers (muP), params-shaped; None when no run has any
    multipliers: Any = None


def optimizer_rule(spec: OptimizerSpec) -> str:
    """Which of a strategy's multiplier tables an optimizer takes (muP, Yang et al. 2021,
    Table 3): "sgd" for the SGD family (gd, sgd, momentum, nesterov: `alias.sgd`), "adam" for
    every per-coordinate adaptive method."""
    return "sgd" if getattr(spec.factory, "__name__", "") == "sgd" else "adam"


class Window(NamedTuple):
    """What one call does, the same for every run; sent as one int32 vector (one transfer)."""

    first_step: jax.Array  # step count at the start of the call
    n_steps: jax.Array  # steps this call trains (a traced trip count: one compile for all)
    new_period: jax.Array  # the call starts an evaluation period: reset its accumulators
    evaluate: jax.Array  # the call ends a period: evaluate on the validation set
    test: jax.Array  # the call ends training: evaluate on the test set too

    @staticmethod
    def of(vector: jax.Array) -> "Window":
        first, n, new, evaluate, test = (vector[i] for i in range(5))
        return Window(first, n, new > 0, evaluate > 0, test > 0)


class CallMetrics(NamedTuple):
    loss_sum: jax.Array
    loss_max: jax.Array
    all_finite: jax.Array
    initial_loss: jax.Array
    val_accuracy: jax.Array  # NaN when the call did not evaluate
    test_accuracy: jax.Array  # NaN when the call did not test
    params_finite: jax.Array


class Watch(NamedTuple):
    """What each step and call record beyond the loss, for the failure rules (README,
    "Methodology"). Each is switched off only to measure what it costs (`perf --levers`): a
    program without them cannot tell a failed run from a good one."""

    loss_max: bool = True  # each period's largest mini-batch loss: the explosion rule
    finite: bool = True  # every loss of the period finite: the non-finite rule
    params: bool = True  # the parameters (and evaluated ones) finite after each call


WATCH_ALL = Watch()


def _batched_accuracy(predict, x: jax.Array, y: jax.Array, batch: int, metric=correct) -> jax.Array:
    """Mean per-example `metric` (default: top-1 correct) of `predict` over (x, y) in batches
    of at most `batch` (padded, masked)."""
    n = x.shape[0]
    batch = min(batch, n)
    n_batches = -(-n // batch)
    pad = n_batches * batch - n
    xs = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)).reshape((n_batches, batch) + x.shape[1:])
    ys = jnp.pad(y, [(0, pad)] + [(0, 0)] * (y.ndim - 1)).reshape((n_batches, batch) + y.shape[1:])
    mask = (jnp.arange(n_batches * batch) < n).reshape((n_batches, batch))

    def batch_score(args):
        xb, yb, mb = args
        return jnp.sum(jnp.where(mb, metric(predict(xb), yb), 0))

    return jnp.sum(jax.lax.map(batch_score, (xs, ys, mask))) / n


def _tree_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def frozen_past(active, new, old):
    """`new` where `active`, else `old`, leaf by leaf: a run past its budget keeps its state."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), new, old)


def learning_rate_of(values: dict[str, jax.Array], schedule_steps: int | None):
    """A run's learning rate: its traced `learning_rate`, or, when it carries a schedule, the
    schedule (SCHEDULES) peaking at it over its horizon: the run's own budget (BUDGET) where
    it has one, else the program's `schedule_steps`."""
    peak = values["learning_rate"]
    if "schedule" not in values:
        return peak
    if BUDGET in values:
        schedule_steps = jnp.asarray(values[BUDGET]).astype(jnp.int32)
    if schedule_steps is None:
        raise ValueError("a run with a learning-rate schedule needs the program's schedule_steps")
    from optimizers import schedules

    warmup = jnp.round(values["warmup_fraction"] * schedule_steps).astype(jnp.int32)
    final = values["final_fraction"]
    cosine = schedules.warmup_cosine_decay(peak, warmup, schedule_steps, final)
    linear = schedules.warmup_linear_decay(peak, warmup, schedule_steps, final)
    kind = values["schedule"]
    return lambda count: jnp.where(kind == SCHEDULES.index("warmup_cosine"), cosine(count),
                                   jnp.where(kind == SCHEDULES.index("warmup_linear"),
                                             linear(count), peak))


def factory_arguments(spec: OptimizerSpec, values: Mapping[str, Any],
                      schedule_steps: int | None) -> dict[str, Any]:
    """The keyword arguments of `spec.factory` for one run: the spec's fixed hyperparameters,
    overridden by the run's traced values, the learning rate one of them (a schedule's values
    fold into it: `learning_rate_of`)."""
    traced = {name: value for name, value in values.items() if name not in RUNNER_VALUES}
    return {**spec.hyperparams, **traced, "learning_rate": learning_rate_of(values, schedule_steps)}


def make_optimizer(spec: OptimizerSpec, values: Mapping[str, Any], multipliers=None,
                   schedule_steps: int | None = None) -> optax.GradientTransformation:
    """One run's optimizer: the factory at the run's values, then its per-parameter learning-rate
    multipliers (muP) where its strategy sets them. A factory that takes no schedule as its
    learning rate (`takes_schedule` False) is built at the peak rate, its updates multiplied by
    the schedule over the peak: the same wherever the rate scales the update linearly."""
    arguments = factory_arguments(spec, values, schedule_steps)
    outside = []
    if callable(arguments["learning_rate"]) and not getattr(spec, "takes_schedule", True):
        schedule, peak = arguments["learning_rate"], values["learning_rate"]
        arguments["learning_rate"] = peak
        outside = [optax.scale_by_schedule(lambda count: schedule(count) / peak)]
    transformation = spec.factory(**arguments)
    if outside:
        transformation = optax.chain(transformation, *outside)
    if multipliers is None:
        return transformation
    from optimizers.multipliers import scale_by_tree

    return optax.chain(transformation, scale_by_tree(multipliers))


def make_train(task: Task, spec: OptimizerSpec, batch_size: int, eval_batch: int = EVAL_BATCH,
               schedule_steps: int | None = None, constants: Mapping[str, float] | None = None,
               watch: Watch = WATCH_ALL):
    """Returns `RunFunctions`: pure functions of ONE run (no vmap, no jit, no mesh).

    init_state(variables, inputs) makes the run's optimizer state from its initial variables.
    A call of the program trains `window.n_steps` steps and, when the window says so,
    evaluates: begin(state, window) starts it (a new period resets the period's records),
    step(i, state, inputs, orders, window, data) trains its i-th step, evaluate(state, window,
    data) ends it. `orders` holds the permutations of the training set of
    the last `orders_epochs(...)` epochs, epoch e in row e % that count (`TrainProgram.run` fills
    each epoch's row before a call reaches it), for each distinct seed of the device (the run's
    row is `inputs.seed_slot`; unused full-batch), so that a call may cross epochs. Everything
    that changes between calls is traced, so one compile serves every call.
    `make_train_program` composes vmap, shard_map and jit over them, in one place.
    `constants`: the configuration as Python numbers, for a factory that cannot take traced
    values (every run of the program then shares it, and the traced ones are ignored).
    `watch`: what the failure rules need recorded (`Watch`; all of it but to measure its cost).
    """
    model = shape_model(task)
    loss_of = getattr(task, "loss", None) or cross_entropy
    metric = getattr(task, "metric", None) or correct
    augment = getattr(task, "augment", None)
    eval_batch = getattr(task, "eval_batch_size", None) or eval_batch
    # schedule-free methods evaluate at their averaged params: eval_params(opt_state, params)
    eval_params = getattr(spec, "eval_params", None) or (lambda opt_state, params: params)

    def values_of(inputs: RunInputs):
        return inputs.hyperparams if constants is None else constants

    def optimizer(inputs: RunInputs) -> optax.GradientTransformation:
        return make_optimizer(spec, values_of(inputs), inputs.multipliers, schedule_steps)

    def loss_fn(params, model_state, x, y):
        logits, model_state = apply_model(model, params, model_state, x, train=True)
        return loss_of(logits, y), model_state

    def batch_of(count, inputs: RunInputs, data_key, orders, data):
        if spec.full_batch:
            x, y = data["x_train"], data["y_train"]
        else:
            steps_per_epoch = max(data["x_train"].shape[0] // batch_size, 1)
            offset = (count % steps_per_epoch) * batch_size
            row = count // steps_per_epoch % orders.shape[1]  # the epoch's row of the ring
            index = jax.lax.dynamic_slice(orders, (inputs.seed_slot, row, offset), (1, 1, batch_size))[0, 0]
            x, y = data["x_train"][index], data["y_train"][index]
        if augment is not None:
            x = augment(augment_key(data_key, count), x)
        return x, y

    def begin(state: TrainState, window: Window) -> TrainState:
        new = window.new_period
        return state._replace(loss_sum=jnp.where(new, 0.0, state.loss_sum),
                              loss_max=jnp.where(new, -jnp.inf, state.loss_max),
                              all_finite=state.all_finite | new)

    def step(i, state: TrainState, inputs: RunInputs, orders, window: Window, data) -> TrainState:
        tx = optimizer(inputs)
        budget = values_of(inputs).get(BUDGET)  # None: the run trains every step of the program
        count = window.first_step + i
        x, y = batch_of(count, inputs, jax.random.wrap_key_data(inputs.data_key), orders, data)
        (loss, model_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, state.model_state, x, y)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        if budget is not None:  # past its budget, a run's state stays as it was
            params, opt_state, model_state = frozen_past(
                count < budget, (params, opt_state, model_state),
                (state.params, state.opt_state, state.model_state))
        loss = loss.astype(jnp.float32)
        return TrainState(
            params=params, opt_state=opt_state,
            model_state=model_state,
            initial_loss=jnp.where(count == 0, loss, state.initial_loss),
            loss_sum=state.loss_sum + loss,
            # jnp.maximum propagates NaN, so a NaN anywhere in the period stays visible
            loss_max=jnp.maximum(state.loss_max, loss) if watch.loss_max else state.loss_max,
            all_finite=state.all_finite & jnp.isfinite(loss) if watch.finite else state.all_finite)

    def evaluate(state: TrainState, window: Window, data) -> CallMetrics:
        evaluated = eval_params(state.opt_state, state.params)

        def accuracy_on(x_name, y_name):
            predict = lambda xb: apply_model(model, evaluated, state.model_state, xb, train=False)
            return _batched_accuracy(predict, data[x_name], data[y_name], eval_batch, metric)

        nan = jnp.full((), jnp.nan, jnp.float32)
        val = jax.lax.cond(window.evaluate, lambda: accuracy_on("x_val", "y_val").astype(jnp.float32),
                           lambda: nan)
        test = jax.lax.cond(window.test, lambda: accuracy_on("x_test", "y_test").astype(jnp.float32),
                            lambda: nan)
        return CallMetrics(state.loss_sum, state.loss_max, state.all_finite, state.initial_loss,
                           val, test, _tree_finite(evaluated) & _tree_finite(state.params)
                           if watch.params else jnp.bool_(True))

    def init_state(variables, inputs: RunInputs) -> TrainState:
        params = variables["params"]
        model_state = {name: value for name, value in variables.items() if name != "params"}
        zero = jnp.zeros((), jnp.float32)
        return TrainState(params, optimizer(inputs).init(params), model_state,
                          jnp.full((), jnp.nan, jnp.float32), zero, zero, jnp.bool_(True))

    return RunFunctions(init_state, begin, step, evaluate)


class RunFunctions(NamedTuple):
    """One run's pure functions (`make_train`)."""

    init_state: Callable  # (variables, inputs) -> TrainState
    begin: Callable  # (state, window) -> TrainState: a call's start
    step: Callable  # (i, state, inputs, orders, window, data) -> TrainState: its i-th step
    evaluate: Callable  # (state, window, data) -> CallMetrics: its end


def over_runs_axis(run: RunFunctions) -> Callable:
    """train(state, inputs, orders, window, data) -> (state, CallMetrics) of a call over a
    leading runs axis: the loop over the call's steps outside, each step vmapped over the runs.

    The same arithmetic as one run's loop vmapped, and the same bits (27 built-in optimizers
    on digits-mlp, digits-cnn and mnist1d-gru, 8 runs, 30 steps); the vmap of a loop traced
    its step and then batched it twice (its batching rule's pass to learn which of the loop's
    values carry the runs axis, and another for their axes), and the train program's trace took
    0.42-0.49 CPU-s of the start-up command where it takes 0.35-0.37 now.
    """
    begin = jax.vmap(run.begin, (0, None))
    step = jax.vmap(run.step, (None, 0, 0, None, None, None))
    evaluate = jax.vmap(run.evaluate, (0, None, None))

    def train(state: TrainState, inputs: RunInputs, orders, window: jax.Array, data):
        window = Window.of(window)
        state = jax.lax.fori_loop(0, window.n_steps,
                                  lambda i, state: step(i, state, inputs, orders, window, data),
                                  begin(state, window))
        return state, evaluate(state, window, data)

    return train


def default_vmap_width(platform: str) -> int | None:
    """Runs vmapped together on one device: all of them on accelerators; few on CPU.

    XLA:CPU runs batched small matmuls slowly (jax#15339, jax#26568): on the 2-core machine
    a device that trained its runs in vmapped groups of VMAP_WIDTH_CPU, one group after the
    other, beat one vmap over all of them (README, "Performance").
    """
    return VMAP_WIDTH_CPU if platform == "cpu" else None


VMAP_WIDTH_CPU = 4


def map_in_groups(train, width: int | None):
    """train(state, inputs, *shared) -> (state, metrics) over the runs axis (the leading axis
    of `state`, `inputs` and `metrics`; `shared` passed whole) in vmapped groups of `width`,
    one group after the other.

    The groups are a scan whose carry is the whole state: each group's slice is read, trained
    and written back in place, into the state the call was given (donated). `lax.map` over
    the state reshaped into groups wrote every group into fresh stacked buffers, zeroed first
    and copied out after: a call cost 34 ms beyond its steps for 256 runs of digits-mlp, 4-10
    ms now (docs/performance.md). The numbers are the same. `perf --ceiling` lays out its
    matmuls with it, as the runner's call.
    """

    def grouped(state, inputs, *shared):
        n = jax.tree_util.tree_leaves(inputs)[0].shape[0]
        if width is None or width >= n:
            return train(state, inputs, *shared)
        group = largest_divisor_at_most(n, width)
        runs_of = lambda tree, start: jax.tree_util.tree_map(
            lambda leaf: jax.lax.dynamic_slice_in_dim(leaf, start, group), tree)

        def one_group(state, index):
            start = index * group
            new_state, metrics = train(runs_of(state, start), runs_of(inputs, start), *shared)
            state = jax.tree_util.tree_map(
                lambda leaf, new: jax.lax.dynamic_update_slice_in_dim(leaf, new, start, 0), state, new_state)
            return state, metrics

        state, metrics = jax.lax.scan(one_group, state, jnp.arange(n // group))
        return state, jax.tree_util.tree_map(lambda leaf: leaf.reshape((n,) + leaf.shape[2:]), metrics)

    return grouped


# platforms where a group's small weight-gradient dots run one run at a time (`bench.dots`):
# XLA:CPU's batched dot is slow there (digits-mlp: a step 34.8 -> 32.8 ms). Every program there
# takes the pass, whatever its size: it rounds some programs differently (LARS on digits-mlp:
# 3e-7 of the loss after 30 steps), and a pass for long programs alone (tried: 0.05 s of a small
# run's start-up) would make a program's numbers depend on how many runs and steps it has
UNBATCH_SMALL_DOTS = ("cpu",)


ORDERS_STEPS = 64  # a call may cross epochs up to about this many steps (one order per epoch)
MAX_ORDERS_EPOCHS = 16


def orders_epochs(steps_per_epoch: int) -> int:
    """How many epochs' permutations the ring of orders holds: enough that a call of
    ORDERS_STEPS steps (an evaluation period, usually) need not stop at an epoch's end, at most
    MAX_ORDERS_EPOCHS. Calls once broke at every epoch: 74 calls of about 7 steps for 500 steps
    of digits-mlp, each paying its launch and its buffers (docs/performance.md)."""
    return max(1, min(MAX_ORDERS_EPOCHS, -(-ORDERS_STEPS // max(steps_per_epoch, 1))))


def make_train_program(task: Task, spec: OptimizerSpec, batch_size: int, mesh: Mesh,
                       vmap_width: int | None | str = "auto", schedule_steps: int | None = None,
                       constants: Mapping[str, float] | None = None, watch: Watch = WATCH_ALL):
    """`make_train`'s per-run functions over the runs axis (the initial state vmapped, a call's
    training by `over_runs_axis`), and the epoch orders: vmapped, sharded over `mesh` and
    jitted, here and nowhere else.

    Each device trains its own runs (shard_map: no communication), in vmapped groups of
    `vmap_width` ("auto": `default_vmap_width` of the mesh's platform; None: all at once).
    `fill_orders(ring, order_keys, epoch)` writes each device's permutations of `epoch` into row
    `epoch % ring.shape[1]` of the ring of orders (donated: in place).
    """
    run = make_train(task, spec, batch_size, schedule_steps=schedule_steps, constants=constants,
                     watch=watch)
    if vmap_width == "auto":
        vmap_width = default_vmap_width(mesh.devices.flat[0].platform)
    runs_spec, all_spec = PartitionSpec(RUNS_AXIS), PartitionSpec()
    train_runs_axis = over_runs_axis(run)
    if mesh.devices.flat[0].platform in UNBATCH_SMALL_DOTS:  # faster steps (`bench.dots`)
        train_runs_axis = unbatch_small_dots(train_runs_axis)
    local_train = jax.shard_map(map_in_groups(train_runs_axis, vmap_width), mesh=mesh,
                                in_specs=(runs_spec, runs_spec, runs_spec, all_spec, all_spec),
                                out_specs=(runs_spec, runs_spec), check_vma=False)
    runs, everywhere = runs_sharding(mesh), replicated(mesh)
    local_train.__name__ = "train"  # the compiled program's name: "jit(train)"
    train_jit = jax.jit(local_train, in_shardings=(runs, runs, runs, everywhere, everywhere),
                        out_shardings=(runs, runs), donate_argnums=0)
    init_state_jit = jax.jit(jax.vmap(run.init_state), out_shardings=runs)

    def fill_orders(ring, keys, epoch):  # each key's epoch_order, by bench.shuffle (faster, same bits)
        epoch_keys = jax.vmap(lambda key: epoch_key(jax.random.wrap_key_data(key), epoch))(keys)
        orders = permutations(epoch_keys, ring.shape[2])
        return jax.lax.dynamic_update_slice_in_dim(ring, orders[:, None].astype(ring.dtype),
                                                   epoch % ring.shape[1], axis=1)

    # shard_map: each device fills its own rows (bench.shuffle's choice of sort is per device:
    # no collective, which XLA:CPU could deadlock on beside the train program's calls)
    fill_orders_jit = jax.jit(  # compiled quick (`compile_quick`) by TrainProgram.compile
        jax.shard_map(fill_orders, mesh=mesh, in_specs=(runs_spec, runs_spec, all_spec),
                      out_specs=runs_spec, check_vma=False),
        in_shardings=(runs, runs, everywhere), out_shardings=runs, donate_argnums=0)
    return init_state_jit, train_jit, fill_orders_jit


# ---------------------------------------------------------------------------------------------
# Memory-aware chunking of the runs axis.


def _activation_bytes(task: Task, dataset: Dataset, batch: int) -> int:
    """Bytes of every layer's output for one batch: the activations a backward pass keeps."""
    import flax.linen as nn

    model = shape_model(task)
    x = jax.ShapeDtypeStruct((batch,) + dataset.x_train.shape[1:], dataset.x_train.dtype)
    total = [0]

    def count(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if context.method_name == "__call__":
            total[0] += sum(leaf.size * 4 for leaf in jax.tree_util.tree_leaves(out)
                            if hasattr(leaf, "size"))
        return out

    def forward(x):
        variables = model.init(jax.random.key(0), x)
        with nn.intercept_methods(count):
            return model.apply(variables, x)

    jax.eval_shape(forward, x)
    return total[0]


def available_bytes(device: jax.Device) -> int:
    """Memory the runner may fill: half the accelerator's, or a third of the host's RAM."""
    try:
        stats = device.memory_stats() or {}
    except Exception:  # CPU devices do not implement memory_stats on every jaxlib
        stats = {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0)) // 2
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 3
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def runs_per_call(n_runs: int, n_devices: int, per_run_bytes: int, budget_bytes: int,
                  max_runs: int | None = None) -> int:
    """How many runs one call takes: all of them if they fit, else equal chunks.

    Always a multiple of the device count (the runs axis is split evenly over devices);
    every call has the same size so one compile serves all chunks. `budget_bytes` is the
    whole mesh's budget.
    """
    cap = max(1, budget_bytes // max(per_run_bytes, 1))
    if max_runs is not None:
        cap = min(cap, max_runs)
    cap = max(n_devices, cap // n_devices * n_devices)
    n_calls = math.ceil(n_runs / cap)
    size = math.ceil(n_runs / n_calls)
    return math.ceil(size / n_devices) * n_devices


def _pad_index(index: np.ndarray, size: int) -> np.ndarray:
    """Pad with copies of the last run: padded runs compute but are never reported."""
    return np.concatenate([index, np.full(size - len(index), index[-1], index.dtype)])


def _compiled_bytes(compiled) -> int | None:
    """Per-device bytes XLA says the compiled program needs (arguments, outputs, temporaries)."""
    try:
        stats = compiled.memory_analysis()
    except Exception:  # not every backend reports it
        return None
    if stats is None:
        return None
    return int(stats.argument_size_in_bytes + stats.output_size_in_bytes
               - stats.alias_size_in_bytes + stats.temp_size_in_bytes)


# ---------------------------------------------------------------------------------------------
# The host loop.


def _periods(steps: int, eval_every: int):
    """(first step, end) of each evaluation period: a call never crosses a period's end."""
    for period_start in range(0, steps, eval_every):
        yield period_start, min(period_start + eval_every, steps)


def device_seed_slots(seeds: np.ndarray, n_devices: int, share: bool = True,
                      width: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per device, its runs' distinct seeds (padded to a common count, at least `width`) and
    each run's row there.

    share=False gives every run a row of its own (the same permutations, one sort per run: what
    the runner did before; kept to measure the difference, `python -m bench perf --levers`)."""
    per_device = np.split(seeds, n_devices)
    distinct = [list(dict.fromkeys(part.tolist())) if share else part.tolist() for part in per_device]
    width = max(width, *(len(d) for d in distinct))
    table = np.asarray([d + [d[-1]] * (width - len(d)) for d in distinct], np.uint32).reshape(-1)
    slots = np.concatenate([[d.index(seed) for seed in part.tolist()] if share else range(len(part))
                            for d, part in zip(distinct, per_device)]).astype(np.int32)
    return table, slots


def key_width(runs: Sequence[Run], size: int, n_devices: int, share: bool = True,
              n_seeds: int | None = None) -> int:
    """Rows of each device's key table (and ring of orders) for chunks of `size` runs (chunks
    padded as `_train_program` pads them): one per run, or with `share`, one per distinct seed
    of the widest chunk, every chunk's table that wide, so one compile serves them all.

    `n_seeds` (the seeds the task initialized), given where a task's programs share compiles
    (`CompiledPrograms`): `min(runs per device, n_seeds)` rows, which depends on the chunk's
    size and the task's seeds alone, never on the seeds a chunk holds, so every program of the
    task with chunks of one size has the same shapes: a selection program's 4 seeds need fewer
    rows than its evaluation program's 8, and each one's own width once kept them from sharing
    a compile. A padding row costs its fill, one permutation per epoch (about 30 us on
    digits-mlp), far less than the compile it may spare (1-2 s).
    """
    per_device = size // n_devices
    if not share:
        return per_device
    if n_seeds is not None:
        return min(per_device, n_seeds)
    widths = [0]
    for start in range(0, len(runs), size):
        chunk = _pad_index(np.arange(start, min(start + size, len(runs))), size)
        seeds = np.asarray([runs[i].seed for i in chunk], np.uint32)
        widths.append(device_seed_slots(seeds, n_devices, share)[0].size // n_devices)
    return max(widths)


def call_steps(rest: int, seconds_per_step: float | None, call_seconds: float) -> int:
    """Steps of the next call, out of the `rest` before its stretch ends (its period's end, the
    reach of the ring of orders).

    1 for a program's first call, which measures a step, and for every call where
    `call_seconds` is 0; else the rest in as many equal calls as make each about
    `call_seconds` (between 2/3 and 3/2 of it). Calls once took as many steps as fit in
    `call_seconds`, and the step or two left over made a call of its own, with a whole call's
    launch and buffers: 43 calls for 500 steps of digits-mlp where 22 do (docs/performance.md).
    """
    if seconds_per_step is None or call_seconds <= 0:
        return 1
    calls = max(1, round(rest * seconds_per_step / call_seconds))
    return -(-rest // calls)


class CompiledPrograms:
    """The train program a task's last program compiled, kept for the program after it.

    A program whose every input has the shapes of the last one's (the same task, dataset,
    optimizer, mesh and options; chunks of as many runs: `key_width` with the task's seeds)
    runs that one's executables, and traces and compiles nothing: the default suite's
    evaluation programs, as many runs as their selection programs, once compiled again what
    those had just compiled (1-2 s each on the 2-core machine). The numbers are the same: one
    HLO, one executable. Only the last program's are kept, since an optimizer's programs run
    one after the other: another optimizer's, or another configuration's of a factory that
    takes no traced values, drops them. The objects are matched by identity and held here, so
    that no other object takes their id.
    """

    def __init__(self):
        self._held: tuple[tuple, tuple, dict] | None = None

    def executables(self, objects: tuple, options: tuple) -> dict:
        """The executables compiled for `objects` (by identity) and `options` (by value), by
        the shapes of their inputs: a dict of its own, to fill (the last one's, if they match)."""
        if self._held is not None:
            held_objects, held_options, found = self._held
            if all(a is b for a, b in zip(held_objects, objects, strict=True)) and held_options == options:
                return found
        self._held = (objects, options, {})
        return self._held[2]


def _signature(shapes) -> tuple:
    """What a compile depends on of its inputs: their tree, shapes, dtypes and shardings."""
    leaves, tree = jax.tree_util.tree_flatten(shapes)
    return tree, tuple((leaf.shape, str(leaf.dtype), leaf.sharding) for leaf in leaves)


class TrainProgram:
    """One (task, optimizer)'s compiled training program and the host loop that drives it.

    `run(chunk, ...)` trains one chunk of runs (a multiple of the device count; every chunk of a
    program the same size, so it compiles once) and returns its per-period `CallMetrics`.
    """

    def __init__(self, task: Task, dataset: Dataset, spec: OptimizerSpec, batch_size: int, mesh: Mesh,
                 vmap_width: int | None | str = "auto", call_seconds: float = CALL_SECONDS,
                 schedule_steps: int | None = None, share_permutations: bool = True,
                 constants: Mapping[str, float] | None = None, watch: Watch = WATCH_ALL,
                 compiled: CompiledPrograms | None = None):
        self.spec, self.mesh, self.call_seconds = spec, mesh, call_seconds
        self.share_permutations = share_permutations
        self.key_width = 0  # at least this many keys per device (`key_width`): set per chunk size
        self.n_devices = mesh.devices.size
        self.n_train = dataset.x_train.shape[0]
        self.steps_per_epoch = None if spec.full_batch else max(self.n_train // batch_size, 1)
        self.ring_epochs = None if spec.full_batch else orders_epochs(self.steps_per_epoch)
        self.init_state, self.train, self._fill_orders = make_train_program(
            task, spec, batch_size, mesh, vmap_width, schedule_steps, constants, watch)
        self.fill_orders = self._fill_orders  # compiled by `compile`
        self.data = device_data(dataset, mesh)
        self.compiled, self.initial_state, self.compile_seconds, self.calls = None, None, 0.0, 0
        self.seconds_per_step: float | None = None
        options = (batch_size, vmap_width, schedule_steps, watch, None if constants is None else
                   tuple((name, type(value).__name__, repr(value)) for name, value in sorted(constants.items())))
        self.shares_compiles = compiled is not None
        self._executables = {} if compiled is None else compiled.executables(
            (task, dataset, spec, mesh), options)

    def inputs(self, runs: Sequence[Run], initialized: Initialized, shapes: bool = False):
        """(variables, RunInputs, order keys) of a chunk of runs, as global sharded arrays (or,
        with `shapes`, as ShapeDtypeStructs sharded alike: what compiling needs, nothing copied)."""
        sharding = runs_sharding(self.mesh)

        def place(host: np.ndarray):
            if shapes:
                return jax.ShapeDtypeStruct(host.shape, host.dtype, sharding=sharding)
            return global_array(host, sharding)

        if shapes:  # each leaf's runs, without the copy that gathers them
            variables = jax.tree_util.tree_map(lambda leaf: jax.ShapeDtypeStruct(
                (len(runs),) + leaf.shape[2:], leaf.dtype, sharding=sharding), initialized.shapes)
        else:
            init_index, seed_index = initialized.index(runs)
            variables = jax.tree_util.tree_map(lambda leaf: place(leaf[init_index, seed_index]),
                                               initialized.variables)
        names = sorted(runs[0].traced_values())
        values = {name: np.asarray([run.traced_values()[name] for run in runs], np.float32)
                  for name in names}
        seeds = np.asarray([run.seed for run in runs], np.uint32)
        key_table, slots = device_seed_slots(seeds, self.n_devices, self.share_permutations,
                                             self.key_width)
        data_keys = initialized.data_key_data(seeds, shape_only=shapes)
        order_keys = initialized.data_key_data(key_table, shape_only=shapes)
        multipliers = None
        if any(run.init in initialized.multipliers for run in runs):
            # every run carries a tree (ones where its strategy sets none), stacked like its lr
            rule = optimizer_rule(self.spec)
            ones = jax.tree_util.tree_map(lambda leaf: 1.0, initialized.shapes["params"])
            trees = [initialized.multipliers.get(run.init, {}).get(rule, ones) for run in runs]
            multipliers = jax.tree_util.tree_map(
                lambda *values: place(np.asarray(values, np.float32)), *trees)
        inputs = RunInputs({name: place(v) for name, v in values.items()}, place(slots),
                           place(data_keys), multipliers)
        return variables, inputs, place(order_keys)

    def state_bytes_per_run(self, runs: Sequence[Run], initialized: Initialized) -> int:
        """Bytes of one run's training state (params, optimizer state, records), from shapes alone."""
        shapes = self.state_shapes(*self.inputs([runs[0]] * self.n_devices, initialized, shapes=True)[:2])
        return sum(leaf.size * leaf.dtype.itemsize
                   for leaf in jax.tree_util.tree_leaves(shapes)) // self.n_devices

    def state_shapes(self, variables, inputs):
        """The TrainState made from (variables, inputs), as ShapeDtypeStructs sharded like the
        program's."""
        return self._sharded_like_runs(jax.eval_shape(self.init_state, variables, inputs))

    def _sharded_like_runs(self, shapes):
        sharding = runs_sharding(self.mesh)
        return jax.tree_util.tree_map(
            lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding), shapes)

    def _window(self, *fields) -> jax.Array:
        return jax.device_put(np.asarray(fields, np.int32), replicated(self.mesh))

    def _ring(self, order_keys: jax.Array, shape_only: bool = False) -> jax.Array | jax.ShapeDtypeStruct:
        """The ring of epoch orders of a chunk: [order keys, ring_epochs, n_train] int32, rows
        filled by `fill_orders` before a call reaches their epoch (full-batch: the keys alone)."""
        if self.spec.full_batch:
            return order_keys
        shape, sharding = (order_keys.shape[0], self.ring_epochs, self.n_train), runs_sharding(self.mesh)
        if shape_only:
            return jax.ShapeDtypeStruct(shape, np.int32, sharding=sharding)
        return global_array(np.zeros(shape, np.int32), sharding)

    def compile(self, runs: Sequence[Run], initialized: Initialized):
        """Compile for chunks of len(runs) runs; returns XLA's per-device bytes (or None)."""
        mark("train program: set-up and sizing")
        variables, inputs, order_keys = self.inputs(runs, initialized, shapes=True)
        signature = _signature((variables, inputs, order_keys))
        mark("train program: inputs")
        if signature in self._executables:  # an earlier program of the task compiled these
            self.initial_state, self.fill_orders, self.compiled, needed = self._executables[signature]
            return needed
        # compiled from shapes: the state `run` starts from is made once, there; its one trace
        # gives the state's shapes too
        # the initial-state and fill programs compile in a thread while the train program
        # traces (XLA releases the GIL), and on while it compiles: those three phases of the
        # start-up command 0.05-0.09 s shorter, the whole 0.04-0.18 s (perf --startup against
        # the code before, medians of 7); SciPy's import (`compiling`) may start before they end
        traced = self.init_state.trace(variables, inputs)
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="initopt-compile") as pool:
            initial = pool.submit(traced.lower().compile)
            state = self._sharded_like_runs(traced.out_info)
            mark("train program: initial state")
            began = time.perf_counter()
            orders = self._ring(order_keys, shape_only=True)
            fill = None
            if not self.spec.full_batch:  # compiled here, where its compile is counted
                fill = pool.submit(compile_quick, self._fill_orders.lower(orders, order_keys, np.int32(0)),
                                   self.mesh.devices.flat[0].platform)
            mark("train program: epoch orders")
            lowered = self.train.lower(state, inputs, orders, self._window(0, 1, 1, 1, 1), self.data)
            mark("train program: trace")
            compiling()  # the work that waits for a long compile starts beside it (bench.overlap)
            # the train program's compile starts whether or not the thread's two are done
            self.compiled = lowered.compile()
            self.initial_state = initial.result()
            if fill is not None:
                self.fill_orders = fill.result()
        self.compile_seconds += time.perf_counter() - began
        mark("train program: compile")
        needed = _compiled_bytes(self.compiled)
        self._executables[signature] = (self.initial_state, self.fill_orders, self.compiled, needed)
        return needed

    def run(self, runs: Sequence[Run], initialized: Initialized, *, steps: int, eval_every: int,
            test: bool = True, on_step: Callable[[int], None] | None = None,
            resume: tuple[TrainState, int, list[CallMetrics]] | None = None,
            after_call: Callable[..., None] | None = None) -> list[CallMetrics]:
        """Train one chunk for `steps` steps; the host metrics at the end of every period.

        `resume` (state, step, the periods ended by then) continues the chunk from a save.
        `after_call(state, step, periods)` sees the state each call returns, after `on_step`;
        when a KeyboardInterrupt reaches the loop it is called once more, with
        `interrupted=True`, with the last call's state (or the one it started from), before
        the interrupt goes on.
        """
        if self.compiled is None:
            self.compile(runs, initialized)
        variables, inputs, order_keys = self.inputs(runs, initialized)
        if resume is None:
            state, step, periods = self.initial_state(variables, inputs), 0, []
        else:
            state, step, periods = resume[0], resume[1], list(resume[2])
        orders, held = self._ring(order_keys), {}  # held: ring row -> the epoch it holds
        done = (state, step, periods)  # the last state whose step and periods are counted
        in_flight = None  # a call dispatched and not yet counted
        try:
            while step < steps:
                period_start = step // eval_every * eval_every
                period_end = min(period_start + eval_every, steps)
                limit = period_end
                spe = self.steps_per_epoch
                if spe is not None:  # a call spans at most ring_epochs epochs
                    limit = min(limit, (step // spe + self.ring_epochs) * spe)
                n = call_steps(limit - step, self.seconds_per_step, self.call_seconds)
                if jax.process_count() > 1:  # each process times its own calls: 0's size counts
                    from jax.experimental import multihost_utils

                    n = int(multihost_utils.broadcast_one_to_all(np.int32(n)))
                ends = step + n == period_end
                began = time.perf_counter()
                if spe is not None:  # the ring holds every epoch the call reaches
                    for epoch in range(step // spe, (step + n - 1) // spe + 1):
                        if held.get(epoch % self.ring_epochs) != epoch:
                            orders = self.fill_orders(orders, order_keys, np.int32(epoch))
                            held[epoch % self.ring_epochs] = epoch
                in_flight = None
                state, metrics = self.compiled(
                    state, inputs, orders,
                    self._window(step, n, step == period_start, ends, test and period_end == steps and ends),
                    self.data)
                # dispatched: its inputs are donated, so from here the call's own outputs are the
                # only state there is (an interrupt below still counts them: `in_flight`)
                in_flight = (state, metrics, n, ends)
                metrics = to_host(metrics)  # waits for the call: the host regains control here
                in_flight = None
                elapsed = (time.perf_counter() - began) / n
                per_step = self.seconds_per_step
                self.seconds_per_step = elapsed if per_step is None else 0.5 * (per_step + elapsed)
                self.calls += 1
                if self.calls == 1:
                    mark("train program: first call")
                step += n
                periods = periods + [metrics] if ends else periods
                done = (state, step, periods)
                if on_step is not None:
                    on_step(n)
                if after_call is not None:
                    after_call(state, step, periods)
        except KeyboardInterrupt:
            if in_flight is not None:  # an interrupt that landed while the call ran: wait for it
                state, metrics, n, ends = in_flight
                metrics = to_host(metrics)
                self.calls += 1
                done = (state, done[1] + n, done[2] + [metrics] if ends else done[2])
            if after_call is not None:
                after_call(*done, interrupted=True)
            raise
        return periods


# ---------------------------------------------------------------------------------------------
# Saving a program between calls and resuming it (orbax-checkpoint).


CHECKPOINT_SECONDS = 300.0  # wall time of training between two saves of a program
SAVE_FORMAT = 1  # bump when what a save holds changes: older saves are then ignored
SAVE_ITEMS = ("meta", "state", "curves")  # orbax items of a save ("metrics" is orbax's own)


class Saved(NamedTuple):
    """A program's save, read back: where it stood and what it had measured.

    `finished` holds the per-period metrics of every chunk done, `periods` those of the current
    chunk's ended periods (host arrays, padded runs included); `state` is the current chunk's
    TrainState after `step` steps (sharded like the program's), None once every chunk is done.
    """

    size: int  # runs per chunk: a resumed program keeps the chunking its numbers came from
    chunk: int
    step: int
    finished: list[list[CallMetrics]]
    periods: list[CallMetrics]
    state: TrainState | None


def _plain(value):
    """`value` as JSON data, the same on every run of the same program (no ids, no addresses)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, functools.partial):
        return {"partial": _plain(value.func), "args": _plain(value.args),
                "keywords": _plain(value.keywords)}
    if callable(value):
        name = getattr(value, "__qualname__", type(value).__qualname__)
        return f"{getattr(value, '__module__', '?')}.{name}"
    return type(value).__qualname__


def program_fingerprint(task: Task, dataset: Dataset, spec: OptimizerSpec, runs: Sequence[Run], *,
                        steps: int, batch_size: int, eval_every: int, test: bool, mesh: Mesh,
                        vmap_width, share_permutations: bool,
                        constants: Mapping[str, float] | None, watch: Watch = WATCH_ALL) -> dict[str, Any]:
    """What makes a save belong to exactly one program: its runs, its schedule of steps and
    evaluations, its optimizer (the factory by qualified name, its fixed values), its data's
    shapes and the device layout its numbers come from (they move in the last bits with it)."""
    device = mesh.devices.flat[0]
    return _plain({
        "format": SAVE_FORMAT, "task": task.name,
        "data": {name: [list(getattr(dataset, name).shape), str(getattr(dataset, name).dtype)]
                 for name in DATA_NAMES},
        "optimizer": {"factory": spec.factory, "hyperparams": spec.hyperparams,
                      "full_batch": spec.full_batch,
                      "eval_params": getattr(spec, "eval_params", None)},
        "runs": [[run.init, run.seed, run.trial, run.hyperparams] for run in runs],
        "steps": steps, "batch_size": batch_size, "eval_every": eval_every, "test": test,
        "constants": constants, "vmap_width": vmap_width, "share_permutations": share_permutations,
        **({} if watch == WATCH_ALL else {"watch": watch._asdict()}),
        "devices": {"count": mesh.devices.size, "platform": device.platform,
                    "kind": device.device_kind, "processes": jax.process_count()},
        "jax": jax.__version__,
    })


def _note(message: str) -> None:
    import warnings

    warnings.warn(message, RuntimeWarning, stacklevel=3)


class ProgramSaves:
    """One program's saves in its own folder, through orbax's CheckpointManager.

    A save is a folder named by its position (`key`), written under a temporary name and
    renamed when whole; the previous one is deleted only after. Its items: `meta` (JSON: the
    fingerprint, the chunk size, chunk, step), `state` (the current chunk's TrainState leaves,
    written shard by shard from the devices) and `curves` (the per-period metrics so far).
    """

    def __init__(self, folder: str | os.PathLike, fingerprint: dict[str, Any], seconds: float,
                 steps: int):
        self.folder = os.path.abspath(os.fspath(folder))
        self.fingerprint = json.dumps(fingerprint, sort_keys=True)
        self.seconds, self.steps = seconds, steps
        self.size: int | None = None
        self.manager = None
        self.last_key: int | None = None
        self.last_time = time.perf_counter()
        self.writing = False  # a save under way (a second Ctrl-C may cut it off)

    def _manager(self):
        if self.manager is None:
            import orbax.checkpoint as ocp

            options = ocp.CheckpointManagerOptions(max_to_keep=1, create=True,
                                                   enable_async_checkpointing=False)
            self.manager = ocp.CheckpointManager(self.folder, options=options,
                                                 item_names=SAVE_ITEMS)
        return self.manager

    def key(self, chunk: int, step: int) -> int:
        """A save's position: grows with (chunk, step), step running 0..steps in each chunk."""
        return chunk * (self.steps + 1) + step

    def latest(self, state_shapes: Callable[[int, int], Any]) -> Saved | None:
        """The newest readable save of this program, or None (with a note for each save that
        is not: another program's, unreadable). `state_shapes(size, chunk)` gives the
        current chunk's TrainState as sharded ShapeDtypeStructs."""
        if not os.path.isdir(self.folder):
            return None
        import orbax.checkpoint as ocp

        if jax.process_index() == 0:  # a save cut off while written: never read, now removed
            for name in os.listdir(self.folder):
                if ".orbax-checkpoint-tmp" in name:
                    shutil.rmtree(os.path.join(self.folder, name), ignore_errors=True)
        manager = self._manager()
        for key in sorted(manager.all_steps(), reverse=True):
            try:
                meta = manager.restore(
                    key, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
                if json.dumps(meta.get("fingerprint"), sort_keys=True) != self.fingerprint:
                    _note(f"{self.folder}: save {key} belongs to another program; ignored")
                    continue
                size, chunk, step = int(meta["size"]), int(meta["chunk"]), int(meta["step"])
                items, template = {}, None
                if meta["state"]:
                    template = state_shapes(size, chunk)
                    items["state"] = ocp.args.StandardRestore(jax.tree_util.tree_leaves(template))
                if meta["finished"] or meta["periods"]:
                    items["curves"] = ocp.args.StandardRestore()
                restored = manager.restore(key, args=ocp.args.Composite(**items)) if items else {}
            except Exception as error:  # a damaged save: an older one, else a fresh start
                _note(f"{self.folder}: save {key} is unreadable ({type(error).__name__}: "
                      f"{str(error)[:200]}); ignored")
                continue
            curves = restored["curves"] if meta["finished"] or meta["periods"] else {}
            fields = CallMetrics._fields
            per_call = lambda arrays: [CallMetrics(*(arrays[field][i] for field in fields))
                                       for i in range(len(arrays[fields[0]]))]
            finished = [per_call({field: curves["finished"][field][c] for field in fields})
                        for c in range(meta["finished"])]
            periods = per_call(curves["periods"]) if meta["periods"] else []
            state = None
            if template is not None:
                state = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template),
                                                     restored["state"])
            self.size, self.last_key = size, key
            return Saved(size, chunk, step, finished, periods, state)
        self.remove()  # nothing here is ours: start clean (the manager saves after its newest)
        return None

    def due(self) -> bool:
        due = time.perf_counter() - self.last_time >= self.seconds
        if jax.process_count() > 1:  # every process saves, or none: process 0's clock decides
            from jax.experimental import multihost_utils

            due = bool(multihost_utils.broadcast_one_to_all(np.asarray(due)))
        return due

    def save(self, chunk: int, step: int, state: TrainState | None, periods: list[CallMetrics],
             finished: list[list[CallMetrics]]) -> bool:
        """Save (chunk, step, state, the curves so far); False where it cannot (the state's
        buffers were given to a call that never returned: the last save stands)."""
        import orbax.checkpoint as ocp

        key = self.key(chunk, step)
        if key == self.last_key:  # this very state is saved already
            self.last_time = time.perf_counter()
            return True
        leaves = [] if state is None else jax.tree_util.tree_leaves(state)
        if any(isinstance(leaf, jax.Array) and leaf.is_deleted() for leaf in leaves):
            # interrupted while a call held the state (its buffers donated): the last save, if
            # any, stands; said nowhere, the interrupt's own one line is what the user reads
            return False
        stack = lambda calls, field: np.stack([np.asarray(getattr(m, field)) for m in calls])
        curves = {}
        if finished:
            curves["finished"] = {field: np.stack([stack(calls, field) for calls in finished])
                                  for field in CallMetrics._fields}
        if periods:
            curves["periods"] = {field: stack(periods, field) for field in CallMetrics._fields}
        meta = {"format": SAVE_FORMAT, "fingerprint": json.loads(self.fingerprint),
                "size": self.size, "chunk": chunk, "step": step, "finished": len(finished),
                "periods": len(periods), "state": bool(leaves)}
        items = {"meta": ocp.args.JsonSave(meta)}
        if leaves:
            items["state"] = ocp.args.StandardSave(leaves)
        if curves:
            items["curves"] = ocp.args.StandardSave(curves)
        self.writing = True
        self._manager().save(key, args=ocp.args.Composite(**items), force=True)
        self.writing = False
        self.last_key, self.last_time = key, time.perf_counter()
        return True

    def after_call(self, chunk: int, finished: list[list[CallMetrics]],
                   interrupts: "_HeldInterrupts") -> Callable[..., None]:
        """The host loop's `after_call` for `chunk`: save when due, or on Ctrl-C (then raise
        KeyboardInterrupt), `finished` holding the chunks done."""

        def after_call(state, step, periods, interrupted=False):
            if interrupted and (self.writing or jax.process_count() > 1):
                # a second Ctrl-C cut a save off (the last one stands), or one process's
                # Ctrl-C (the other processes would wait in its save forever)
                return
            if interrupted or interrupts.pending or self.due():
                self.save(chunk, step, state, periods, finished)
            if interrupts.pending and not interrupted:
                raise KeyboardInterrupt

        return after_call

    def close(self) -> None:
        if self.manager is not None:
            self.manager.close()
            self.manager = None

    def remove(self) -> None:
        """Delete every save (the folder too)."""
        self.close()
        self.last_key = None
        _remove_folder(self.folder)


def _remove_folder(folder: str | os.PathLike) -> None:
    if jax.process_index() == 0:
        shutil.rmtree(folder, ignore_errors=True)


class _HeldInterrupts:
    """Ctrl-C held back while a call is in flight (its input buffers are donated: stopping
    inside it loses the state): SIGINT only notes `pending`, and the host loop saves and
    raises KeyboardInterrupt when the call is back. A second Ctrl-C interrupts at once.
    Only in the main thread, only where SIGINT has Python's default handler, and only in a
    program of one process (a multi-process program saves on its clock alone)."""

    def __init__(self, enabled: bool = True):
        self.enabled, self.pending, self.previous = enabled, False, None

    def __enter__(self) -> "_HeldInterrupts":
        if (self.enabled and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self.previous = signal.signal(signal.SIGINT, self._note)
        return self

    def _note(self, signum, frame) -> None:
        self.pending = True
        signal.signal(signal.SIGINT, self.previous)

    def __exit__(self, kind, error, traceback) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        if self.pending and kind is None:
            raise KeyboardInterrupt


def train_runs(task: Task, dataset: Dataset, spec: OptimizerSpec, runs: Sequence[Run],
               initialized: Initialized, *, steps: int, batch_size: int, eval_every: int,
               mesh: Mesh, test: bool = True, max_runs_per_call: int | None = None,
               on_progress: Callable[[int], None] | None = None,
               call_seconds: float = CALL_SECONDS, vmap_width: int | None | str = "auto",
               share_permutations: bool = True,
               constants: Mapping[str, float] | None = None,
               checkpoint: str | os.PathLike | None = None,
               checkpoint_seconds: float = CHECKPOINT_SECONDS,
               watch: Watch = WATCH_ALL,
               compiled: CompiledPrograms | None = None) -> tuple[RunOutput, ProgramTiming]:
    """Train `runs` of one optimizer as one compiled program; returns host-side metrics.

    `initialized` holds every (init, seed) the runs need (`initialize`). Every run must carry
    the same hyperparameter names (they are traced per run). `test=False` skips the test set
    (selection runs never report test accuracy). `on_progress(run_steps)` is called after every
    call with the run-steps it did (real runs x steps, padding excluded), and once before the
    first call of a resumed program with the run-steps its save had done. `constants`: see
    `make_train` (`train_each_configuration` uses it); `watch`: see `Watch`. `compiled`: the
    executables earlier programs of the task compiled, reused where the shapes match, and
    where this one's are kept (`CompiledPrograms`).

    `checkpoint`: a folder of this program's own (made if missing). Between calls, once
    `checkpoint_seconds` of training have passed since the last save (or the start), the
    program saves its state there; a KeyboardInterrupt (Ctrl-C) waits for the call in flight,
    saves, and goes on. A later call with the same folder resumes from the save (one of
    another program is ignored, with a warning) and returns the numbers of an uninterrupted
    run, bit for bit on the same devices; `ProgramTiming.resumed_from` says from where. The
    folder is deleted when the program is done.
    """
    output, timing = _train_program(
        task, dataset, spec, runs, initialized, steps=steps, batch_size=batch_size,
        eval_every=eval_every, mesh=mesh, test=test, max_runs_per_call=max_runs_per_call,
        on_progress=on_progress, call_seconds=call_seconds, vmap_width=vmap_width,
        share_permutations=share_permutations, constants=constants, checkpoint=checkpoint,
        checkpoint_seconds=checkpoint_seconds, watch=watch, compiled=compiled)
    if checkpoint is not None:
        _remove_folder(checkpoint)
    return output, timing


def _train_program(task: Task, dataset: Dataset, spec: OptimizerSpec, runs: Sequence[Run],
                   initialized: Initialized, *, steps: int, batch_size: int, eval_every: int,
                   mesh: Mesh, test: bool = True, max_runs_per_call: int | None = None,
                   on_progress: Callable[[int], None] | None = None,
                   call_seconds: float = CALL_SECONDS, vmap_width: int | None | str = "auto",
                   share_permutations: bool = True,
                   constants: Mapping[str, float] | None = None,
                   checkpoint: str | os.PathLike | None = None,
                   checkpoint_seconds: float = CHECKPOINT_SECONDS,
                   keep_done: bool = False, watch: Watch = WATCH_ALL,
                   compiled: CompiledPrograms | None = None) -> tuple[RunOutput, ProgramTiming]:
    """`train_runs`, leaving its folder in place; with `keep_done`, a last save holds the
    finished program's curves (a resumed `train_each_configuration` takes them)."""
    names = {tuple(sorted(run.traced_values())) for run in runs}
    if len(names) != 1:
        raise ValueError(f"every run of a program needs the same hyperparameter names, got {sorted(names)}")
    program = TrainProgram(task, dataset, spec, batch_size, mesh, vmap_width,
                           call_seconds=call_seconds, schedule_steps=steps,
                           share_permutations=share_permutations, constants=constants, watch=watch,
                           compiled=compiled)
    chunk_of = lambda size, c: [runs[i] for i in _pad_index(
        np.arange(c * size, min((c + 1) * size, len(runs))), size)]
    real_of = lambda size, c: min((c + 1) * size, len(runs)) - c * size
    saves, saved = None, None
    if checkpoint is not None:
        fingerprint = program_fingerprint(
            task, dataset, spec, runs, steps=steps, batch_size=batch_size, eval_every=eval_every,
            test=test, mesh=mesh, vmap_width=vmap_width, share_permutations=share_permutations,
            constants=constants, watch=watch)
        saves = ProgramSaves(checkpoint, fingerprint, checkpoint_seconds, steps)
        saved = saves.latest(lambda size, c: program.state_shapes(
            *program.inputs(chunk_of(size, c), initialized, shapes=True)[:2]))
    n_chunks = lambda size: -(-len(runs) // size)
    if saved is not None and saved.chunk >= n_chunks(saved.size):
        size = saved.size  # every chunk done: nothing to compile
    else:
        size = _compile_chunks(program, task, dataset, spec, runs, initialized, batch_size,
                               max_runs_per_call, size=None if saved is None else saved.size)
    finished: list[list[CallMetrics]] = [] if saved is None else list(saved.finished)
    resumed_from = None
    if saved is not None:
        resumed_from = saved.chunk * steps + saved.step
        if on_progress is not None:
            done = sum(real_of(size, c) for c in range(len(finished))) * steps
            if saved.chunk < n_chunks(size):
                done += real_of(size, saved.chunk) * saved.step
            on_progress(done)
    if saves is not None:
        saves.size = size
    began = time.perf_counter()
    try:
        with _HeldInterrupts(saves is not None and jax.process_count() == 1) as interrupts:
            if saves is not None:
                saves.last_time = began  # the first save comes checkpoint_seconds into training
            for c in range(len(finished), n_chunks(size)):
                real = real_of(size, c)
                on_step = (None if on_progress is None
                           else (lambda n, real=real: on_progress(real * n)))
                resume = None
                if saved is not None and saved.chunk == c and saved.state is not None:
                    resume = (saved.state, saved.step, saved.periods)
                after_call = None if saves is None else saves.after_call(c, finished, interrupts)
                finished.append(program.run(chunk_of(size, c), initialized, steps=steps,
                                            eval_every=eval_every, test=test, on_step=on_step,
                                            resume=resume, after_call=after_call))
            if saves is not None and keep_done:
                saves.save(n_chunks(size), 0, None, [], finished)
    finally:
        if saves is not None:
            saves.close()
    run_seconds = time.perf_counter() - began
    mark(TRAINING)
    outputs = [(real_of(size, c), periods) for c, periods in enumerate(finished)]
    return collect(outputs, steps, eval_every), ProgramTiming(
        program.compile_seconds, run_seconds, program.calls, size, resumed_from)


def _compile_chunks(program: TrainProgram, task: Task, dataset: Dataset, spec: OptimizerSpec,
                    runs: Sequence[Run], initialized: Initialized, batch_size: int,
                    max_runs_per_call: int | None, size: int | None = None) -> int:
    """Compile `program` for the largest chunk of runs that fits (or for chunks of `size`
    runs, a resumed program's); returns the chunk's size.

    Per-run bytes: the state (params, optimizer slots, model state) twice (donated in, out),
    gradients and updates, the ring of epoch permutations; on accelerators, where every run of a
    device is one vmap, also its activations. XLA's count of the compiled program then has
    the last word: if it needs more than the budget, the chunk shrinks and it recompiles.
    """
    n_devices = program.n_devices

    def compile_for(size: int):
        program.key_width = key_width(runs, size, n_devices, program.share_permutations,
                                      len(initialized.seeds) if program.shares_compiles else None)
        return program.compile([runs[i] for i in _pad_index(np.arange(min(size, len(runs))), size)],
                               initialized)

    if size is not None:
        compile_for(size)
        return size
    params_bytes = sum(math.prod(leaf.shape[2:]) * leaf.dtype.itemsize
                       for leaf in jax.tree_util.tree_leaves(initialized.shapes))
    orders_bytes = 4 * program.n_train * (program.ring_epochs or 1)  # at most one row of keys a run
    per_run = 2 * program.state_bytes_per_run(runs, initialized) + 2 * params_bytes + orders_bytes
    if program.mesh.devices.flat[0].platform != "cpu":
        per_run += 3 * _activation_bytes(task, dataset, program.n_train if spec.full_batch else batch_size)
    budget = available_bytes(program.mesh.devices.flat[0]) * n_devices
    size = runs_per_call(len(runs), n_devices, per_run, budget, max_runs_per_call)
    while True:
        needed = compile_for(size)
        if needed is None or needed * n_devices <= budget or size <= n_devices:
            return size
        smaller = runs_per_call(len(runs), n_devices, -(-needed * n_devices // size), budget, size - 1)
        if smaller >= size:
            return size
        size = smaller


def train_each_configuration(task: Task, dataset: Dataset, spec: OptimizerSpec,
                             runs: Sequence[Run], initialized: Initialized, **options
                             ) -> tuple[RunOutput, ProgramTiming]:
    """`train_runs` for a factory that cannot take traced hyperparameters (it calls float() on
    one, or branches on it in Python): one program per configuration, its values Python
    numbers, the outputs put back in the order of `runs` and the timings added up.

    `checkpoint`: each configuration saves in a folder of its own inside it, and keeps its
    finished curves there until every configuration is done; then the folder goes."""
    checkpoint = options.pop("checkpoint", None)
    groups: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        groups.setdefault(run.hyperparams, []).append(i)
    outputs, timings = [], []
    for hyperparams, index in groups.items():
        folder = None if checkpoint is None else os.path.join(
            os.fspath(checkpoint), hashlib.sha256(repr(hyperparams).encode()).hexdigest()[:16])
        output, timing = _train_program(task, dataset, spec, [runs[i] for i in index], initialized,
                                        constants=dict(hyperparams), checkpoint=folder,
                                        keep_done=True, **options)
        outputs.append(output)
        timings.append(timing)
    if checkpoint is not None:
        _remove_folder(checkpoint)
    order = np.argsort(np.concatenate([index for index in groups.values()]), kind="stable")
    merged = RunOutput(outputs[0].steps, *(np.concatenate([getattr(o, field) for o in outputs])[order]
                                           for field in RunOutput._fields[1:]))
    resumed = [t.resumed_from for t in timings if t.resumed_from is not None]
    return merged, ProgramTiming(sum(t.compile_seconds for t in timings),
                                 sum(t.run_seconds for t in timings), sum(t.calls for t in timings),
                                 max(t.runs_per_call for t in timings),
                                 sum(resumed) if resumed else None)


def collect(chunks: Sequence[tuple[int, list[CallMetrics]]], steps: int, eval_every: int) -> RunOutput:
    """The RunOutput of chunks of (real runs, per-period metrics), padding dropped."""
    ends = [end for _, end in _periods(steps, eval_every)]
    lengths = np.diff(np.r_[0, ends])
    stack = lambda field: np.concatenate(
        [np.stack([np.asarray(getattr(m, field))[:real] for m in periods], axis=1)
         for real, periods in chunks])
    last = lambda field: np.concatenate(
        [np.asarray(getattr(periods[-1], field))[:real] for real, periods in chunks])
    return RunOutput(
        steps=np.asarray(ends), initial_train_loss=last("initial_loss"),
        train_loss=stack("loss_sum") / lengths, train_loss_max=stack("loss_max"),
        finite=stack("all_finite"), params_finite=last("params_finite"),
        val_accuracy=stack("val_accuracy"), test_accuracy=last("test_accuracy"))

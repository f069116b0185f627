"""The runner: every (init x seed x learning rate) of one optimizer as one compiled program.

Read it like PureJaxRL's `make_train`: a pure per-run function (`_train_period`), vmapped over
a flat runs axis, the runs axis sharded over every device, the whole thing jit-compiled once.

    init program (one per task):      (seed, init) -> params, data-dependent inits included
    train program (one per optimizer): runs x (eval_every steps of lax.scan, then evaluate)
                                       x periods_per_call, called until `steps` are done

Pairing: a run's randomness comes from its seed alone. `seed -> (init_key, data_key)`; the
init key makes the params (with the strategy), the data key the batch order. Optimizer and
learning rate never touch a key, so all of them start from the same params and see the same
batches for a given (seed, init). The init program runs once per task and its params are
gathered for every optimizer's runs.
"""
from __future__ import annotations

import math
import os
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from bench.data import Dataset
from bench.tasks import Task, accuracy, cross_entropy
from inits.strategy import Strategy
from optimizers.spec import OptimizerSpec

RUNS_AXIS = "runs"


class Run(NamedTuple):
    init: str
    seed: int
    lr: float


class RunOutput(NamedTuple):
    """Host-side arrays for the runs of one program, each with a leading runs axis."""

    steps: np.ndarray  # [periods]: the step at the end of each evaluation period
    train_loss: np.ndarray  # [runs, periods]: mean mini-batch loss over the period
    finite: np.ndarray  # [runs, periods]: every loss of the period was finite
    val_accuracy: np.ndarray  # [runs, periods]
    test_accuracy: np.ndarray  # [runs]: after the last step


class ProgramTiming(NamedTuple):
    compile_seconds: float
    run_seconds: float


def grid(inits: Sequence[str], seeds: Sequence[int], lrs: Sequence[float]) -> list[Run]:
    """The flat runs axis, init-major, then seed, then learning rate."""
    return [Run(init, seed, float(lr)) for init in inits for seed in seeds for lr in lrs]


def seed_keys(seed: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(init_key, data_key) of a seed: the only randomness a run has."""
    init_key, data_key = jax.random.split(jax.random.key(seed))
    return init_key, data_key


def epoch_order(data_key: jax.Array, epoch: jax.Array, n_train: int) -> jax.Array:
    """The training-set permutation of one epoch (a fresh shuffle per epoch, from the seed)."""
    return jax.random.permutation(jax.random.fold_in(data_key, epoch), n_train)


def runs_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), (RUNS_AXIS,))


def _sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(RUNS_AXIS))


def _replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def global_array(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global array from a host array every process holds whole (one process or many)."""
    host = np.asarray(host)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def to_host(tree):
    """Host numpy copies of (possibly sharded) outputs; across processes, gathered first."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)


def _as_device_data(dataset: Dataset, mesh: Mesh) -> dict[str, jax.Array]:
    arrays = {name: getattr(dataset, name) for name in
              ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
    return {name: global_array(array, _replicated(mesh)) for name, array in arrays.items()}


# ---------------------------------------------------------------------------------------------
# Initialization: once per task, for every (init strategy, seed) any optimizer needs.


def make_init_program(task: Task, strategies: dict[str, Strategy], batch_size: int):
    """jit(seeds, data) -> params stacked [strategy, seed, ...] in `strategies` order.

    Data-dependent strategies (LSUV) see the first training batch of the seed's data order.
    """

    def init_one(strategy: Strategy, seed, data):
        init_key, data_key = seed_keys(seed)
        n_train = data["x_train"].shape[0]
        first_batch = data["x_train"][epoch_order(data_key, 0, n_train)[:batch_size]]
        model = task.make_model(strategy.kernel_init, strategy.bias_init)
        variables = model.init(init_key, first_batch)
        if strategy.post_init is not None:
            variables = strategy.post_init(model, variables, first_batch)
        return variables["params"]

    def init_all(seeds, data):
        per_strategy = [jax.vmap(lambda s, st=st: init_one(st, s, data))(seeds)
                        for st in strategies.values()]
        return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *per_strategy)

    return jax.jit(init_all)


def init_params(task: Task, dataset: Dataset, strategies: dict[str, Strategy],
                seeds: Sequence[int], batch_size: int, mesh: Mesh):
    """Params for every (strategy, seed), leaves shaped [n_strategies, n_seeds, ...]."""
    program = make_init_program(task, strategies, batch_size)
    seeds = global_array(np.asarray(seeds, np.uint32), _replicated(mesh))
    return program(seeds, _as_device_data(dataset, mesh))


# ---------------------------------------------------------------------------------------------
# Training: one program per (task, optimizer).


class TrainState(NamedTuple):
    params: Any
    opt_state: Any
    order: jax.Array  # [runs, n_train]: the current epoch's permutation of the training set


def make_train(task: Task, spec: OptimizerSpec, hyperparams: dict[str, Any],
               batch_size: int, eval_every: int, periods_per_call: int):
    """Returns (init_state, train): pure functions over a leading runs axis (no jit, no mesh).

    train(state, lrs, data_keys, first_step, data) runs `periods_per_call` periods of
    `eval_every` steps and evaluates after each; `first_step` is traced, so one compile serves
    every call. The step counter is shared by all runs (outside the vmap), so the once-per-epoch
    reshuffle is a real branch, not a select that would sort on every step.
    init_state(params, lrs, n_train) makes the optimizer state; n_train must be static.
    `bench.tools.perf` drives these same functions seed by seed and under `lax.map`.
    """
    model = task.make_model(jax.nn.initializers.zeros, jax.nn.initializers.zeros)
    full_batch = spec.full_batch

    def optimizer(lr):
        return spec.factory(learning_rate=lr, **hyperparams)

    def loss_fn(params, x, y):
        return cross_entropy(model.apply({"params": params}, x), y)

    def evaluate(params, x, y):
        return accuracy(model.apply({"params": params}, x), y)

    def train_step(params, opt_state, lr, order, step, data):
        if full_batch:
            x, y = data["x_train"], data["y_train"]
        else:
            steps_per_epoch = data["x_train"].shape[0] // batch_size
            index = jax.lax.dynamic_slice_in_dim(order, (step % steps_per_epoch) * batch_size,
                                                 batch_size)
            x, y = data["x_train"][index], data["y_train"][index]
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = optimizer(lr).update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def train(state: TrainState, lrs, data_keys, first_step, data):
        n_train = data["x_train"].shape[0]
        steps_per_epoch = max(n_train // batch_size, 1)

        def step_all(state: TrainState, step):
            order = state.order
            if not full_batch:
                order = jax.lax.cond(
                    step % steps_per_epoch == 0,
                    lambda: jax.vmap(epoch_order, (0, None, None))(
                        data_keys, step // steps_per_epoch, n_train).astype(order.dtype),
                    lambda: order)
            params, opt_state, loss = jax.vmap(train_step, (0, 0, 0, 0, None, None))(
                state.params, state.opt_state, lrs, order, step, data)
            return TrainState(params, opt_state, order), loss

        def period(state: TrainState, period_index):
            start = first_step + period_index * eval_every
            state, losses = jax.lax.scan(step_all, state, start + jnp.arange(eval_every))
            val = jax.vmap(evaluate, (0, None, None))(state.params, data["x_val"], data["y_val"])
            metrics = (jnp.mean(losses, axis=0), jnp.all(jnp.isfinite(losses), axis=0), val)
            return state, metrics

        state, (loss, finite, val) = jax.lax.scan(period, state, jnp.arange(periods_per_call))
        test = jax.vmap(evaluate, (0, None, None))(state.params, data["x_test"], data["y_test"])
        return state, (loss.T, finite.T, val.T, test)

    def init_state(params, lrs, n_train):
        opt_state = jax.vmap(lambda p, lr: optimizer(lr).init(p))(params, lrs)
        order = jnp.zeros((lrs.shape[0], n_train), jnp.int32)
        return TrainState(params, opt_state, order)

    return init_state, train


def default_vmap_width(platform: str) -> int | None:
    """Runs vmapped together on one device: all of them on accelerators; few on CPU.

    XLA:CPU runs batched small matmuls slowly (jax#15339, jax#26568): on the 2-core machine
    a device that trained its runs in vmapped groups of VMAP_WIDTH_CPU, one group after the
    other, beat one vmap over all of them (README, "Performance").
    """
    return VMAP_WIDTH_CPU if platform == "cpu" else None


VMAP_WIDTH_CPU = 4


def _map_in_groups(train, width: int | None):
    """train over the runs axis in vmapped groups of `width`, one group after the other."""

    def grouped(state, lrs, data_keys, first_step, data):
        n = lrs.shape[0]
        if width is None or width >= n:
            return train(state, lrs, data_keys, first_step, data)
        group = largest_divisor_at_most(n, width)
        split = lambda leaf: leaf.reshape((n // group, group) + leaf.shape[1:])
        merge = lambda leaf: leaf.reshape((n,) + leaf.shape[2:])
        state, lrs, data_keys = jax.tree_util.tree_map(split, (state, lrs, data_keys))
        out = jax.lax.map(lambda runs: train(*runs, first_step, data), (state, lrs, data_keys))
        return jax.tree_util.tree_map(merge, out)

    return grouped


def make_train_program(task: Task, spec: OptimizerSpec, hyperparams: dict[str, Any],
                       batch_size: int, eval_every: int, periods_per_call: int, mesh: Mesh,
                       vmap_width: int | None | str = "auto"):
    """`make_train`'s (init_state, train), jitted with the runs axis sharded over `mesh`.

    Each device trains its own runs (shard_map: no communication), in vmapped groups of
    `vmap_width` ("auto": `default_vmap_width` of the mesh's platform; None: all at once).
    """
    init_state, train = make_train(task, spec, hyperparams, batch_size, eval_every,
                                   periods_per_call)
    if vmap_width == "auto":
        vmap_width = default_vmap_width(mesh.devices.flat[0].platform)
    spec_runs, spec_all = PartitionSpec(RUNS_AXIS), PartitionSpec()
    local_train = jax.shard_map(_map_in_groups(train, vmap_width), mesh=mesh,
                                in_specs=(spec_runs, spec_runs, spec_runs, spec_all, spec_all),
                                out_specs=(spec_runs, spec_runs), check_vma=False)
    runs, replicated = _sharded(mesh), _replicated(mesh)
    init_state_jit = jax.jit(init_state, static_argnums=2, out_shardings=runs)
    local_train.__name__ = "train"  # the compiled program's name: "jit(train)"
    train_jit = jax.jit(local_train, in_shardings=(runs, runs, runs, replicated, replicated),
                        out_shardings=(runs, runs), donate_argnums=0)
    return init_state_jit, train_jit


# ---------------------------------------------------------------------------------------------
# Memory-aware chunking of the runs axis.


def bytes_per_run(params_per_run: int, batch_size: int, widest_layer: int, n_layers: int,
                  n_train: int, n_eval: int) -> int:
    """A generous estimate of one run's working set in the train program, in bytes.

    params, grads, updates and up to four optimizer slots; activations kept for the backward
    pass; the evaluation forward pass; the epoch permutation.
    """
    params = 8 * params_per_run
    activations = 3 * batch_size * widest_layer * n_layers
    evaluation = 2 * n_eval * widest_layer
    return 4 * (params + activations + evaluation + n_train)


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
    every call has the same size so one compile serves all chunks.
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


def largest_divisor_at_most(n: int, at_most: int) -> int:
    return max(d for d in range(1, min(n, at_most) + 1) if n % d == 0)


def train_runs(task: Task, dataset: Dataset, spec: OptimizerSpec, hyperparams: dict[str, Any],
               runs: Sequence[Run], params_by_init_seed, init_names: Sequence[str],
               seeds: Sequence[int], *, steps: int, batch_size: int, eval_every: int,
               mesh: Mesh, max_runs_per_call: int | None = None,
               on_progress: Callable[[int], None] | None = None,
               target_calls: int = 10) -> tuple[RunOutput, ProgramTiming]:
    """Train `runs` of one optimizer as one compiled program; returns host-side metrics.

    `params_by_init_seed` holds leaves [len(init_names), len(seeds), ...] from `init_params`;
    `on_progress(run_steps)` is called after every program call with the run-steps it did
    (real runs x steps, padding excluded), so a bar of len(runs) x steps fills exactly once.
    """
    n_periods = steps // eval_every
    periods_per_call = largest_divisor_at_most(n_periods, max(1, math.ceil(n_periods / target_calls)))
    n_devices = mesh.devices.size
    n_train = dataset.x_train.shape[0]
    params_leaves = jax.tree_util.tree_leaves(params_by_init_seed)
    params_per_run = sum(int(np.prod(leaf.shape[2:])) for leaf in params_leaves)
    widest = max(max(leaf.shape[2:], default=1) for leaf in params_leaves)
    per_run = bytes_per_run(params_per_run, n_train if spec.full_batch else batch_size,
                            int(widest), len(params_leaves), n_train,
                            len(dataset.x_val) + len(dataset.x_test))
    size = runs_per_call(len(runs), n_devices, per_run, available_bytes(mesh.devices.flat[0]),
                         max_runs_per_call)

    init_pos = {name: i for i, name in enumerate(init_names)}
    seed_pos = {seed: i for i, seed in enumerate(seeds)}
    init_index = np.asarray([init_pos[run.init] for run in runs], np.int32)
    seed_index = np.asarray([seed_pos[run.seed] for run in runs], np.int32)
    data = _as_device_data(dataset, mesh)
    init_state, train = make_train_program(task, spec, hyperparams, batch_size, eval_every,
                                           periods_per_call, mesh)
    runs_sharding = _sharded(mesh)
    data_keys_of = jax.jit(jax.vmap(lambda s: seed_keys(s)[1]), out_shardings=runs_sharding)

    # Gathered on the host: an eager device gather compiles once per leaf shape (~0.5 s here).
    host_params = to_host(params_by_init_seed)

    losses, finites, vals, tests = [], [], [], []
    compiled, compile_seconds, run_seconds = None, 0.0, 0.0
    for start in range(0, len(runs), size):
        chunk = _pad_index(np.arange(start, min(start + size, len(runs))), size)
        params = jax.tree_util.tree_map(
            lambda leaf: global_array(leaf[init_index[chunk], seed_index[chunk]], runs_sharding),
            host_params)
        lrs = global_array(np.asarray([runs[i].lr for i in chunk], np.float32), runs_sharding)
        seeds_chunk = global_array(np.asarray([runs[i].seed for i in chunk], np.uint32),
                                   runs_sharding)
        data_keys = data_keys_of(seeds_chunk)
        state = init_state(params, lrs, n_train)
        if compiled is None:
            began = time.perf_counter()
            compiled = train.lower(state, lrs, data_keys, jnp.int32(0), data).compile()
            compile_seconds = time.perf_counter() - began
        began = time.perf_counter()
        chunk_metrics = []
        for call in range(n_periods // periods_per_call):
            first_step = jnp.int32(call * periods_per_call * eval_every)
            state, metrics = compiled(state, lrs, data_keys, first_step, data)
            chunk_metrics.append(to_host(metrics))
            if on_progress is not None:
                on_progress((min(start + size, len(runs)) - start) * periods_per_call * eval_every)
        run_seconds += time.perf_counter() - began
        real = min(start + size, len(runs)) - start
        losses.append(np.concatenate([m[0] for m in chunk_metrics], axis=1)[:real])
        finites.append(np.concatenate([m[1] for m in chunk_metrics], axis=1)[:real])
        vals.append(np.concatenate([m[2] for m in chunk_metrics], axis=1)[:real])
        tests.append(chunk_metrics[-1][3][:real])

    output = RunOutput(
        steps=eval_every * np.arange(1, n_periods + 1),
        train_loss=np.concatenate(losses), finite=np.concatenate(finites),
        val_accuracy=np.concatenate(vals), test_accuracy=np.concatenate(tests))
    return output, ProgramTiming(compile_seconds, run_seconds)

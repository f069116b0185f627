"""The work every strategy of `python -m bench perf` does: one task, one optimizer at one
learning rate, he_normal params, `steps` steps of mini-batches, evaluation every `eval_every`."""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax

from bench import runner
from bench.sharding import runs_mesh

INIT = "he_normal"


class Workload(NamedTuple):
    task: Any
    dataset: Any
    spec: Any  # optimizers.OptimizerSpec
    optimizer: str
    lr: float
    batch_size: int
    eval_every: int
    steps: int
    initialized: Any  # runner.Initialized: he_normal variables of every seed
    seeds: tuple[int, ...]
    n_params: int
    flops_per_step: int  # the work a FLOP rate counts (see `step_flops`)
    task_spec: str = ""  # the task as given (a name, or PATH.py:NAME): what a subprocess resolves


def synthetic_dataset(task) -> Any:
    """Random data shaped like the task's (for speed only): for the image tasks whose data must
    be downloaded, so that `perf --synthetic` measures them on a machine without their files."""
    import numpy as np

    from bench import data
    from bench.data import Dataset

    shapes = {data.mnist: ((28, 28, 1), 10), data.fashion_mnist: ((28, 28, 1), 10),
              data.cifar10: ((32, 32, 3), 10), data.cifar100: ((32, 32, 3), 100)}
    if task.load not in shapes:
        return task.load()  # generated or shipped: the real data is at hand
    shape, classes = shapes[task.load]
    rng = np.random.default_rng(0)
    sizes = {"train": 5120, "val": 1000, "test": 1000}
    arrays = {}
    for split, size in sizes.items():
        arrays[f"x_{split}"] = rng.integers(0, 256, (size, *shape), dtype=np.uint8)
        arrays[f"y_{split}"] = rng.integers(0, classes, size).astype(np.int32)
    return Dataset(**arrays, num_classes=classes)


def make_workload(task_name: str, optimizer: str, seeds: int, steps: int,
                  eval_every: int | None = None, synthetic: bool = False) -> Workload:
    from bench.tasks import count_params
    from bench.tools.perf.lean import resolve_methods
    from inits import STRATEGIES

    task, spec = resolve_methods(task_name, optimizer)
    eval_every = eval_every or math.gcd(steps, 25)
    dataset = synthetic_dataset(task) if synthetic else task.load()
    if synthetic:
        task = task._replace(load=lambda: dataset)
    seed_list = tuple(range(seeds))
    initialized = runner.initialize(task, dataset, {INIT: STRATEGIES[INIT]}, seed_list,
                                    task.batch_size, runs_mesh())
    params = jax.tree_util.tree_map(lambda leaf: leaf[0, 0], initialized.variables["params"])
    n_params = count_params(params)
    return Workload(task, dataset, spec, optimizer, float(spec.learning_rates[0]), task.batch_size,
                    eval_every, steps, initialized, seed_list, n_params,
                    step_flops(task, dataset, initialized, task.batch_size), task_name)


def step_flops(task, dataset, initialized, batch_size: int) -> int:
    """FLOPs of one training step's forward and backward pass on one batch: 6 x batch x
    parameters for an MLP (forward 2, backward 4 per weight and example); for convolutions and
    recurrences, whose weights are shared across positions, XLA's cost analysis of the step."""
    import jax.numpy as jnp

    from bench.tasks import apply_model, count_params, cross_entropy, shape_model

    variables = jax.tree_util.tree_map(lambda leaf: leaf[0, 0], initialized.variables)
    params = variables["params"]
    if all(name.startswith("Dense_") for name in params):
        return 6 * batch_size * count_params(params)
    model = shape_model(task)
    state = {name: value for name, value in variables.items() if name != "params"}
    x = jnp.asarray(dataset.x_train[:batch_size])
    y = jnp.asarray(dataset.y_train[:batch_size])

    def loss(params):
        logits, _ = apply_model(model, params, state, x, train=True)
        return cross_entropy(logits, y)

    analysis = jax.jit(jax.grad(loss)).lower(params).compile().cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return int(analysis.get("flops", 0))


def grid_runs(workload: Workload, seeds) -> list:
    return runner.grid([INIT], list(seeds), [workload.lr])

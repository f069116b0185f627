"""The work every strategy of `python -m bench perf` does: one task, one optimizer at one
learning rate, he_normal params, `steps` steps of mini-batches, evaluation every `eval_every`."""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax

from bench import runner

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

    @property
    def flops_per_step(self) -> int:
        """6 x batch x parameters (forward 2, backward 4): the work a FLOP rate counts."""
        return 6 * self.batch_size * self.n_params


def make_workload(task_name: str, optimizer: str, seeds: int, steps: int,
                  eval_every: int | None = None) -> Workload:
    from bench.tasks import TASKS, count_params
    from inits import STRATEGIES
    from optimizers import OPTIMIZERS

    task, spec = TASKS[task_name], OPTIMIZERS[optimizer]
    eval_every = eval_every or math.gcd(steps, 25)
    dataset = task.load()
    seed_list = tuple(range(seeds))
    initialized = runner.initialize(task, dataset, {INIT: STRATEGIES[INIT]}, seed_list,
                                    task.batch_size, runner.runs_mesh())
    n_params = count_params(jax.tree_util.tree_map(lambda leaf: leaf[0, 0],
                                                   initialized.variables["params"]))
    return Workload(task, dataset, spec, optimizer, float(spec.learning_rates[0]), task.batch_size,
                    eval_every, steps, initialized, seed_list, n_params)


def grid_runs(workload: Workload, seeds) -> list:
    return runner.grid([INIT], list(seeds), [workload.lr])

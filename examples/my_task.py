"""Your own task, as `python -m bench run --task examples/my_task.py:moons` takes it: a
`bench.tasks.Task` of your arrays (a `bench.data.Dataset`) and your Flax model."""
from typing import Callable

import flax.linen as nn
import numpy as np

from bench.data import Dataset
from bench.tasks import Task


def load_moons() -> Dataset:
    """Two interleaved half-moons (scikit-learn), 700/150/150, fixed split."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=1000, noise=0.2, random_state=0)
    x, y = x.astype(np.float32), y.astype(np.int32)
    return Dataset(x[:700], y[:700], x[700:850], y[700:850], x[850:], y[850:], num_classes=2)


class MoonsMLP(nn.Module):
    kernel_init: Callable
    bias_init: Callable

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(32, kernel_init=self.kernel_init, bias_init=self.bias_init)(x))
        return nn.Dense(2, kernel_init=self.kernel_init, bias_init=self.bias_init)(x)


moons = Task(name="moons", description="two moons, MLP 2-32-2, ReLU", load=load_moons,
             make_model=lambda kernel_init, bias_init: MoonsMLP(kernel_init, bias_init),
             batch_size=64, target=0.95, steps=200)

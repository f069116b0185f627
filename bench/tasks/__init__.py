"""Tasks: data, model, loss, accuracy and the validation accuracy that counts as converged.

A task's model takes `kernel_init` and `bias_init`, so that an init strategy decides every
Dense and Conv kernel and bias; applying it needs only the params, whichever strategy made them.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from bench import data
from bench.data import Dataset
from bench.tasks.models import MLP, Initializer, PatchConv, SmallCNN


class Task(NamedTuple):
    name: str
    description: str
    load: Callable[[], Dataset]
    make_model: Callable[[Initializer, Initializer], nn.Module]
    batch_size: int
    target: float
    steps: int


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def _mlp(hidden: Sequence[int], num_classes: int) -> Callable[[Initializer, Initializer], nn.Module]:
    return lambda kernel_init, bias_init: MLP(tuple(hidden), num_classes, kernel_init, bias_init)


TASKS: dict[str, Task] = {
    "digits-mlp": Task(
        "digits-mlp", "8x8 digits, MLP 64-128-128-10, ReLU, batch 128",
        data.digits, _mlp((128, 128), 10), batch_size=128, target=0.95, steps=300),
    "digits-deep": Task(
        "digits-deep", "8x8 digits, 20 hidden Dense layers of width 64, ReLU, no normalization",
        data.digits, _mlp((64,) * 20, 10), batch_size=128, target=0.90, steps=500),
    "digits-cnn": Task(
        "digits-cnn", "8x8x1 digits, Conv3x3(16)-Conv3x3(32)-AvgPool2-Dense(10), ReLU",
        lambda: data.digits((8, 8, 1)),
        lambda kernel_init, bias_init: SmallCNN((16, 32), 10, kernel_init, bias_init),
        batch_size=128, target=0.95, steps=300),
    "spirals": Task(
        "spirals", "two interleaved 2-D spirals, MLP 2-64-64-2, ReLU",
        data.spirals, _mlp((64, 64), 2), batch_size=128, target=0.95, steps=1000),
}


def count_params(params: Any) -> int:
    return sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))

"""What an optimizer entry is: a factory, its optax reference and the defaults the suite uses.

The runner and the CLI only ever go through `optimizers.OPTIMIZERS` (name -> OptimizerSpec).
The runner calls `spec.factory(learning_rate=lr, **spec.hyperparams)` with `lr` a traced
scalar (one per run, vmapped), so every factory must accept a traced learning rate.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import optax


class OptimizerSpec(NamedTuple):
    factory: Callable[..., optax.GradientTransformation]
    optax_reference: Callable[..., optax.GradientTransformation]
    hyperparams: dict[str, Any]
    learning_rates: tuple[float, ...]
    description: str
    paper: str
    full_batch: bool = False

"""Per-parameter learning-rate multipliers, applied after the learning rate (muP's per-layer rates).

`chain(adam(lr), scale_by_tree(multipliers))` is Adam with learning rate lr * m on a parameter
whose multiplier is m (the same up to rounding: u = (-lr * d) * m instead of -(lr * m) * d); with
weight decay inside the chain (adamw), the decay term is scaled alike, as a per-parameter
learning rate scales it in optax. The multipliers come from the init strategy
(`inits.Strategy.lr_multipliers`, e.g. muP's), as a tree shaped like the params.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax


def scale_by_tree(multipliers: Any) -> optax.GradientTransformation:
    """u = m * g leaf by leaf, m the matching leaf of `multipliers` (same tree structure as the params).

    A multiplier is a Python number or a scalar array (traced too: under the runner's vmap each run
    may carry its own), cast to the update's dtype. Stateless.
    """

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        del params
        scaled = jax.tree.map(lambda g, m: jnp.asarray(m, dtype=g.dtype) * g, updates, multipliers)
        return scaled, state

    return optax.GradientTransformation(init_fn, update_fn)

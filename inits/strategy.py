"""What an init strategy is: how to initialize a model's kernels and biases.

The runner and the CLI only ever go through `inits.STRATEGIES` (name -> Strategy).
A model takes `kernel_init` and `bias_init` (plain Flax initializers); a data-dependent
strategy also has `post_init(model, params, x) -> params`, a pure function of a batch.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Protocol

import jax


class Initializer(Protocol):
    def __call__(self, key: jax.Array, shape: tuple[int, ...], dtype: Any = ...) -> jax.Array: ...


# post_init(model, params, x) -> params: pure, so it works under jit and vmap.
PostInit = Callable[[Any, Any, jax.Array], Any]


class Strategy(NamedTuple):
    kernel_init: Initializer
    bias_init: Initializer
    description: str
    reference: str
    post_init: Optional[PostInit] = None

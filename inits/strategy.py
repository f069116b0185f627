"""What an init strategy is: how to initialize a model's kernels and biases.

The runner and the CLI only ever go through `inits.STRATEGIES` (name -> Strategy).
A model takes `kernel_init` and `bias_init` (plain Flax initializers); a data-dependent
strategy also has `post_init(model, params, x) -> params`, a pure function of a batch.
A strategy that needs architecture facts (residual branches, which layer is the read-out)
reads them from the model in `post_init`, and raises `NotApplicableError` (a ValueError, one
line) for a model it cannot handle; `applies_to` asks that question without computing anything.
A strategy may also set per-parameter learning-rate multipliers (muP): `lr_multipliers(model,
params, x, rule) -> a tree like the bare params of static floats`, rule "adam" or "sgd", for
`optimizers.multipliers.scale_by_tree` to apply after the learning rate.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Protocol

import jax


class Initializer(Protocol):
    def __call__(self, key: jax.Array, shape: tuple[int, ...], dtype: Any = ...) -> jax.Array: ...


# post_init(model, params, x) -> params: pure, so it works under jit and vmap.
PostInit = Callable[[Any, Any, jax.Array], Any]
# lr_multipliers(model, params, x, rule) -> {bare params tree of floats}; rule is "adam" or "sgd".
LrMultipliers = Callable[[Any, Any, jax.Array, str], Any]


class NotApplicableError(ValueError):
    """This strategy cannot initialize this model (Fixup on a net with no residual branch, muP on a CNN)."""


class Strategy(NamedTuple):
    """A named way to initialize a model: what `inits.STRATEGIES` maps each name to.

    Attributes:
        kernel_init: the Flax initializer of every Dense and Conv kernel.
        bias_init: the initializer of every bias (zeros for every built-in strategy).
        description: one line, as `python -m bench list` prints it.
        reference: the paper it comes from.
        post_init: `post_init(model, params, x) -> params`, a pure data- or architecture-dependent
            step after `model.init` (LSUV, Krähenbühl, Fixup, muP), or None.
        lr_multipliers: `lr_multipliers(model, params, x, rule) -> tree of floats`, per-parameter
            learning-rate multipliers for rule "adam" or "sgd" (muP), or None.
    """

    kernel_init: Initializer
    bias_init: Initializer
    description: str
    reference: str
    post_init: Optional[PostInit] = None
    lr_multipliers: Optional[LrMultipliers] = None


def check_applies(strategy: Strategy, model, variables, x) -> None:
    """Raise `NotApplicableError` (one line, naming the model) if `strategy` cannot initialize `model`.

    `variables` and `x` may be abstract (`jax.eval_shape(model.init, key, x)`, a
    `jax.ShapeDtypeStruct`): only shapes are traced, nothing is computed.
    """
    if strategy.post_init is not None:
        jax.eval_shape(lambda variables, x: strategy.post_init(model, variables, x), variables, x)
    if strategy.lr_multipliers is not None:
        strategy.lr_multipliers(model, variables, x, "adam")


def applies_to(strategy: Strategy, model, variables, x) -> bool:
    """True when `strategy` can initialize `model` (see `check_applies`)."""
    try:
        check_applies(strategy, model, variables, x)
    except NotApplicableError:
        return False
    return True

"""What an optimizer entry is: a factory, its optax reference, the defaults the suite uses, and
the space its hyperparameters are tuned over.

The runner and the CLI only ever go through `optimizers.OPTIMIZERS` (name -> OptimizerSpec).
The runner calls `spec.factory(learning_rate=lr, **spec.hyperparams)` with `lr` a traced
scalar (one per run, vmapped), so every factory must accept a traced learning rate; a tuning
run also passes traced values for the arguments its search space feeds
(`spec.factory(**{**spec.hyperparams, **{d.argument: value}})`). Every argument that
`numeric_arguments(factory)` lists may be traced; the others (flags, masks, dtypes, loop
counts, shape thresholds) are static per compiled program.
"""
from __future__ import annotations

import inspect
import numbers
from typing import Any, Callable, Mapping, NamedTuple, Optional

import optax

SCALES = ("log", "one_minus_log", "linear")

# Arguments that default to None but take a number (a traced one too): None switches a part off.
NUMERIC_WHEN_GIVEN = frozenset({
    "learning_rate", "momentum", "weight_decay", "weight_decay_rate", "beta3", "consistent_rms",
    "adam_learning_rate", "warmup_steps",
})
# Numeric arguments that decide the program's structure, so must be plain Python numbers:
# a loop count and a shape threshold.
STRUCTURAL = frozenset({"ns_steps", "min_dim_size_to_factor"})


def numeric_arguments(factory: Callable) -> tuple[str, ...]:
    """The factory's arguments that take numbers and may be traced (vmapped per run): those
    whose default is a real number or a tuple of them (prodigy's betas, muon's ns_coeffs),
    and the None-defaulted ones of NUMERIC_WHEN_GIVEN; never flags, masks, dtypes or STRUCTURAL."""
    names = []
    for name, parameter in inspect.signature(factory).parameters.items():
        default = parameter.default
        is_number = isinstance(default, numbers.Real) and not isinstance(default, bool)
        is_numbers = isinstance(default, tuple) and all(isinstance(x, numbers.Real) for x in default)
        takes_number = default is inspect.Parameter.empty or default is None
        if name not in STRUCTURAL and (is_number or is_numbers or (takes_number and name in NUMERIC_WHEN_GIVEN)):
            names.append(name)
    return tuple(names)


class SearchDimension(NamedTuple):
    """One tunable hyperparameter, sampled between `low` and `high` (both in the argument's own
    units) on `scale`: "log" (log-uniform), "one_minus_log" (1 - value log-uniform, for decay
    rates near 1), or "linear"; the value is passed to the factory as `argument`."""

    argument: str
    scale: str
    low: float
    high: float


class OptimizerSpec(NamedTuple):
    """factory, its optax twin, the fixed hyperparameters the suite's runs use (beyond the
    learning rate), the default learning-rate grid, a one-line update rule, the paper.

    full_batch: gradients over the whole training set (gradient descent). search_space: name ->
    SearchDimension, what a tuning run varies, and search_space_source its citation.
    eval_params: for methods whose training iterate is not the one to evaluate (schedule-free),
    `eval_params(opt_state, params) -> params` gives the evaluation point. decays: False for a
    method that replaces the decay itself (schedule-free): a suite that decays the rate gives it
    the warm-up, then holds the peak (Defazio et al. 2024 train so). takes_schedule: False
    for a factory whose learning_rate must be a number (not optax's ScalarOrSchedule): a
    decayed run then multiplies its updates by the schedule over the peak.
    """

    factory: Callable[..., optax.GradientTransformation]
    optax_reference: Callable[..., optax.GradientTransformation]
    hyperparams: dict[str, Any]
    learning_rates: tuple[float, ...]
    description: str
    paper: str
    full_batch: bool = False
    search_space: Mapping[str, SearchDimension] = {}
    search_space_source: str = ""
    eval_params: Optional[Callable[[Any, Any], Any]] = None
    decays: bool = True
    takes_schedule: bool = True

"""muP, the maximal update parametrization (Yang et al. 2021, Tensor Programs V, Table 3), for MLPs.

Which layer is which comes from the model (`mlp_layers`: its Dense layers in forward order): the
first is the input layer (its fan_in, the data's dimension, is finite), the last the output layer
(its fan_out, the number of classes, is finite), the rest hidden; every other dimension is a
width. Relative to a base width B, a width n has multiplier r = n / B, a finite dimension r = 1.

Init: input and hidden kernels Var = 1/fan_in (the strategy's kernel_init, `lecun_normal`);
output kernel Var = B / fan_in^2, i.e. Table 3's 1/fan_in^2 anchored so that at the base width
muP is exactly standard (LeCun) parametrization. This is what the `mup` package does by default
(MuReadout's 1/r output multiplier with its init rescaled by sqrt(r) in `set_base_shapes`,
folded into the weight); Table 3's other allowed choice, a zero output layer, is not taken.
Biases start at 0 (Table 3 allows any width-independent init).

Learning-rate multipliers, relative to the rate tuned at the base width (Table 3, as the `mup`
package's MuAdam and MuSGD apply them), with r_in and r_out the multipliers of a kernel's fans:

    Adam (and other per-coordinate normalized updates)  kernel: 1 / r_in          bias: 1
    SGD (with or without momentum)                       kernel: r_out / r_in      bias: r_out

So under Adam the input layer and biases keep the base rate, hidden and output kernels get B/n;
under SGD the input layer and hidden biases get n/B, hidden kernels 1, the output kernel B/n,
the output bias 1. `optimizers.multipliers.scale_by_tree` applies them after the learning rate.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import flax.linen as nn
import jax

from inits import fan_scaling, simple
from inits.data_dependent import find_layers, get_at, replace_at
from inits.strategy import NotApplicableError, Strategy

YANG = ("Yang et al. 2021, Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter "
        "Transfer (Table 3)")
BASE_WIDTH = 64
RULES = ("adam", "sgd")


class NotMLPError(NotApplicableError):
    """muP (as built here) was given a model that is not an MLP of Dense layers."""


class MLPLayer(NamedTuple):
    """One Dense layer of an MLP as muP sees it: its path in the params, its role ("input",
    "hidden" or "output") and its fans."""

    path: tuple[str, ...]
    role: str  # "input", "hidden" or "output"
    fan_in: int
    fan_out: int


def mlp_layers(model: nn.Module, variables, x) -> list[MLPLayer]:
    """The model's Dense layers in forward order with their role; `NotMLPError` for anything but an MLP.

    `variables` may be abstract (`jax.eval_shape(model.init, ...)`): only kernel shapes are read.
    """
    params = variables["params"] if "params" in variables else variables
    layers = find_layers(model, {"params": params}, x)
    convs = [layer for _, layer in layers if not isinstance(layer, nn.Dense)]
    if convs or len(layers) < 2:
        has = f"{type(convs[0]).__name__} layers" if convs else f"{len(layers)} Dense layer(s)"
        raise NotMLPError(f"mup needs an MLP (two or more Dense layers, nothing else); {type(model).__name__} has {has}")
    roles = ["input"] + ["hidden"] * (len(layers) - 2) + ["output"]
    found = []
    for (path, _), role in zip(layers, roles):
        fan_in, fan_out = get_at(params, path + ("kernel",)).shape
        found.append(MLPLayer(path, role, int(fan_in), int(fan_out)))
    return found


def width_multipliers(layer: MLPLayer, base_width: int) -> tuple[float, float]:
    """(r_in, r_out): fan / base_width for a width, 1 for the data's dimension and the classes."""
    r_in = 1.0 if layer.role == "input" else layer.fan_in / base_width
    r_out = 1.0 if layer.role == "output" else layer.fan_out / base_width
    return r_in, r_out


def mup_init(model: nn.Module, params, x: jax.Array, *, base_width: int = BASE_WIDTH):
    """Rescale the output kernel (from Var 1/fan_in) to Var base_width / fan_in^2; the rest as made.

    `params` is what `model.init` returns or the bare params tree; the result has the same structure.
    """
    wrapped = "params" in params
    tree = params["params"] if wrapped else params
    output = mlp_layers(model, tree, x)[-1]
    kernel = get_at(tree, output.path + ("kernel",))
    factor = math.sqrt(base_width / output.fan_in)
    tree = replace_at(tree, output.path + ("kernel",), (kernel * factor).astype(kernel.dtype))
    return {**params, "params": tree} if wrapped else tree


def mup_lr_multipliers(model: nn.Module, params, x: jax.Array, rule: str, *, base_width: int = BASE_WIDTH):
    """A tree like the bare params of Python floats: each parameter's learning-rate multiplier (see above).

    rule: "adam" or "sgd". Parameters outside the Dense layers (none in a plain MLP) get 1.
    Static: a function of the params' shapes, so `params` may be abstract.
    """
    if rule not in RULES:
        raise ValueError(f"unknown muP learning-rate rule {rule!r}; expected one of {RULES}")
    tree = params["params"] if "params" in params else params
    multipliers = jax.tree.map(lambda _: 1.0, tree)
    for layer in mlp_layers(model, tree, x):
        r_in, r_out = width_multipliers(layer, base_width)
        kernel, bias = (1 / r_in, 1.0) if rule == "adam" else (r_out / r_in, r_out)
        multipliers = replace_at(multipliers, layer.path + ("kernel",), kernel)
        if "bias" in get_at(tree, layer.path):
            multipliers = replace_at(multipliers, layer.path + ("bias",), bias)
    return multipliers


def mup_strategy(base_width: int = BASE_WIDTH) -> Strategy:
    """muP relative to `base_width`: LeCun kernels, output rescaled (`mup_init`), `mup_lr_multipliers`."""
    return Strategy(
        kernel_init=fan_scaling.lecun_normal(), bias_init=simple.zeros,
        description=f"muP (base width {base_width}): Var 1/fan_in, output Var {base_width}/fan_in^2, "
                    f"per-layer learning rates (Adam: hidden and output x {base_width}/width)",
        reference=YANG,
        post_init=functools.partial(mup_init, base_width=base_width),
        lr_multipliers=functools.partial(mup_lr_multipliers, base_width=base_width))

"""Layer-sequential unit-variance (LSUV) initialization: Mishkin & Matas 2016, "All you need is a good init".

Starting from (orthogonal) kernels, walk every Dense and Conv layer in forward order; for each,
feed the batch through the net (earlier layers already rescaled), and rescale the layer's kernel
W <- W / sqrt(Var(layer output)) until |Var(output) - 1| <= tol or `max_iters` rescalings.
Var is taken over every output entry (batch, positions and features), as in the paper.

Pure: a function of (params, x) with fixed trip counts and no data-dependent Python control
flow, so it runs under `jit` and `vmap`. It finds the layers of any `flax.linen` Module by
intercepting their `__call__` (`nn.intercept_methods`), so the model needs no LSUV hooks.
Compiled size: per layer, one forward pass that captures the layer's input (XLA prunes the
part after the layer), then a `lax.fori_loop` that re-applies only that layer.
Limits: the model's apply must take just (variables, x); layers inside `nn.scan`/`nn.remat`
transforms are not reached (their inputs are traced in an inner scope).
"""
from __future__ import annotations

from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

MISHKIN = "Mishkin & Matas 2016, All you need is a good init (ICLR)"
RESCALED_LAYERS = (nn.Dense, nn.Conv)


def is_layer_call(context) -> bool:
    """True for the `__call__` of a Dense or Conv (subclasses included), in `nn.intercept_methods`."""
    return context.method_name == "__call__" and isinstance(context.module, RESCALED_LAYERS)


def find_layers(model: nn.Module, variables, x) -> list[tuple[tuple[str, ...], nn.Module]]:
    """(path, unbound copy) of each Dense/Conv, in order of first call. Shapes only: no compute."""
    found: dict[tuple[str, ...], nn.Module] = {}

    def record(next_fun, args, kwargs, context):
        if is_layer_call(context):
            found.setdefault(tuple(context.module.scope.path), context.module.clone(parent=None))
        return next_fun(*args, **kwargs)

    def apply(variables, x):
        with nn.intercept_methods(record):
            return model.apply(variables, x)

    jax.eval_shape(apply, variables, x)
    return list(found.items())


def _layer_input(model: nn.Module, variables, x, path: tuple[str, ...]) -> jax.Array:
    """The input of the layer at `path` on its first call, from one forward pass."""
    captured: list[jax.Array] = []

    def capture(next_fun, args, kwargs, context):
        if is_layer_call(context) and tuple(context.module.scope.path) == path and not captured:
            captured.append(args[0])
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(capture):
        model.apply(variables, x)
    return captured[0]


def _get(tree: Mapping, path: tuple[str, ...]) -> Any:
    for name in path:
        tree = tree[name]
    return tree


def _set(tree: Mapping, path: tuple[str, ...], value: Any) -> dict:
    """A copy of `tree` with `tree[path]` replaced; the rest shared."""
    head, *rest = path
    return {**tree, head: _set(tree[head], tuple(rest), value) if rest else value}


def _unit_variance_kernel(layer: nn.Module, layer_params, layer_input, tol: float, max_iters: int) -> jax.Array:
    """The layer's kernel, rescaled up to `max_iters` times towards Var(output) = 1."""

    def rescale(_, kernel):
        output = layer.apply({"params": {**layer_params, "kernel": kernel}}, layer_input)
        variance = jnp.var(output.astype(jnp.float32))
        # A dead layer (variance 0) or a non-finite one has no scale to fix: leave it as it is.
        fixable = (variance > 0) & jnp.isfinite(variance) & (jnp.abs(variance - 1) > tol)
        factor = jnp.where(fixable, lax.rsqrt(jnp.where(fixable, variance, 1.0)), 1.0)
        return (kernel * factor).astype(kernel.dtype)

    return lax.fori_loop(0, max_iters, rescale, layer_params["kernel"])


def lsuv(model: nn.Module, params, x: jax.Array, *, tol: float = 0.1, max_iters: int = 10):
    """LSUV (Mishkin & Matas 2016): rescale each Dense/Conv kernel so its output variance on `x` is 1 +- tol.

    `params` is what `model.init` returns (`{"params": ...}`, other collections kept) or the bare
    params tree; the result has the same structure. Biases are left alone.
    """
    wrapped = "params" in params
    variables = dict(params) if wrapped else {"params": params}
    for path, layer in find_layers(model, variables, x):
        layer_input = _layer_input(model, variables, x, path)
        layer_params = _get(variables["params"], path)
        kernel = _unit_variance_kernel(layer, layer_params, layer_input, tol, max_iters)
        variables["params"] = _set(variables["params"], path + ("kernel",), kernel)
    return variables if wrapped else variables["params"]

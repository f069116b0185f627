"""Data-dependent initializations: each Dense and Conv layer, in forward order, fixed on a batch.

Both walk every Dense and Conv layer in forward order; for each, they feed the batch through the
net (earlier layers already fixed), take the layer's input, and replace the layer's params by a
function of its output on that input (`_layer_by_layer`):

* `lsuv`, layer-sequential unit variance (Mishkin & Matas 2016, "All you need is a good init"):
  starting from orthogonal kernels, W <- W / sqrt(Var(layer output)) until |Var - 1| <= tol or
  `max_iters` rescalings, Var taken over every output entry (batch, positions and features).
* `kraehenbuehl`, within-layer initialization (Kraehenbuehl et al. 2016, Algorithm 1): each output
  unit i (a Dense feature or a Conv channel) gets W_i <- W_i / sigma_i and b_i <- (b_i - mu_i) /
  sigma_i, mu_i and sigma_i its pre-activation mean and std over the batch (and positions), so
  every unit's pre-activation has mean 0 and variance 1 on the batch, exactly.

Pure: functions of (params, x) with fixed trip counts and no data-dependent Python control flow,
so they run under `jit` and `vmap`. They find the layers of any `flax.linen` Module by
intercepting their `__call__` (`nn.intercept_methods`), so the model needs no hooks.
Compiled size: per layer, one forward pass that captures the layer's input (XLA prunes the
part after the layer), then the layer alone re-applied (LSUV: in a `lax.fori_loop`).
Limits: the model's apply must take just (variables, x); layers inside `nn.scan`/`nn.remat`
transforms are not reached (their inputs are traced in an inner scope).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

MISHKIN = "Mishkin & Matas 2016, All you need is a good init (ICLR)"
KRAEHENBUEHL = ("Kraehenbuehl, Doersch, Donahue & Darrell 2016, Data-dependent Initializations of "
                "Convolutional Neural Networks (ICLR)")
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


def get_at(tree: Mapping, path: tuple[str, ...]) -> Any:
    for name in path:
        tree = tree[name]
    return tree


def replace_at(tree: Mapping, path: tuple[str, ...], value: Any) -> dict:
    """A copy of `tree` with `tree[path]` replaced; the rest shared."""
    head, *rest = path
    return {**tree, head: replace_at(tree[head], tuple(rest), value) if rest else value}


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


def _layer_by_layer(model: nn.Module, params, x: jax.Array, fix_layer: Callable[[nn.Module, Any, jax.Array], Any]):
    """Each Dense/Conv in forward order: its params <- fix_layer(layer, its params, its input on `x`).

    `params` is what `model.init` returns (`{"params": ...}`, other collections kept) or the bare
    params tree; the result has the same structure.
    """
    wrapped = "params" in params
    variables = dict(params) if wrapped else {"params": params}
    for path, layer in find_layers(model, variables, x):
        layer_input = _layer_input(model, variables, x, path)
        layer_params = fix_layer(layer, get_at(variables["params"], path), layer_input)
        variables["params"] = replace_at(variables["params"], path, layer_params)
    return variables if wrapped else variables["params"]


def lsuv(model: nn.Module, params, x: jax.Array, *, tol: float = 0.1, max_iters: int = 10):
    """LSUV (Mishkin & Matas 2016): rescale each Dense/Conv kernel so its output variance on `x` is 1 +- tol.

    `params` is what `model.init` returns (`{"params": ...}`, other collections kept) or the bare
    params tree; the result has the same structure. Biases are left alone.
    """

    def unit_variance(layer, layer_params, layer_input):
        return {**layer_params, "kernel": _unit_variance_kernel(layer, layer_params, layer_input, tol, max_iters)}

    return _layer_by_layer(model, params, x, unit_variance)


def _standardized_units(layer: nn.Module, layer_params, layer_input) -> dict:
    """The layer's params with every output unit's pre-activation at mean 0, variance 1 on the input."""
    output = layer.apply({"params": layer_params}, layer_input).astype(jnp.float32)
    unit_axes = tuple(range(output.ndim - 1))  # all but the features: batch and positions
    mean, std = jnp.mean(output, unit_axes), jnp.std(output, unit_axes)
    # A dead unit (std 0) or a non-finite one has no scale to fix: leave it as it is.
    fixable = (std > 0) & jnp.isfinite(std) & jnp.isfinite(mean)
    inverse_std = jnp.where(fixable, 1 / jnp.where(fixable, std, 1.0), 1.0)
    fixed = dict(layer_params)
    kernel = layer_params["kernel"]
    fixed["kernel"] = (kernel * inverse_std).astype(kernel.dtype)  # the last kernel axis is the unit's
    if "bias" in layer_params:
        bias = layer_params["bias"]
        fixed["bias"] = ((bias - jnp.where(fixable, mean, 0.0)) * inverse_std).astype(bias.dtype)
    return fixed


def kraehenbuehl(model: nn.Module, params, x: jax.Array):
    """Within-layer data-dependent init (Kraehenbuehl et al. 2016, Algorithm 1), target mean 0.

    For each Dense/Conv in forward order, on the batch `x` (earlier layers already fixed), each
    output unit i, with pre-activation z_i = W_i x + b_i of mean mu_i and std sigma_i over the
    batch and positions, becomes W_i <- W_i / sigma_i, b_i <- (b_i - mu_i) / sigma_i: its
    pre-activation then has mean 0 and variance 1 on `x`. A layer without a bias is only scaled
    (its mean stays). Units with sigma = 0 are left alone. One pass: the fix is exact, not iterated.

    Why this and not GradInit (Zhu et al. 2021): GradInit learns per-layer scales by running the
    optimizer it will train with (its kind and learning rate) on a few batches, so the init would
    depend on the optimizer under test, which this benchmark keeps apart; Kraehenbuehl's rule
    depends on the batch alone and is exact in one pass. Their between-layer rescaling
    (Algorithm 2, equalizing each layer's rate of change, iterated with backpropagated gradients)
    is not done here.
    """
    return _layer_by_layer(model, params, x, _standardized_units)

"""Residual networks for initializers: what a model marks, what Fixup (Zhang, Dauphin & Ma 2019) does.

The contract: a model is Fixup-ready when each residual branch F in y = shortcut(x) + F(x) is a
module that subclasses `ResidualBranch`, and the shortcut (identity, or a projection) is computed
outside it. `find_residual_branches` finds those modules by intercepting their `__call__`
(`nn.intercept_methods`, the walk LSUV makes), so nothing else about the model is assumed: any
`flax.linen` model, any nesting, Dense or Conv (subclasses too, e.g. bench's PatchConv). A layer
belongs to the innermost branch it is called in. The model's apply must take just (variables, x).
For the branch to add exactly 0 at init, nothing but `Scale` and `Bias` may follow its last
Dense/Conv (an activation f with f(0) != 0 there would leak).

Fixup also wants a scalar bias (init 0) before each convolution, linear layer and element-wise
activation in a branch, and a scalar multiplier (init 1) per branch: `Bias` and `Scale`. Their
init is fixed (not the strategy's bias_init), so under any strategy they start as the identity.

A residual MLP, m = 2 Dense layers per branch (runnable as it stands; tests/inits/test_fixup.py
runs both examples)::

    from typing import Callable

    import flax.linen as nn
    import jax.numpy as jnp

    from inits.residual import Bias, ResidualBranch, Scale

    class MLPBranch(ResidualBranch):
        width: int
        kernel_init: Callable = nn.initializers.lecun_normal()
        bias_init: Callable = nn.initializers.zeros_init()

        @nn.compact
        def __call__(self, x):
            dense = lambda: nn.Dense(self.width, kernel_init=self.kernel_init, bias_init=self.bias_init)
            x = nn.relu(Bias()(dense()(Bias()(x))))
            return Bias()(Scale()(dense()(Bias()(x))))

    class ResidualMLP(nn.Module):
        width: int
        depth: int
        num_classes: int
        kernel_init: Callable = nn.initializers.lecun_normal()
        bias_init: Callable = nn.initializers.zeros_init()

        @nn.compact
        def __call__(self, x):
            x = nn.Dense(self.width, kernel_init=self.kernel_init, bias_init=self.bias_init)(x)
            for _ in range(self.depth):
                x = nn.relu(x + MLPBranch(self.width, self.kernel_init, self.bias_init)(x))
            return nn.Dense(self.num_classes, kernel_init=self.kernel_init, bias_init=self.bias_init)(Bias()(x))

A ResNet without normalization (CIFAR ResNet-20: `stages=(16, 32, 64)`, `blocks=3`), m = 2
convolutions per branch; the shortcut, identity or a strided 1x1 projection, stays outside::

    class ConvBranch(ResidualBranch):
        features: int
        strides: int
        kernel_init: Callable = nn.initializers.lecun_normal()

        @nn.compact
        def __call__(self, x):
            conv = lambda strides: nn.Conv(self.features, (3, 3), strides, use_bias=False,
                                           kernel_init=self.kernel_init)
            x = nn.relu(Bias()(conv(self.strides)(Bias()(x))))
            return Bias()(Scale()(conv(1)(Bias()(x))))

    class ResNet(nn.Module):
        stages: tuple
        blocks: int
        num_classes: int
        kernel_init: Callable = nn.initializers.lecun_normal()
        bias_init: Callable = nn.initializers.zeros_init()

        @nn.compact
        def __call__(self, x):
            x = nn.relu(Bias()(nn.Conv(self.stages[0], (3, 3), use_bias=False, kernel_init=self.kernel_init)(x)))
            for stage, features in enumerate(self.stages):
                for block in range(self.blocks):
                    strides = 2 if stage > 0 and block == 0 else 1
                    shortcut = x
                    if strides != 1 or x.shape[-1] != features:
                        shortcut = nn.Conv(features, (1, 1), strides, use_bias=False,
                                           kernel_init=self.kernel_init)(x)
                    x = nn.relu(shortcut + ConvBranch(features, strides, self.kernel_init)(x))
            x = jnp.mean(x, axis=(1, 2))
            return nn.Dense(self.num_classes, kernel_init=self.kernel_init, bias_init=self.bias_init)(Bias()(x))

Fixup then finds L = 9 branches of m = 2 in ResNet((16, 32, 64), 3, 10): their second
convolutions and the classifier zeroed, their first convolutions x 9^(-1/2), the stem and
projection convolutions left He-initialized.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from inits.data_dependent import find_layers, get_at, is_layer_call, replace_at
from inits.strategy import NotApplicableError

ZHANG = "Zhang, Dauphin & Ma 2019, Fixup Initialization: Residual Learning Without Normalization (ICLR)"

LayerPath = tuple[str, ...]


class NotResidualError(NotApplicableError):
    """A strategy that needs residual branches (Fixup) was given a model with none."""


class ResidualBranch(nn.Module):
    """Marker base class: subclass it for the module computing F in y = shortcut(x) + F(x)."""


class Bias(nn.Module):
    """x + b, with b one learnable scalar initialized at 0 (Fixup's scalar bias)."""

    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        return x + self.param("bias", nn.initializers.zeros_init(), (), self.param_dtype)


class Scale(nn.Module):
    """x * s, with s one learnable scalar initialized at 1 (Fixup's multiplier, one per branch)."""

    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        return x * self.param("scale", nn.initializers.ones_init(), (), self.param_dtype)


def find_residual_branches(model: nn.Module, variables, x) -> list[tuple[LayerPath, ...]]:
    """Each `ResidualBranch`'s Dense/Conv layer paths, branches and layers in order of first call.

    Shapes only (`jax.eval_shape`): no compute. A branch with no Dense/Conv layer is left out.
    """
    branches: dict[LayerPath, list[LayerPath]] = {}
    open_branches: list[LayerPath] = []

    def record(next_fun, args, kwargs, context):
        if context.method_name == "__call__" and isinstance(context.module, ResidualBranch):
            path = tuple(context.module.scope.path)
            branches.setdefault(path, [])
            open_branches.append(path)
            try:
                return next_fun(*args, **kwargs)
            finally:
                open_branches.pop()
        if is_layer_call(context) and open_branches:
            layers = branches[open_branches[-1]]
            path = tuple(context.module.scope.path)
            if path not in layers:
                layers.append(path)
        return next_fun(*args, **kwargs)

    def apply(variables, x):
        with nn.intercept_methods(record):
            return model.apply(variables, x)

    jax.eval_shape(apply, variables, x)
    return [tuple(layers) for layers in branches.values() if layers]


def fixup_branch_scale(num_branches: int, layers_per_branch: int) -> float:
    """L^(-1/(2m-2)): Fixup's factor on the He-initialized layers of a branch but its last (m > 1)."""
    return float(num_branches) ** (-1.0 / (2 * layers_per_branch - 2))


def fixup(model: nn.Module, params, x: jax.Array):
    """Fixup (Zhang et al. 2019) on kernels He-initialized by the model (the strategy's kernel_init).

    With L the number of residual branches and m a branch's number of Dense/Conv layers: the last
    layer of each branch is zeroed, its other layers scaled by L^(-1/(2m-2)), and the last
    Dense/Conv of the network (the classifier) zeroed; biases stay as the model made them (zero).
    Layers outside every branch (stem, projection shortcuts) keep their He init. At init every
    branch then outputs 0 and the net computes its shortcut path. L and m come from the model
    (`find_residual_branches`); a model with no branch raises `NotResidualError`.
    `params` is what `model.init` returns or the bare params tree; the result has the same structure.
    """
    wrapped = "params" in params
    variables = dict(params) if wrapped else {"params": params}
    branches = find_residual_branches(model, variables, x)
    if not branches:
        raise NotResidualError(f"fixup needs residual branches (inits.residual.ResidualBranch modules); "
                               f"{type(model).__name__} has none")
    tree = variables["params"]

    def scaled_kernel(tree, path, factor):
        kernel = get_at(tree, path + ("kernel",))
        scaled = jnp.zeros_like(kernel) if factor == 0 else (kernel * factor).astype(kernel.dtype)
        return replace_at(tree, path + ("kernel",), scaled)

    for layers in branches:
        *inner, last = layers
        for path in inner:
            tree = scaled_kernel(tree, path, fixup_branch_scale(len(branches), len(layers)))
        tree = scaled_kernel(tree, last, 0.0)
    classifier, _ = find_layers(model, variables, x)[-1]
    tree = scaled_kernel(tree, classifier, 0.0)
    variables["params"] = tree
    return variables if wrapped else tree

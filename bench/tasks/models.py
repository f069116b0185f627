"""The models tasks train. Each takes `kernel_init` and `bias_init`, so an init strategy decides
every Dense and Conv kernel and bias; applying one needs only the variables, whichever strategy
made them. Image models take raw pixels (uint8 0..255) and normalize them as their first op.
Convolutions are `PatchConv` (an `nn.Conv` that stays fast under a vmap over runs); `conv=nn.Conv`
gives the plain layer with the same params.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from bench.tasks.conv import PatchConv

from inits.residual import Bias, ResidualBranch, Scale

Initializer = Callable[..., jax.Array]
LECUN_NORMAL = nn.initializers.lecun_normal()
ZEROS = nn.initializers.zeros_init()


def standardize(pixels: jax.Array, mean: Sequence[float], std: Sequence[float]) -> jax.Array:
    """Raw pixels (0..255, any dtype) -> float32 (pixels / 255 - mean) / std, per channel."""
    scaled = pixels.astype(jnp.float32) / 255.0
    return (scaled - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


def _flatten(x: jax.Array) -> jax.Array:
    return x.reshape((x.shape[0], -1))


class MLP(nn.Module):
    """Dense -> ReLU for each hidden width, then a Dense read-out (no normalization, no skips)."""

    hidden: Sequence[int]
    num_classes: int
    kernel_init: Initializer = LECUN_NORMAL
    bias_init: Initializer = ZEROS

    @nn.compact
    def __call__(self, x):
        x = _flatten(x)
        for width in self.hidden:
            x = nn.relu(nn.Dense(width, kernel_init=self.kernel_init, bias_init=self.bias_init)(x))
        return nn.Dense(self.num_classes, kernel_init=self.kernel_init, bias_init=self.bias_init)(x)


class SmallCNN(nn.Module):
    """Two 3x3 convolutions with ReLU, a 2x2 average pool, then a Dense read-out."""

    features: Sequence[int]
    num_classes: int
    kernel_init: Initializer = LECUN_NORMAL
    bias_init: Initializer = ZEROS
    conv: Any = PatchConv

    @nn.compact
    def __call__(self, x):
        for index, width in enumerate(self.features):
            conv = self.conv(width, (3, 3), padding="SAME", kernel_init=self.kernel_init,
                             bias_init=self.bias_init, name=f"Conv_{index}")
            x = nn.relu(conv(x))
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        return nn.Dense(self.num_classes, kernel_init=self.kernel_init, bias_init=self.bias_init)(_flatten(x))


class Linear(nn.Module):
    """One Dense layer on the flattened input: logistic regression."""

    num_classes: int
    kernel_init: Initializer = LECUN_NORMAL
    bias_init: Initializer = ZEROS

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.num_classes, kernel_init=self.kernel_init, bias_init=self.bias_init)(_flatten(x))


class DenseBranch(ResidualBranch):
    """ReLU(Dense(x)), with Fixup's scalar biases around the Dense and its multiplier after it.

    The ReLU follows the branch's last layer (the paper's MLP adds ReLU(Dense(h))); ReLU(0) = 0,
    so a branch that Fixup zeroes still adds exactly 0.
    """

    width: int
    kernel_init: Initializer = LECUN_NORMAL
    bias_init: Initializer = ZEROS

    @nn.compact
    def __call__(self, x):
        dense = nn.Dense(self.width, kernel_init=self.kernel_init, bias_init=self.bias_init)
        return nn.relu(Bias()(Scale()(dense(Bias()(x)))))


class ResidualMLP(nn.Module):
    """MNIST-1D's MLP (Greydanus 2020): h = ReLU(Dense(x)); h + ReLU(Dense(h)); Dense read-out.

    The skip's branch is a `ResidualBranch` (L = 1 branch of m = 1 layer for Fixup); its scalar
    biases and multiplier are the identity at init, so any other strategy sees the paper's net.
    """

    width: int
    num_classes: int
    kernel_init: Initializer = LECUN_NORMAL
    bias_init: Initializer = ZEROS

    @nn.compact
    def __call__(self, x):
        h = nn.relu(nn.Dense(self.width, kernel_init=self.kernel_init, bias_init=self.bias_init)(_flatten(x)))
        h = h + DenseBranch(self.width, self.kernel_init, self.bias_init)(h)
        return nn.Dense(self.num_classes, kernel_init=self.kernel_init, bias_init=self.bias_init)(Bias()(h))


class ConvNet1D(nn.Module):
    """MNIST-1D's CNN (Greydanus 2020): Conv1d layers with ReLU, then Dense on the flattened features.

    Takes [batch, length] (one channel) or [batch, length, channels].
    """

    features: Sequence[int]
    kernel_sizes: Sequence[int]
    num_classes: int
    strides: int = 2
    padding: int = 1
    kernel_init: Initializer = LECUN_NORMAL
    bias_init: Initializer = ZEROS
    conv: Any = PatchConv

    @nn.compact
    def __call__(self, x):
        if x.ndim == 2:
            x = x[..., None]
        for index, (width, size) in enumerate(zip(self.features, self.kernel_sizes)):
            conv = self.conv(width, (size,), strides=self.strides, padding=self.padding,
                             kernel_init=self.kernel_init, bias_init=self.bias_init, name=f"Conv_{index}")
            x = nn.relu(conv(x))
        return nn.Dense(self.num_classes, kernel_init=self.kernel_init, bias_init=self.bias_init)(_flatten(x))


def gru_step(state: jax.Array, input_gates: tuple[jax.Array, ...], hidden_gates) -> jax.Array:
    """One GRU step (Cho et al. 2014; PyTorch's and Flax's convention): r = sigmoid(x_r + h_r),
    z = sigmoid(x_z + h_z), n = tanh(x_n + r * h_n), h' = (1 - z) n + z h, where (x_r, x_z, x_n)
    are the input's projections and (h_r, h_z, h_n) = hidden_gates(h) the state's."""
    x_r, x_z, x_n = input_gates
    h_r, h_z, h_n = hidden_gates(state)
    r = nn.sigmoid(x_r + h_r)
    z = nn.sigmoid(x_z + h_z)
    n = jnp.tanh(x_n + r * h_n)
    return (1.0 - z) * n + z * state


class GRULayer(nn.Module):
    """A GRU over [batch, time, features] from a zero state; returns every step's state.

    Params as Flax's `nn.GRUCell` (Dense ir, iz, in with bias; hr, hz without; hn with). The
    input projections are one Dense call each on the whole sequence. The state's Dense layers
    are called as modules on the first step, so LSUV, Fixup and diagnose (which find layers by
    intercepting their calls, and measure a layer on its first call) reach every Dense, as they
    would in a Python-unrolled loop; the other steps run in a `lax.scan` with the same kernels,
    which keeps the compiled program small (an unrolled 40-step bidirectional GRU took minutes
    to compile here).
    """

    hidden: int
    reverse: bool = False
    kernel_init: Initializer = LECUN_NORMAL
    bias_init: Initializer = ZEROS

    @nn.compact
    def __call__(self, x):
        dense = lambda name, use_bias=True: nn.Dense(self.hidden, use_bias=use_bias, kernel_init=self.kernel_init,
                                                     bias_init=self.bias_init, name=name)
        if self.reverse:
            x = x[:, ::-1]
        input_gates = (dense("ir")(x), dense("iz")(x), dense("in")(x))  # [batch, time, hidden] each
        h_r, h_z, h_n = dense("hr", False), dense("hz", False), dense("hn")
        state = jnp.zeros((x.shape[0], self.hidden), input_gates[0].dtype)
        first = gru_step(state, tuple(gates[:, 0] for gates in input_gates), lambda h: (h_r(h), h_z(h), h_n(h)))
        kernel = lambda layer: layer.variables["params"]["kernel"]
        k_r, k_z, k_n, b_n = kernel(h_r), kernel(h_z), kernel(h_n), h_n.variables["params"]["bias"]

        def step(state, gates_t):
            state = gru_step(state, gates_t, lambda h: (h @ k_r, h @ k_z, h @ k_n + b_n))
            return state, state

        rest = tuple(jnp.swapaxes(gates[:, 1:], 0, 1) for gates in input_gates)
        _, states = jax.lax.scan(step, first, rest)
        states = jnp.concatenate([first[:, None], jnp.swapaxes(states, 0, 1)], axis=1)
        return states[:, ::-1] if self.reverse else states


class BidirectionalGRU(nn.Module):
    """MNIST-1D's GRU (Greydanus 2020): a bidirectional GRU from zero states, then Dense(num_classes)
    on every time step's [forward, backward] states flattened (the paper's GRUBase read-out).

    Both the input and the recurrent kernels take the strategy's `kernel_init` (Flax's default for
    the recurrent ones would be orthogonal; PyTorch's is U(+-1/sqrt(hidden))). Takes [batch, time]
    (one feature) or [batch, time, features].
    """

    hidden: int
    num_classes: int
    kernel_init: Initializer = LECUN_NORMAL
    bias_init: Initializer = ZEROS

    @nn.compact
    def __call__(self, x):
        if x.ndim == 2:
            x = x[..., None]
        layer = dict(kernel_init=self.kernel_init, bias_init=self.bias_init)
        states = jnp.concatenate([GRULayer(self.hidden, name="forward", **layer)(x),
                                  GRULayer(self.hidden, reverse=True, name="backward", **layer)(x)], axis=-1)
        return nn.Dense(self.num_classes, **layer)(_flatten(states))


class LeNet5(nn.Module):
    """LeNet-5 as usually modernized (LeCun et al. 1998): Conv5x5(6, SAME) -> ReLU -> MaxPool2 ->
    Conv5x5(16, VALID) -> ReLU -> MaxPool2 -> Dense(120) -> ReLU -> Dense(84) -> ReLU -> Dense(classes).

    ReLU and max-pooling where the original had scaled tanh and trainable subsampling; SAME padding
    on the first convolution stands for the original's 32x32 input. Pixels are standardized with
    the data set's `mean`/`std` (on [0, 1]).
    """

    num_classes: int
    mean: Sequence[float]
    std: Sequence[float]
    kernel_init: Initializer = LECUN_NORMAL
    bias_init: Initializer = ZEROS
    conv: Any = PatchConv

    @nn.compact
    def __call__(self, x):
        x = standardize(x, self.mean, self.std)
        layer = dict(kernel_init=self.kernel_init, bias_init=self.bias_init)
        x = nn.max_pool(nn.relu(self.conv(6, (5, 5), padding="SAME", name="Conv_0", **layer)(x)), (2, 2), (2, 2))
        x = nn.max_pool(nn.relu(self.conv(16, (5, 5), padding="VALID", name="Conv_1", **layer)(x)), (2, 2), (2, 2))
        x = nn.relu(nn.Dense(120, **layer)(_flatten(x)))
        x = nn.relu(nn.Dense(84, **layer)(x))
        return nn.Dense(self.num_classes, **layer)(x)

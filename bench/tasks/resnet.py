"""ResNet-20 for CIFAR (He, Zhang, Ren & Sun 2016, "Deep residual learning", section 4.2), with
BatchNorm or with no normalization at all (Fixup-ready: Zhang, Dauphin & Ma 2019).

A 3x3 convolution of 16 channels, three stages of `blocks_per_stage` basic blocks (two 3x3
convolutions each) at 16, 32 and 64 channels, the first block of stages 2 and 3 with stride 2,
global average pooling, and a Dense read-out: 6n + 2 layers (n = 3: ResNet-20, 0.27M params).
Shortcuts are the paper's option A: identity, or on a change of shape a stride-2 subsampling
padded with zero channels (no parameters). Convolutions have no bias (in both variants, as in
He et al. and Fixup), padding 1.

- `batch_norm=True`: conv -> BN -> ReLU -> conv -> BN, added to the shortcut, then ReLU. The
  model holds "batch_stats"; `train=True` normalizes with the batch's statistics and updates the
  running ones (apply with mutable=["batch_stats"]), `train=False` uses the running ones.
- `batch_norm=False`: nothing normalizes, so the initialization alone decides whether it trains.
  Each branch is a `ResidualBranch` with Fixup's scalar biases (before each convolution and
  activation, and before the read-out) and scalar multiplier; under every strategy but Fixup they
  are the identity at init. Fixup sees L = 3n branches of m = 2 convolutions.
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from bench.tasks.conv import PatchConv
from bench.tasks.models import LECUN_NORMAL, ZEROS, Bias, Initializer, ResidualBranch, Scale, standardize

BN_MOMENTUM = 0.9  # Flax's convention: running = 0.9 running + 0.1 batch (PyTorch's momentum 0.1)
BN_EPSILON = 1e-5


def _conv(conv: Any, features: int, strides: int, kernel_init: Initializer, name: str | None = None):
    return conv(features, (3, 3), strides=strides, padding=1, use_bias=False, kernel_init=kernel_init, name=name)


def _batch_norm(train: bool):
    return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON)


def shortcut(x: jax.Array, features: int, strides: int) -> jax.Array:
    """He et al.'s option A: identity, or subsample by `strides` and pad zero channels up to `features`."""
    if strides > 1:
        x = x[:, ::strides, ::strides, :]
    extra = features - x.shape[-1]
    if extra > 0:
        x = jnp.pad(x, ((0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)))
    return x


class BatchNormBranch(ResidualBranch):
    """conv -> BN -> ReLU -> conv -> BN."""

    features: int
    strides: int
    kernel_init: Initializer = LECUN_NORMAL
    conv: Any = PatchConv

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = _conv(self.conv, self.features, self.strides, self.kernel_init, name="Conv_0")(x)
        x = nn.relu(_batch_norm(train)(x))
        return _batch_norm(train)(_conv(self.conv, self.features, 1, self.kernel_init, name="Conv_1")(x))


class FixupBranch(ResidualBranch):
    """bias -> conv -> bias -> ReLU -> bias -> conv -> multiplier -> bias (Zhang et al. 2019, Fig. 1)."""

    features: int
    strides: int
    kernel_init: Initializer = LECUN_NORMAL
    conv: Any = PatchConv

    @nn.compact
    def __call__(self, x):
        x = _conv(self.conv, self.features, self.strides, self.kernel_init, name="Conv_0")(Bias()(x))
        x = nn.relu(Bias()(x))
        return Bias()(Scale()(_conv(self.conv, self.features, 1, self.kernel_init, name="Conv_1")(Bias()(x))))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 images (n = blocks_per_stage; 3: ResNet-20), with or without BatchNorm."""

    num_classes: int
    mean: Sequence[float]
    std: Sequence[float]
    batch_norm: bool = True
    blocks_per_stage: int = 3
    widths: Sequence[int] = (16, 32, 64)
    kernel_init: Initializer = LECUN_NORMAL
    bias_init: Initializer = ZEROS
    conv: Any = PatchConv

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = standardize(x, self.mean, self.std)
        x = _conv(self.conv, self.widths[0], 1, self.kernel_init, name="stem")(x)
        x = nn.relu(_batch_norm(train)(x) if self.batch_norm else Bias()(x))
        for stage, width in enumerate(self.widths):
            for block in range(self.blocks_per_stage):
                strides = 2 if stage > 0 and block == 0 else 1
                name = f"stage{stage + 1}_block{block + 1}"
                if self.batch_norm:
                    branch = BatchNormBranch(width, strides, self.kernel_init, self.conv, name=name)(x, train)
                else:
                    branch = FixupBranch(width, strides, self.kernel_init, self.conv, name=name)(x)
                x = nn.relu(shortcut(x, width, strides) + branch)
        x = jnp.mean(x, axis=(1, 2))
        if not self.batch_norm:
            x = Bias()(x)
        return nn.Dense(self.num_classes, kernel_init=self.kernel_init, bias_init=self.bias_init)(x)

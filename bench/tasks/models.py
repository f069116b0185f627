"""The models tasks train. Each takes `kernel_init` and `bias_init`, so an init strategy decides
every Dense and Conv kernel and bias; applying one needs only the params, whichever strategy made them.
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Initializer = Callable[..., jax.Array]


class MLP(nn.Module):
    """Dense -> ReLU for each hidden width, then a Dense read-out (no normalization, no skips)."""

    hidden: Sequence[int]
    num_classes: int
    kernel_init: Initializer = nn.initializers.lecun_normal()
    bias_init: Initializer = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x):
        x = x.reshape((x.shape[0], -1))
        for width in self.hidden:
            x = nn.relu(nn.Dense(width, kernel_init=self.kernel_init, bias_init=self.bias_init)(x))
        return nn.Dense(self.num_classes, kernel_init=self.kernel_init, bias_init=self.bias_init)(x)


class PatchConv(nn.Conv):
    """`nn.Conv` (stride 1, no dilation, one group) computed as patches @ kernel.

    Under the runner's vmap every run has its own kernel, and XLA turns a convolution with a
    batched kernel into a grouped convolution, which is very slow on CPU (digits-cnn, 12 runs
    x 50 steps: 530 s). Extracting patches has no kernel, so its vmap folds the runs into the
    image batch, and the kernel enters through a batched matmul. Same params, same names,
    same init (it is an `nn.Conv` to every initializer and to LSUV), same outputs within
    float rounding.
    """

    @nn.compact
    def __call__(self, x):
        height, width = self.kernel_size
        in_features = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init,
                            (height, width, in_features, self.features), self.param_dtype)
        patches = jax.lax.conv_general_dilated_patches(
            x, (height, width), (1, 1), self.padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))
        # patch features come ordered (in_features, height, width)
        matrix = jnp.transpose(kernel, (2, 0, 1, 3)).reshape(-1, self.features)
        y = patches @ matrix
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,), self.param_dtype)
        return y


class SmallCNN(nn.Module):
    """Two 3x3 convolutions with ReLU, a 2x2 average pool, then a Dense read-out."""

    features: Sequence[int]
    num_classes: int
    kernel_init: Initializer = nn.initializers.lecun_normal()
    bias_init: Initializer = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x):
        for index, width in enumerate(self.features):
            conv = PatchConv(width, (3, 3), padding="SAME", kernel_init=self.kernel_init,
                             bias_init=self.bias_init, name=f"Conv_{index}")
            x = nn.relu(conv(x))
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        return nn.Dense(self.num_classes, kernel_init=self.kernel_init, bias_init=self.bias_init)(x)

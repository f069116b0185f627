"""`PatchConv`: `nn.Conv` computed as patches @ kernel, so a vmap over runs stays a batched matmul.

Under the runner's vmap every run has its own kernel, and XLA turns a convolution with a batched
kernel into a grouped convolution, which is very slow on CPU (digits-cnn, 12 runs x 50 steps:
530 s). Extracting patches takes no kernel, so its vmap folds the runs into the image batch, and
the kernel enters through a batched matmul.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.linear import canonicalize_padding

SPATIAL_LETTERS = "DHW"  # lax's dimension-number letters for up to three spatial axes


def _per_axis(value, rank: int) -> tuple[int, ...]:
    if value is None:
        return (1,) * rank
    return (value,) * rank if isinstance(value, int) else tuple(value)


class PatchConv(nn.Conv):
    """`nn.Conv` (1-D, 2-D or 3-D; any strides, dilations and SAME/VALID/explicit padding) as
    patches @ kernel.

    Same params, same names, same init (it is an `nn.Conv` to every initializer, to LSUV and to
    Fixup), same outputs and gradients within float rounding. Not supported (ValueError):
    feature_group_count > 1, masks, and CIRCULAR/REFLECT/CAUSAL padding.
    """

    @nn.compact
    def __call__(self, inputs):
        kernel_size = (self.kernel_size,) if isinstance(self.kernel_size, int) else tuple(self.kernel_size)
        rank = len(kernel_size)
        padding = canonicalize_padding(self.padding, rank)
        if self.feature_group_count != 1 or self.mask is not None or \
                padding in ("CIRCULAR", "REFLECT", "CAUSAL"):
            raise ValueError("PatchConv supports one feature group, no mask, and SAME, VALID or "
                             f"explicit padding; got feature_group_count={self.feature_group_count}, "
                             f"padding={self.padding!r}")
        batch_shape = inputs.shape[:inputs.ndim - rank - 1]
        x = inputs.reshape((math.prod(batch_shape),) + inputs.shape[len(batch_shape):])
        in_features = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, kernel_size + (in_features, self.features),
                            self.param_dtype)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) \
            if self.use_bias else None
        x, kernel, bias = self.promote_dtype(x, kernel, bias, dtype=self.dtype)
        spatial = SPATIAL_LETTERS[-rank:]
        patches = jax.lax.conv_general_dilated_patches(
            x, kernel_size, _per_axis(self.strides, rank), padding,
            lhs_dilation=_per_axis(self.input_dilation, rank),
            rhs_dilation=_per_axis(self.kernel_dilation, rank),
            dimension_numbers=(f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"),
            precision=jax.lax.Precision.HIGHEST)  # an exact copy: no bf16/tf32 rounding of inputs
        # patch features come ordered (in_features, *kernel_size)
        matrix = jnp.moveaxis(kernel, -2, 0).reshape(-1, self.features)
        y = jnp.matmul(patches, matrix, precision=self.precision)
        if bias is not None:
            y = y + bias
        return y.reshape(batch_shape + y.shape[1:])

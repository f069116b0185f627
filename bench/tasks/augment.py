"""Data augmentation on the device: pure jnp functions `augment(key, images) -> images` of a batch.

Shapes and dtypes are kept (uint8 in, uint8 out), the randomness comes from `key` alone (the
runner passes fold_in(the run's data key, step), so pairing holds), and everything vmaps.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

CIFAR_PADDING = 4


def random_crop(key: jax.Array, image: jax.Array, padding: int) -> jax.Array:
    """One [H, W, C] image zero-padded by `padding` on each side, then cropped back to H x W at a
    uniformly random offset (each of the (2 padding + 1)^2 offsets equally likely)."""
    height, width, channels = image.shape
    padded = jnp.pad(image, ((padding, padding), (padding, padding), (0, 0)))
    top, left = jax.random.randint(key, (2,), 0, 2 * padding + 1)
    return jax.lax.dynamic_slice(padded, (top, left, 0), (height, width, channels))


def random_flip(key: jax.Array, image: jax.Array) -> jax.Array:
    """One [H, W, C] image mirrored left-right with probability 1/2."""
    return jnp.where(jax.random.bernoulli(key), image[:, ::-1, :], image)


def crop_and_flip(key: jax.Array, images: jax.Array, padding: int = CIFAR_PADDING) -> jax.Array:
    """The standard CIFAR augmentation (He et al. 2016): a random crop of the image padded by 4,
    then a random horizontal flip, independently for each image of the [B, H, W, C] batch."""

    def one(key, image):
        crop_key, flip_key = jax.random.split(key)
        return random_flip(flip_key, random_crop(crop_key, image, padding))

    return jax.vmap(one)(jax.random.split(key, images.shape[0]), images)

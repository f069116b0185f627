"""CIFAR augmentation on the device: shape, dtype, determinism from the key, real crops and flips."""
import jax
import jax.numpy as jnp
import numpy as np

from bench.tasks.augment import crop_and_flip, random_crop, random_flip


def _images(n=16, size=8, channels=3, seed=0):
    return jnp.asarray(np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), dtype=np.uint8))


def test_shape_and_uint8_are_kept_and_the_key_decides():
    images = _images()
    out = crop_and_flip(jax.random.key(0), images)
    assert out.shape == images.shape and out.dtype == jnp.uint8
    np.testing.assert_array_equal(out, crop_and_flip(jax.random.key(0), images))
    assert not np.array_equal(out, crop_and_flip(jax.random.key(1), images))


def test_a_flip_is_the_mirrored_image_and_happens_about_half_the_time():
    image = _images(1)[0]
    flipped = np.asarray(jax.vmap(random_flip, (0, None))(jax.random.split(jax.random.key(0), 64), image))
    mirrored = np.asarray(image)[:, ::-1, :]
    is_mirrored = [np.array_equal(f, mirrored) for f in flipped]
    assert all(m or np.array_equal(f, image) for f, m in zip(flipped, is_mirrored))
    assert 16 <= sum(is_mirrored) <= 48


def test_a_crop_is_a_window_of_the_zero_padded_image_at_every_offset():
    image = _images(1, size=6)[0]
    padding = 2
    padded = np.pad(np.asarray(image), ((padding, padding), (padding, padding), (0, 0)))
    offsets = set()
    crops = jax.vmap(random_crop, (0, None, None))(jax.random.split(jax.random.key(0), 200), image, padding)
    for crop in np.asarray(crops):
        matches = [(top, left) for top in range(2 * padding + 1) for left in range(2 * padding + 1)
                   if np.array_equal(crop, padded[top:top + 6, left:left + 6])]
        assert matches, "a crop must be a window of the padded image"
        offsets.update(matches)
    assert offsets == {(top, left) for top in range(5) for left in range(5)}


def test_each_image_of_a_batch_draws_its_own_crop_and_flip():
    image = _images(1)[0]
    batch = jnp.broadcast_to(image, (32,) + image.shape)
    out = np.asarray(crop_and_flip(jax.random.key(3), batch))
    assert len({out[i].tobytes() for i in range(32)}) > 8


def test_it_jits_and_vmaps_over_runs():
    images = _images(4)
    keys = jax.random.split(jax.random.key(5), 3)
    per_run = jax.jit(jax.vmap(crop_and_flip, (0, None)))(keys, images)
    for run, key in enumerate(keys):
        np.testing.assert_array_equal(per_run[run], crop_and_flip(key, images))

"""bench.shuffle: jax.random.permutation for a batch of keys, bit for bit."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench import shuffle


@pytest.mark.parametrize("n", [0, 1, 2, 1257, 5000, 60000])  # 5,000 and up take two sorting rounds;
# 24 rows of 60,000 hold ties in their bits (about 10 tied pairs): the stable order must hold
def test_permutations_are_jaxs_bit_for_bit(n):
    keys = jax.vmap(jax.random.key)(jnp.arange(24, dtype=jnp.uint32) * 7919)
    want = jax.vmap(lambda key: jax.random.permutation(key, n))(keys)
    got = jax.jit(shuffle.permutations, static_argnums=1)(keys, n)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert shuffle.rounds(n) == (2 if n >= 5000 else 0 if n <= 1 else 1)


@pytest.mark.parametrize("high", [2**32, 40])  # ties nowhere (almost surely), ties everywhere
def test_stable_argsort_is_numpys_stable_argsort(high):
    bits = np.random.default_rng(high).integers(0, high, (16, 700), dtype=np.uint64).astype(np.uint32)
    got = jax.jit(shuffle.stable_argsort)(jnp.asarray(bits))
    np.testing.assert_array_equal(np.asarray(got), np.argsort(bits, axis=1, kind="stable"))


def test_one_tie_in_a_batch_gives_the_stable_order_everywhere():
    bits = np.random.default_rng(1).integers(0, 2**32, (8, 500), dtype=np.uint64).astype(np.uint32)
    bits[5, 300] = bits[5, 17]  # one tie, in one row
    got = jax.jit(shuffle.stable_argsort)(jnp.asarray(bits))
    np.testing.assert_array_equal(np.asarray(got), np.argsort(bits, axis=1, kind="stable"))


def test_sorting_leaves_jax_in_32_bit_mode():
    jax.jit(shuffle.stable_argsort)(jnp.arange(10, dtype=jnp.uint32).reshape(2, 5))
    assert jnp.arange(3).dtype == jnp.int32

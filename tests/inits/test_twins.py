"""Bit-identity of the hand-written twins with jax.nn.initializers."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import inits
from inits import conformance
from inits.fan_scaling import DISTRIBUTIONS, MODES

QUICK = [(name, case) for name in conformance.TWIN_NAMES for case in conformance.twin_cases(name, quick=True)]


@pytest.mark.parametrize("name,case", QUICK, ids=[f"{n}-{i}" for i, (n, _) in enumerate(QUICK)])
def test_twin_is_bit_identical(name, case):
    assert conformance.compare_with_builtin(name, case) is None


@pytest.mark.slow
@pytest.mark.parametrize("name", conformance.TWIN_NAMES)
def test_twin_is_bit_identical_full_sweep(name):
    failures = [f for f in (conformance.compare_with_builtin(name, c) for c in conformance.twin_cases(name)) if f]
    assert not failures, failures[:3]


@settings(max_examples=10, deadline=None)
@given(scale=st.sampled_from([0.5, 1.0, 2.0, 3.3]), mode=st.sampled_from(MODES),
       distribution=st.sampled_from(DISTRIBUTIONS), shape=st.sampled_from([(5, 7), (3, 3, 4, 8)]),
       seed=st.integers(0, 2**31 - 1), typed_key=st.booleans())
def test_variance_scaling_bit_identical_for_random_arguments(scale, mode, distribution, shape, seed, typed_key):
    case = conformance.Case(kwargs=dict(scale=scale, mode=mode, distribution=distribution), shape=shape,
                            typed_key=typed_key, seed=seed)
    assert conformance.compare_with_builtin("variance_scaling", case) is None


def test_the_check_itself_can_fail(monkeypatch):
    """A judge that never says no proves nothing: a twin off by one part in a million, a twin
    of the wrong shape and a twin that raises where the built-in does not must each be caught."""
    case = conformance.Case(kwargs=dict(stddev=0.02))
    assert conformance.compare_with_builtin("normal", case) is None
    monkeypatch.setattr(inits, "normal", lambda stddev, dtype=None: jax.nn.initializers.normal(stddev * (1 + 1e-6)))
    assert "entries differ" in conformance.compare_with_builtin("normal", case)
    monkeypatch.setattr(inits, "normal", lambda stddev, dtype=None: (
        lambda key, shape, dtype=jnp.float32: jnp.zeros((1,) + tuple(shape), dtype)))
    assert "built-in float32" in conformance.compare_with_builtin("normal", case)

    def raising(stddev, dtype=None):
        def init(key, shape, dtype=jnp.float32):
            raise ValueError("no")
        return init

    monkeypatch.setattr(inits, "normal", raising)
    assert "ours gave an error" in conformance.compare_with_builtin("normal", case)


def test_aliases_are_the_same_factories():
    assert inits.xavier_uniform is inits.glorot_uniform and inits.xavier_normal is inits.glorot_normal
    assert inits.kaiming_uniform is inits.he_uniform and inits.kaiming_normal is inits.he_normal


def test_compute_fans_counts_the_receptive_field():
    assert inits.compute_fans((3, 3, 4, 8)) == (36, 72)
    assert inits.compute_fans((2, 3, 4, 5), in_axis=0, out_axis=1, batch_axis=-1) == (8, 12)


@pytest.mark.parametrize("name", ["variance_scaling", "he_normal", "glorot_uniform", "lecun_normal"])
def test_fan_based_initializers_reject_rank_below_two(name):
    factory = getattr(inits, name)
    init = factory(1.0, "fan_in", "normal") if name == "variance_scaling" else factory()
    with pytest.raises(ValueError, match="rank >= 2"):
        init(jax.random.key(0), (5,))


def test_unknown_mode_and_distribution_are_value_errors_at_construction():
    with pytest.raises(ValueError, match="invalid mode.*'fan_sum'"):
        inits.variance_scaling(1.0, "fan_sum", "normal")
    with pytest.raises(ValueError, match="invalid distribution.*'cauchy'"):
        inits.variance_scaling(1.0, "fan_in", "cauchy")


def test_orthogonal_shape_errors():
    with pytest.raises(ValueError, match="at least a 2D shape"):
        inits.orthogonal()(jax.random.key(0), (4,))
    with pytest.raises(ValueError, match="3D, 4D or 5D"):
        inits.delta_orthogonal()(jax.random.key(0), (4, 4))
    with pytest.raises(ValueError, match="fan_in"):
        inits.delta_orthogonal()(jax.random.key(0), (3, 8, 4))


def test_empty_orthogonal_kernel_is_zeros_like_the_builtin():
    assert inits.orthogonal()(jax.random.key(0), (0, 4)).shape == (0, 4)
    assert jnp.array_equal(inits.orthogonal()(jax.random.key(0), (0, 4)),
                           jax.nn.initializers.orthogonal()(jax.random.key(0), (0, 4)))

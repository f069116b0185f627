"""PatchConv equals nn.Conv (same params, outputs and gradients within float rounding)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.tasks.conv import PatchConv

CASES = [  # (input shape, conv arguments)
    ((3, 40, 1), dict(features=25, kernel_size=(5,), strides=2, padding=1)),  # MNIST-1D's first layer
    ((3, 19, 4), dict(features=5, kernel_size=(3,), strides=2, padding=1)),
    ((3, 11, 2), dict(features=3, kernel_size=(4,), strides=1, padding="SAME")),
    ((2, 9, 9, 3), dict(features=7, kernel_size=(3, 3), padding="SAME")),
    ((2, 9, 9, 3), dict(features=7, kernel_size=(3, 3), padding="VALID")),
    # ResNet-20's downsampling convolution
    ((2, 8, 8, 3), dict(features=4, kernel_size=(3, 3), strides=2, padding=1, use_bias=False)),
    ((2, 8, 8, 3), dict(features=4, kernel_size=(3, 3), strides=2, padding="SAME")),
    ((2, 7, 9, 2), dict(features=4, kernel_size=(2, 3), strides=(1, 2), padding=((1, 2), (0, 1)))),
    ((2, 9, 9, 2), dict(features=3, kernel_size=(3, 3), kernel_dilation=2, padding="SAME")),
    ((2, 10, 9, 2), dict(features=3, kernel_size=(3, 2), strides=(3, 2), kernel_dilation=(1, 2), padding="VALID")),
    ((2, 8, 8, 2), dict(features=3, kernel_size=(5, 5), strides=2, padding=3)),  # padding wider than needed
    ((2, 5, 5, 5, 2), dict(features=3, kernel_size=(3, 3, 3), strides=2, padding=1)),
    ((2, 3, 8, 8, 3), dict(features=4, kernel_size=(3, 3), padding="SAME")),  # two batch dims
    ((8, 8, 3), dict(features=4, kernel_size=(3, 3), padding="SAME")),  # no batch dim
]


@pytest.mark.parametrize("shape, arguments", CASES)
def test_same_params_outputs_and_gradients_as_flax_conv(shape, arguments):
    x = jax.random.normal(jax.random.key(1), shape)
    reference, patch = nn.Conv(**arguments), PatchConv(**arguments)
    variables = reference.init(jax.random.key(0), x)
    jax.tree_util.tree_map(np.testing.assert_array_equal, variables, patch.init(jax.random.key(0), x))

    @jax.jit
    def outputs_and_gradients(variables, x):
        loss = lambda module, variables, x: jnp.sum(jnp.sin(module.apply(variables, x)))
        return [(module.apply(variables, x), jax.grad(loss, argnums=(1, 2))(module, variables, x))
                for module in (patch, reference)]

    (got, got_grads), (expected, expected_grads) = outputs_and_gradients(variables, x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                           got_grads, expected_grads)


def test_per_run_kernels_under_vmap_match_flax_conv():
    x = jax.random.normal(jax.random.key(1), (4, 12, 12, 3))
    arguments = dict(features=5, kernel_size=(3, 3), strides=2, padding=1)
    keys = jax.random.split(jax.random.key(0), 3)
    variables = jax.vmap(lambda key: nn.Conv(**arguments).init(key, x))(keys)
    apply = lambda module: jax.jit(jax.vmap(lambda v: module.apply(v, x)))(variables)
    np.testing.assert_allclose(apply(PatchConv(**arguments)), apply(nn.Conv(**arguments)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arguments", [dict(feature_group_count=3), dict(padding="CIRCULAR"),
                                       dict(padding="CAUSAL", kernel_size=(3,)), dict(input_dilation=2)])
def test_what_it_does_not_do_is_refused(arguments):
    shape = (2, 9, 3) if arguments.get("kernel_size") == (3,) else (2, 9, 9, 3)
    arguments = {"features": 3, "kernel_size": (3, 3), **arguments}
    with pytest.raises(ValueError, match="PatchConv supports"):
        PatchConv(**arguments).init(jax.random.key(0), jnp.zeros(shape))

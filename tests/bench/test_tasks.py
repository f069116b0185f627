"""Tasks: the fixed split, the data, and every model's output shape under any strategy."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench import data
from bench.tasks import TASKS, accuracy, count_params


def test_digits_split_is_stratified_70_15_15():
    d = data.digits()
    sizes = (len(d.x_train), len(d.x_val), len(d.x_test))
    assert sum(sizes) == 1797
    assert sizes == (1257, 270, 270)
    for labels in (d.y_train, d.y_val, d.y_test):
        share = np.bincount(labels, minlength=10) / len(labels)
        np.testing.assert_allclose(share, np.bincount(d.y_train, minlength=10) / len(d.y_train), atol=0.02)
    assert d.x_train.min() >= 0.0 and d.x_train.max() <= 1.0


def test_split_does_not_depend_on_anything_but_the_data():
    data.digits.cache_clear()
    first = data.digits()
    data.digits.cache_clear()
    np.random.seed(123)
    second = data.digits()
    for a, b in zip(first[:6], second[:6]):
        np.testing.assert_array_equal(a, b)


def test_spirals_are_deterministic_balanced_and_two_class():
    d = data.spirals()
    data.spirals.cache_clear()
    again = data.spirals()
    np.testing.assert_array_equal(d.x_train, again.x_train)
    assert d.num_classes == 2 and set(np.unique(d.y_train)) == {0, 1}
    assert abs(d.y_train.mean() - 0.5) < 0.02


@pytest.mark.parametrize("name", sorted(TASKS))
def test_model_outputs_one_logit_per_class(name):
    task = TASKS[name]
    d = task.load()
    model = task.make_model(jax.nn.initializers.he_normal(), jax.nn.initializers.zeros)
    variables = model.init(jax.random.key(0), d.x_train[:4])
    logits = model.apply(variables, d.x_train[:4])
    assert logits.shape == (4, d.num_classes)
    assert count_params(variables) > 0
    assert 0 < task.target <= 1


def test_deep_task_has_twenty_hidden_layers_and_cnn_has_convolutions():
    deep = TASKS["digits-deep"]
    params = deep.make_model(jax.nn.initializers.he_normal(), jax.nn.initializers.zeros).init(
        jax.random.key(0), jnp.zeros((1, 64)))["params"]
    assert len(params) == 21  # 20 hidden + the read-out
    cnn = TASKS["digits-cnn"]
    params = cnn.make_model(jax.nn.initializers.he_normal(), jax.nn.initializers.zeros).init(
        jax.random.key(0), jnp.zeros((1, 8, 8, 1)))["params"]
    assert sum(name.startswith("Conv") for name in params) == 2
    assert params["Conv_0"]["kernel"].shape == (3, 3, 1, 16)


def test_accuracy_counts_argmax_hits():
    logits = jnp.array([[0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    assert float(accuracy(logits, jnp.array([1, 0, 0]))) == pytest.approx(2 / 3)


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_patch_conv_equals_flax_conv_with_the_same_params(padding):
    from flax import linen as nn

    from bench.tasks import PatchConv

    x = jax.random.normal(jax.random.key(1), (5, 8, 8, 3))
    reference = nn.Conv(7, (3, 3), padding=padding)
    variables = reference.init(jax.random.key(0), x)
    patch = PatchConv(7, (3, 3), padding=padding)
    same_init = patch.init(jax.random.key(0), x)
    jax.tree_util.tree_map(np.testing.assert_array_equal, variables, same_init)
    np.testing.assert_allclose(patch.apply(variables, x), reference.apply(variables, x),
                               rtol=1e-5, atol=1e-5)

"""Tasks: every model's output shape under any strategy, and each task's defaults and data."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench import data
from bench.tasks import TASKS, accuracy, count_params

# The inputs each data set holds (bench/data's tests check the loaders give these), so that model
# shapes are checked without generating or downloading anything.
INPUTS = {  # task name prefix -> (input shape, dtype, classes); digits and spirals are loaded
    "mnist1d-": ((40,), np.float32, 10),
    "mnist-": ((28, 28, 1), np.uint8, 10),
    "fashion-mnist-": ((28, 28, 1), np.uint8, 10),
    "cifar10-": ((32, 32, 3), np.uint8, 10),
    "cifar100-": ((32, 32, 3), np.uint8, 100),
}


def _inputs(name, n=4):
    for prefix, (shape, dtype, classes) in INPUTS.items():
        if name.startswith(prefix):
            rng = np.random.default_rng(0)
            x = rng.integers(0, 256, (n, *shape)) if dtype == np.uint8 else rng.normal(size=(n, *shape))
            return jnp.asarray(x.astype(dtype)), classes
    dataset = TASKS[name].load()
    return dataset.x_train[:n], dataset.num_classes


@pytest.mark.parametrize("name", sorted(TASKS))
def test_model_outputs_one_logit_per_class(name):
    task = TASKS[name]
    x, classes = _inputs(name)
    model = task.make_model(jax.nn.initializers.he_normal(), jax.nn.initializers.zeros)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    assert jax.eval_shape(model.apply, variables, x).shape == (4, classes)
    assert count_params(variables) > 0


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_defaults_are_sensible(name):
    task = TASKS[name]
    assert task.name == name and task.description
    assert 0 < task.target <= 1 and task.steps > 0 and task.batch_size > 0
    assert task.published_accuracy is None or 0 < task.published_accuracy <= 1
    assert task.eval_batch_size is None or task.eval_batch_size > 0
    assert task.eval_every is None or task.steps % task.eval_every == 0
    assert (task.augment is not None) == name.startswith("cifar")


def test_mnist1d_tasks_have_the_papers_batch_steps_table_and_data(monkeypatch):
    table = {"linear": 0.32, "mlp": 0.68, "cnn": 0.94, "gru": 0.91, "shuffled-mlp": 0.68, "shuffled-cnn": 0.56}
    asked = []
    monkeypatch.setattr(data, "mnist1d", lambda shuffled=False: asked.append(shuffled))
    for model, published in table.items():
        task = TASKS[f"mnist1d-{model}"]
        assert (task.batch_size, task.steps, task.published_accuracy) == (100, 8000, published)
        task.load()
    assert asked == [name.startswith("shuffled") for name in table]


def test_deep_task_has_twenty_hidden_layers_and_cnn_has_convolutions():
    deep = TASKS["digits-deep"]
    params = jax.eval_shape(deep.make_model(jax.nn.initializers.he_normal(), jax.nn.initializers.zeros).init,
                            jax.random.key(0), jnp.zeros((1, 64)))["params"]
    assert len(params) == 21  # 20 hidden + the read-out
    cnn = TASKS["digits-cnn"]
    params = jax.eval_shape(cnn.make_model(jax.nn.initializers.he_normal(), jax.nn.initializers.zeros).init,
                            jax.random.key(0), jnp.zeros((1, 8, 8, 1)))["params"]
    assert sum(name.startswith("Conv") for name in params) == 2
    assert params["Conv_0"]["kernel"].shape == (3, 3, 1, 16)


def test_every_dense_and_conv_takes_the_strategys_initializers():
    marker = lambda key, shape, dtype=jnp.float32: jnp.full(shape, 0.125, dtype)
    for name, task in TASKS.items():
        x, _ = _inputs(name, 2)
        model = task.make_model(marker, marker)
        params = jax.jit(model.init)(jax.random.key(0), x)["params"]
        for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
            if leaf.ndim >= 1 and path[-1].key in ("kernel", "bias"):  # scalars are Fixup's, BN's are BN's
                parent = path[-2].key if len(path) > 1 else ""
                if not parent.startswith("BatchNorm"):
                    assert np.all(np.asarray(leaf) == 0.125), (name, path)


def test_accuracy_counts_argmax_hits():
    logits = jnp.array([[0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    assert float(accuracy(logits, jnp.array([1, 0, 0]))) == pytest.approx(2 / 3)

"""ResNet-20 (BatchNorm and plain) trains a few steps on a tiny fake CIFAR with plain JAX, the way the
runner will drive it: augmentation per step from the key, batch_stats carried in the train state."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bench.tasks import TASKS, cross_entropy


def _train(task_name, blocks_per_stage=3, steps=4, batch=4, lr=1e-3):
    task = TASKS[task_name]
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8))
    labels = jnp.asarray(rng.integers(0, 10, batch), jnp.int32)
    model = task.make_model(jax.nn.initializers.he_normal(), jax.nn.initializers.zeros)
    model = model.clone(blocks_per_stage=blocks_per_stage)
    variables = model.init(jax.random.key(0), images)
    params, state = variables["params"], {k: v for k, v in variables.items() if k != "params"}
    optimizer = optax.adam(lr)

    def loss_fn(params, state, x):
        if "batch_stats" in state:
            logits, updated = model.apply({"params": params, **state}, x, train=True, mutable=["batch_stats"])
            return cross_entropy(logits, labels), updated
        return cross_entropy(model.apply({"params": params}, x), labels), state

    @jax.jit
    def step(carry, index):
        params, state, opt_state = carry
        x = task.augment(jax.random.fold_in(jax.random.key(1), index), images)
        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, state, x)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), state, opt_state), loss

    loss_on_clean_batch = jax.jit(lambda params, state: loss_fn(params, state, images)[0])
    before = loss_on_clean_batch(params, state)
    (params, new_state, _), losses = jax.lax.scan(step, (params, state, optimizer.init(params)), jnp.arange(steps))
    return float(before), float(loss_on_clean_batch(params, new_state)), np.asarray(losses), state, new_state


@pytest.mark.parametrize("blocks_per_stage", [
    1,  # ResNet-8: the same code, a third of the compile time
    pytest.param(3, marks=pytest.mark.slow)])  # ResNet-20: about 10 s of CPU per variant here
@pytest.mark.parametrize("task_name", ["cifar10-resnet20", "cifar10-resnet20-plain"])
def test_resnet_trains_a_few_steps_on_a_tiny_fake_cifar(task_name, blocks_per_stage):
    before, after, losses, state, new_state = _train(task_name, blocks_per_stage)
    assert np.all(np.isfinite(losses))
    assert after < before
    if task_name == "cifar10-resnet20":
        changed = jax.tree_util.tree_map(lambda a, b: not np.allclose(a, b), state["batch_stats"],
                                         new_state["batch_stats"])
        assert all(jax.tree_util.tree_leaves(changed))
    else:
        assert new_state == {}

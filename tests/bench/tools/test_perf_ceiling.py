"""perf --ceiling: an MLP step's matmuls alone, the most a perf row's "% matmul" can read."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.errors import UsageError
from bench.tools.perf import dots_ceiling as ceiling_module


def test_the_chain_follows_the_data_through_the_dense_kernels():
    params = {"Dense_10": {"kernel": jnp.zeros((7, 3)), "bias": jnp.zeros(3)},  # sorts before Dense_2
              "Dense_0": {"kernel": jnp.zeros((5, 8))}, "Dense_2": {"kernel": jnp.zeros((8, 7))}}
    assert ceiling_module.dense_chain(params, 5, "mine") == [(5, 8), (8, 7), (7, 3)]
    assert ceiling_module.chain_flops([(5, 8), (8, 7), (7, 3)], 4) == 6 * 4 * (40 + 56 + 21)


@pytest.mark.parametrize("params, says", [
    ({"Conv_0": {"kernel": jnp.zeros((3, 3, 1, 8))}}, r"mine's weight \['Conv_0'\]\['kernel'\] has shape"),
    ({"Dense_0": {"kernel": jnp.zeros((6, 8))}}, "do not follow from 5 features"),
    ({"Dense_0": {"bias": jnp.zeros(3)}}, "mine has no dense kernel")])
def test_a_model_that_is_not_a_chain_of_dense_layers_is_one_line(params, says):
    with pytest.raises(UsageError, match=says):
        ceiling_module.dense_chain(params, 5, "mine")


def test_the_step_is_matmuls_alone_and_its_gradients_are_the_chains():
    keys = jax.random.split(jax.random.key(0), 4)
    kernels = [jax.random.normal(keys[0], (5, 8)), jax.random.normal(keys[1], (8, 3))]
    x = jax.random.normal(keys[3], (4, 5))
    found = ceiling_module.weight_gradients(kernels, x)
    y = x @ kernels[0] @ kernels[1]  # loss 0.5 |y|^2: the output's gradient is y
    np.testing.assert_allclose(found[1], (x @ kernels[0]).T @ y, rtol=1e-5)
    np.testing.assert_allclose(found[0], x.T @ (y @ kernels[1].T), rtol=1e-5)
    dots = [eqn for eqn in jax.make_jaxpr(ceiling_module.weight_gradients)(kernels, x).jaxpr.eqns
            if eqn.primitive is jax.lax.dot_general_p]
    assert len(dots) == 3 * len(kernels) - 1  # forward, weight gradients, one input gradient


def test_the_ceiling_program_takes_every_step_of_every_run():
    """Its groups, in place, each through every step: the kernels each run would reach alone."""
    chain, runs, steps = [(5, 8), (8, 3)], 4 * jax.device_count(), 3
    call, (kernels, x), group = ceiling_module.ceiling_program(chain, runs, 6, steps, width=2)
    assert group == 2
    found = call(kernels, x)
    for run in range(runs):
        alone = [np.asarray(kernel[run]) for kernel in kernels]
        for _ in range(steps):
            grads = ceiling_module.weight_gradients(alone, np.asarray(x[run]))
            alone = [kernel - 1e-6 * grad for kernel, grad in zip(alone, grads)]
        for layer in range(len(chain)):
            np.testing.assert_allclose(found[layer][run], alone[layer], rtol=1e-5, atol=1e-7)
        assert not np.allclose(found[0][run], kernels[0][run], rtol=0, atol=1e-9)  # it moved


def test_a_ceiling_run_writes_its_rounds(tmp_path):
    from bench.tools import perf

    out = tmp_path / "ceiling.json"
    found = perf.ceiling("digits-mlp", runs=4, steps=2, repeats=2, out=str(out))
    written = json.loads(out.read_text())["ceiling"]
    assert written["chain"] == [[64, 128], [128, 128], [128, 10]]
    assert written["dots_flops_per_step"] == 6 * written["batch_size"] * (64 * 128 + 128 * 128 + 128 * 10)
    assert written["flops_per_step"] > written["dots_flops_per_step"]  # the rows count the biases too
    assert len(written["rounds"]) == 2 and written["seconds"] in [r["seconds"] for r in written["rounds"]]
    for each in written["rounds"]:
        assert each["step_fraction"] == pytest.approx(
            each["dots_fraction"] * written["flops_per_step"] / written["dots_flops_per_step"])
    assert written["step_fraction_median_of_rounds"] == pytest.approx(
        np.median([each["step_fraction"] for each in written["rounds"]]))
    assert found["runs"] == 4


def test_ceiling_on_a_convolutional_task_is_one_line_and_exit_2(tmp_path, capsys):
    from bench.cli import main

    assert main(["perf", "--ceiling", "--task", "digits-cnn", "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "chain of dense layers" in err[0], err
    assert not (tmp_path / "c.json").exists()

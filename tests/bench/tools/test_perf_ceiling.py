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
    labels = jnp.zeros(4, jnp.int32)  # not read below CROSS_ENTROPY

    def weight_gradients(kernels):  # the first rung's gradients
        params = {"kernels": list(kernels), "biases": []}
        return jax.grad(lambda params: ceiling_module.rung_loss(0, params, x, labels))(params)["kernels"]

    found = weight_gradients(kernels)
    y = x @ kernels[0] @ kernels[1]  # loss 0.5 |y|^2: the output's gradient is y
    np.testing.assert_allclose(found[1], (x @ kernels[0]).T @ y, rtol=1e-5)
    np.testing.assert_allclose(found[0], x.T @ (y @ kernels[1].T), rtol=1e-5)
    dots = [eqn for eqn in jax.make_jaxpr(weight_gradients)(kernels).jaxpr.eqns
            if eqn.primitive is jax.lax.dot_general_p]
    assert len(dots) == 3 * len(kernels) - 1  # forward, weight gradients, one input gradient


def _alone(rung, spec, state, inputs, x_train, y_train, run, steps, batch_size):
    """Run `run`'s steps of `rung_step` by itself: no vmap, no groups, no devices."""
    one = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf[run]), (state, inputs))
    state, inputs = one
    step = ceiling_module.rung_step(rung, spec, batch_size)
    for i in range(steps):
        state = step(i, state, inputs, np.asarray(x_train), np.asarray(y_train))
    return state


@pytest.mark.parametrize("rung", [0, ceiling_module.GATHER])
def test_the_ceiling_program_takes_every_step_of_every_run(rung):
    """Its groups, in place, each through every step: the state each run would reach alone."""
    from optimizers import OPTIMIZERS

    chain, runs, steps, batch = [(5, 8), (8, 3)], 4 * jax.device_count(), 3, 6
    spec = OPTIMIZERS["adam"]
    data = (np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32),
            np.random.default_rng(1).integers(0, 3, 20))
    call, (state, inputs, x_train, y_train), group = ceiling_module.ceiling_program(
        chain, runs, batch, steps, 2, rung, spec, data, [1e-2 * (1 + run) for run in range(runs)])
    assert group == 2
    np.testing.assert_allclose(inputs["learning_rate"], 1e-2 * (1 + np.arange(runs)))  # each run's own
    found = call(state, inputs, x_train, y_train)
    for run in range(runs):
        alone = _alone(rung, spec, state, inputs, x_train, y_train, run, steps, batch)
        mine = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf[run]), found)
        assert jax.tree_util.tree_structure(mine) == jax.tree_util.tree_structure(alone)
        for got, want in zip(jax.tree_util.tree_leaves(mine), jax.tree_util.tree_leaves(alone)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)  # every leaf: params, moments
        moved = found["params"]["kernels"][0][run] - state["params"]["kernels"][0][run]
        assert np.abs(moved).max() > 1e-9  # every run moved


def test_each_rung_adds_its_piece_of_the_step():
    """The matmuls alone, then a ReLU, a log-softmax, the optimizer's root and the batch's
    gather, each from its own rung on; the dots the same on every rung."""
    from optimizers import OPTIMIZERS

    chain, batch = [(5, 8), (8, 3)], 6
    call, (state, inputs, x_train, y_train), _ = ceiling_module.ceiling_program(
        chain, jax.device_count(), batch, 1, None, ceiling_module.GATHER, OPTIMIZERS["adam"],
        (np.zeros((20, 5), np.float32), np.zeros(20, np.int32)))
    state, inputs = jax.tree_util.tree_map(lambda leaf: leaf[0], (state, inputs))

    def primitives(rung):
        step = ceiling_module.rung_step(rung, OPTIMIZERS["adam"], batch)
        one = state if rung >= ceiling_module.OPTIMIZER else {**state, "opt_state": ()}
        if rung < ceiling_module.BIASES:
            one = {**one, "params": {**one["params"], "biases": []}}
        jaxpr = jax.make_jaxpr(lambda state: step(0, state, inputs, x_train, y_train))(one)
        names = []

        def walk(jaxpr):
            for eqn in jaxpr.eqns:
                names.append(eqn.primitive.name)
                if eqn.primitive.name == "gather" and eqn.invars[0].aval.shape == x_train.shape:
                    names.append("the training set's gather")
                for value in eqn.params.values():
                    for sub in (value if isinstance(value, (tuple, list)) else [value]):
                        if hasattr(sub, "jaxpr"):
                            walk(sub.jaxpr if hasattr(sub.jaxpr, "eqns") else sub.jaxpr.jaxpr)
                        elif hasattr(sub, "eqns"):
                            walk(sub)
        walk(jaxpr.jaxpr)
        return names

    found = [primitives(rung) for rung in range(len(ceiling_module.RUNGS))]
    assert len(ceiling_module.RUNGS) == 5
    for rung, names in enumerate(found):
        assert names.count("dot_general") == 3 * len(chain) - 1, (rung, names.count("dot_general"))
        assert ("max" in names) == (rung >= ceiling_module.BIASES)
        assert ("log" in names) == (rung >= ceiling_module.CROSS_ENTROPY)
        assert ("sqrt" in names) == (rung >= ceiling_module.OPTIMIZER)
        assert ("the training set's gather" in names) == (rung >= ceiling_module.GATHER)


def test_the_batch_comes_from_the_training_set_from_the_gather_rung_on():
    """Below GATHER a run trains on its fixed batch: other training data changes nothing; from
    GATHER on, other features or other labels change its step."""
    from optimizers import OPTIMIZERS

    rng = np.random.default_rng(0)
    data = (rng.normal(size=(20, 5)).astype(np.float32), rng.integers(0, 3, 20))
    for rung in (ceiling_module.CROSS_ENTROPY, ceiling_module.OPTIMIZER, ceiling_module.GATHER):
        _, (state, inputs, x_train, y_train), _ = ceiling_module.ceiling_program(
            [(5, 8), (8, 3)], jax.device_count(), 6, 1, None, rung, OPTIMIZERS["adam"], data)
        state, inputs = jax.tree_util.tree_map(lambda leaf: leaf[0], (state, inputs))
        step = ceiling_module.rung_step(rung, OPTIMIZERS["adam"], 6)
        kernels = lambda x, y: step(0, state, inputs, x, y)["params"]["kernels"][0]
        plain = kernels(x_train, y_train)
        for other in (kernels(x_train + 1, y_train), kernels(x_train, (y_train + 1) % 3)):
            assert (not np.allclose(other, plain, rtol=0, atol=0)) == (rung >= ceiling_module.GATHER), rung


def test_a_ceiling_run_writes_its_rounds(tmp_path, monkeypatch):
    from bench.tools import perf

    # the yardstick stands in: each timing 100 or 300 GFLOP/s in turn (the real one, a 2048² matmul
    # timed ten times, 24 times here, took most of this test's minute), so that each round's
    # rate is the mean of the timings just before and just after it
    timings = iter([100.0, 300.0] * 1000)
    monkeypatch.setattr(perf, "matmul_gflops", lambda: next(timings))
    out = tmp_path / "ceiling.json"
    found = perf.ceiling("digits-mlp", runs=4, steps=2, repeats=2, out=str(out), optimizer="sgd")
    document = json.loads(out.read_text())
    written = document["ceiling"]
    assert document["meta"]["optimizer"] == written["optimizer"] == "sgd"
    assert written["chain"] == [[64, 128], [128, 128], [128, 10]]
    assert written["dots_flops_per_step"] == 6 * written["batch_size"] * (64 * 128 + 128 * 128 + 128 * 10)
    assert written["flops_per_step"] > written["dots_flops_per_step"]  # the rows count the biases too
    ladder = written["ladder"]
    assert [rung["rung"] for rung in ladder] == [*ceiling_module.RUNGS, perf.RUNNER_RUNG]
    for rung in ladder:
        assert len(rung["rounds"]) == 2
        for each in rung["rounds"]:
            assert each["matmul_gflops"] == 200.0  # the mean of the timings before and after it
            assert each["step_fraction"] == pytest.approx(
                each["dots_fraction"] * written["flops_per_step"] / written["dots_flops_per_step"])
        assert rung["step_fraction_median_of_rounds"] == pytest.approx(
            np.median([each["step_fraction"] for each in rung["rounds"]]))
        lower_median = sorted(each["seconds"] for each in rung["rounds"])[(len(rung["rounds"]) - 1) // 2]
        assert rung["seconds"] == lower_median
        assert rung["ms_per_step"] == pytest.approx(1000 * lower_median / written["steps"])
    # the top-level fields are the matmuls' alone, as the file had them before the ladder
    assert written["rounds"] == ladder[0]["rounds"]
    assert written["step_fraction_median_of_rounds"] == ladder[0]["step_fraction_median_of_rounds"]
    assert found["runs"] == 4


def test_ceiling_on_a_convolutional_task_is_one_line_and_exit_2(tmp_path, capsys):
    from bench.cli import main

    assert main(["perf", "--ceiling", "--task", "digits-cnn", "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "chain of dense layers" in err[0], err
    assert not (tmp_path / "c.json").exists()


@pytest.mark.parametrize("argv, says", [
    (["--optimizer", "gd"], "gd trains on the full batch"),
    (["--seeds", "3"], "do not split evenly")])
def test_ceiling_refuses_full_batch_and_uneven_runs_in_one_line(tmp_path, capsys, argv, says):
    from bench.cli import main

    if "--seeds" in argv and jax.device_count() == 1:
        pytest.skip("3 runs split evenly over one device")
    assert main(["perf", "--ceiling", *argv, "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err
    assert not (tmp_path / "c.json").exists()

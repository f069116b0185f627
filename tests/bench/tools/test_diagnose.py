"""`python -m bench diagnose`: signal propagation at init on the runner's params and step-0 batch."""
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench import runner
from bench.cli import main
from bench.suite.config import applicable_inits
from bench.tools.diagnose import judge, representative_layers, signal_propagation
from bench.tasks import TASKS, cross_entropy
from inits import STRATEGIES

DEEP_INITS = ("small_random", "random_normal", "he_normal", "zeros")


@pytest.fixture(scope="module")
def deep():
    """digits-deep: 20 hidden Dense(64)+ReLU layers and a read-out."""
    strategies = {name: STRATEGIES[name] for name in DEEP_INITS}
    return signal_propagation("digits-deep", strategies, seeds=[0, 1])


@pytest.fixture(scope="module")
def shallow():
    """digits-mlp (3 Dense layers): cheap to compile; for LSUV and the by-hand check."""
    strategies = {name: STRATEGIES[name] for name in ("he_normal", "lsuv")}
    return signal_propagation("digits-mlp", strategies, seeds=[0, 1])


def test_layers_are_found_in_forward_order(deep):
    assert [layer["path"] for layer in deep["layers"]] == [f"Dense_{i}" for i in range(21)]
    assert [layer["role"] for layer in deep["layers"]] == ["hidden"] * 20 + ["read-out"]
    for entry in deep["inits"].values():
        for quantity in ("preactivation_std", "postactivation_std", "grad_norm"):
            assert len(entry[quantity]) == 21
            assert np.asarray(entry["per_seed"][quantity]).shape == (2, 21)


@pytest.mark.parametrize("init, verdict", [
    ("small_random", "vanishes"), ("random_normal", "explodes"), ("he_normal", "stable"),
    ("zeros", "dead"),
])
def test_verdicts_on_the_deep_relu_net(deep, init, verdict):
    assert deep["inits"][init]["verdict"] == verdict


def test_he_normal_keeps_every_layer_within_a_decade(deep):
    stds = np.asarray(deep["inits"]["he_normal"]["preactivation_std"])
    assert stds.max() / stds.min() < 10
    assert np.all(np.isfinite(deep["inits"]["random_normal"]["grad_norm"]))  # overflow-safe norms


def test_post_activation_is_the_relu_of_the_pre_activation(deep):
    # For the MLP, what layer l hands on is relu(its output): smaller std, never larger.
    entry = deep["inits"]["he_normal"]
    pre, post = np.asarray(entry["preactivation_std"]), np.asarray(entry["postactivation_std"])
    assert np.all(post[:20] < pre[:20]) and np.all(post[:20] > 0.3 * pre[:20])
    assert post[20] == pytest.approx(pre[20])  # the read-out hands on its logits


def test_lsuv_gives_unit_preactivation_variance_at_every_layer(shallow):
    # LSUV normalizes on the runner's first batch, which is the batch diagnose measures on.
    variances = np.asarray(shallow["inits"]["lsuv"]["per_seed"]["preactivation_std"]) ** 2
    assert variances.shape == (2, 3)
    np.testing.assert_array_less(np.abs(variances - 1), 0.1 + 1e-4)  # LSUV's tolerance


def test_it_sees_the_runners_params_and_first_batch(shallow):
    """Seed 1 by hand, the runner's way: keys from `seed_keys`, the first batch of epoch 0."""
    task, seed, strategy = TASKS["digits-mlp"], 1, STRATEGIES["he_normal"]
    dataset = task.load()
    x_train = jnp.asarray(dataset.x_train)
    model = task.make_model(strategy.kernel_init, strategy.bias_init)

    @jax.jit  # one compile instead of dozens of eager dispatches
    def by_hand(x_train, y_train):
        init_key, data_key = runner.seed_keys(jnp.uint32(seed))
        index = runner.epoch_order(data_key, 0, len(x_train))[:task.batch_size]
        x, y = x_train[index], y_train[index]
        params = model.init(init_key, x)["params"]
        first = x @ params["Dense_0"]["kernel"] + params["Dense_0"]["bias"]
        grads = jax.grad(lambda p: cross_entropy(model.apply({"params": p}, x), y))(params)
        return jnp.std(first), [jnp.linalg.norm(grads[f"Dense_{i}"]["kernel"]) for i in range(3)]

    first_std, grad_norms = by_hand(x_train, jnp.asarray(dataset.y_train))
    measured = shallow["inits"]["he_normal"]["per_seed"]
    assert measured["preactivation_std"][1][0] == pytest.approx(float(first_std), rel=1e-5)
    assert measured["grad_norm"][1] == pytest.approx([float(g) for g in grad_norms], rel=1e-4)


def test_judge_rule():
    hidden = [0, 1, 2]
    assert judge([1.0, 0.5, 0.5], hidden)["verdict"] == "stable"
    assert judge([1.0, 0.1, 0.009], hidden)["verdict"] == "vanishes"
    assert judge([1.0, 10.0, 101.0], hidden)["verdict"] == "explodes"
    assert judge([1.0, math.inf, math.nan], hidden)["verdict"] == "explodes"
    assert judge([0.0, 0.0, 0.0], hidden)["verdict"] == "dead"
    assert judge([1.0, 2.0, 4.0], hidden)["gain_per_layer"] == pytest.approx(2.0)


def test_representative_layers():
    assert representative_layers(21) == [1, 5, 10, 15, 20, 21]
    assert representative_layers(3) == [1, 2, 3]
    assert representative_layers(101) == [1, 25, 50, 75, 100, 101]


def test_cli_writes_table_plot_and_json_for_a_conv_net(tmp_path, capsys):
    out = tmp_path / "plots" / "diagnose.png"
    code = main(["diagnose", "--task", "digits-cnn", "--inits", "he_normal,zeros", "--seeds", "1",
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "Pre-activation std" in printed and "Gradient norm" in printed
    assert "stable" in printed and "dead" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    document = json.loads(out.with_suffix(".json").read_text())
    assert [layer["kind"] for layer in document["layers"]] == ["Conv", "Conv", "Dense"]
    assert document["inits"]["zeros"]["verdict"] == "dead"
    assert document["meta"]["command"] == "diagnose"
    assert sorted(p.name for p in out.parent.iterdir()) == ["diagnose.json", "diagnose.png"]  # no temp left


@pytest.mark.parametrize("flags, expected", [
    (["--task", "digits-dep"], "unknown task 'digits-dep'; did you mean 'digits-deep'"),
    (["--inits", "he_normal,smal_random"], "unknown init 'smal_random'; did you mean 'small_random'"),
    (["--inits", ","], "--inits needs at least one name"),
    (["--seeds", "0"], "--seeds must be a positive integer"),
    (["--inits", "he_normal,fixup"], "--inits fixup does not apply to digits-deep: fixup needs residual branches"),
])
def test_bad_input_is_one_line_and_exit_2(flags, expected, tmp_path, capsys):
    code = main(["diagnose", *flags, "--out", str(tmp_path / "d.png")])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_by_default_only_the_strategies_that_apply_to_the_model():
    assert applicable_inits(TASKS["digits-mlp"], tuple(STRATEGIES), named_by_user=False) == tuple(
        name for name in STRATEGIES if name != "fixup")
    assert "mup" not in applicable_inits(TASKS["digits-cnn"], tuple(STRATEGIES), named_by_user=False)


def test_a_batchnorm_model_is_measured_as_the_runner_trains_it():
    # ResNet-8 with BatchNorm on a tiny fake CIFAR: the model needs its batch_stats, and step 0
    # of training normalizes with the batch's statistics.
    import numpy as np

    from bench.data import Dataset

    rng = np.random.default_rng(0)
    images = lambda n: rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = lambda n: rng.integers(0, 10, n).astype(np.int32)
    fake = Dataset(images(16), labels(16), images(8), labels(8), images(8), labels(8), 10)
    base = TASKS["cifar10-resnet20"]
    task = base._replace(load=lambda: fake, batch_size=8,
                         make_model=lambda k, b: base.make_model(k, b).clone(blocks_per_stage=1))
    found = signal_propagation(task, {"he_normal": STRATEGIES["he_normal"]}, seeds=[0])
    entry = found["inits"]["he_normal"]
    assert len(found["layers"]) == 1 + 3 * 2 + 1  # stem, 3 blocks of 2 convs, read-out
    # every conv's output feeds a BatchNorm; measured at init, each is finite and nonzero
    assert all(np.isfinite(entry["preactivation_std"])) and min(entry["preactivation_std"]) > 0

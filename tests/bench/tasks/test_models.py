"""The models: the papers' architectures, BatchNorm's two modes, residual branches, every layer reachable."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.tasks.models import BidirectionalGRU, ConvNet1D, LeNet5, ResidualBranch, ResidualMLP, standardize
from bench.tasks.resnet import CifarResNet, shortcut
from inits.data_dependent import find_layers

HE, ZEROS = jax.nn.initializers.he_normal(), jax.nn.initializers.zeros
STATS = ((0.5, 0.4, 0.3), (0.25, 0.2, 0.3))


def _branches(model, variables, x):
    """Paths of the ResidualBranch modules called in a forward pass, in call order."""
    found = []

    def record(next_fun, args, kwargs, context):
        if context.method_name == "__call__" and isinstance(context.module, ResidualBranch):
            found.append(tuple(context.module.scope.path))
        return next_fun(*args, **kwargs)

    def apply(variables, x):
        with nn.intercept_methods(record):
            return model.apply(variables, x)

    jax.eval_shape(apply, variables, x)  # shapes only: no compute
    return found


def test_the_mlp_computes_the_papers_residual_formula():
    x = jax.random.normal(jax.random.key(1), (5, 40))
    model = ResidualMLP(100, 10, HE, jax.nn.initializers.normal(0.1))
    variables = jax.jit(model.init)(jax.random.key(0), x)
    p = variables["params"]
    h = jax.nn.relu(x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])
    inner = p["DenseBranch_0"]["Dense_0"]
    h = h + jax.nn.relu(h @ inner["kernel"] + inner["bias"])
    expected = h @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"]
    np.testing.assert_allclose(jax.jit(model.apply)(variables, x), expected, rtol=1e-5, atol=1e-5)
    assert _branches(model, variables, x) == [("DenseBranch_0",)]


def test_the_cnn_has_the_papers_layers_and_125_features():
    model = ConvNet1D((25, 25, 25), (5, 3, 3), 10, kernel_init=HE, bias_init=ZEROS)
    x = jnp.ones((2, 40))
    params = jax.jit(model.init)(jax.random.key(0), x)["params"]
    assert [params[f"Conv_{i}"]["kernel"].shape for i in range(3)] == [(5, 1, 25), (3, 25, 25), (3, 25, 25)]
    assert params["Dense_0"]["kernel"].shape == (125, 10)  # 40 -> 19 -> 10 -> 5 positions x 25 channels
    plain = ConvNet1D((25, 25, 25), (5, 3, 3), 10, kernel_init=HE, bias_init=ZEROS, conv=nn.Conv)
    np.testing.assert_allclose(model.apply({"params": params}, x), plain.apply({"params": params}, x),
                               rtol=1e-5, atol=1e-5)


def test_the_gru_equals_flax_gru_cells_unrolled_both_ways_with_the_same_params():
    x = jax.random.normal(jax.random.key(1), (3, 7))
    model = BidirectionalGRU(4, 10, HE, jax.nn.initializers.normal(0.1))
    params = jax.jit(model.init)(jax.random.key(0), x)["params"]

    def direction(name, steps):
        state, states = jnp.zeros((3, 4)), [None] * 7
        for t in steps:
            state, _ = nn.GRUCell(4).apply({"params": params[name]}, state, x[:, t, None])
            states[t] = state
        return jnp.stack(states, axis=1)

    features = jnp.concatenate([direction("forward", range(7)), direction("backward", range(6, -1, -1))], -1)
    expected = features.reshape(3, -1) @ params["Dense_0"]["kernel"] + params["Dense_0"]["bias"]
    np.testing.assert_allclose(jax.jit(model.apply)({"params": params}, x), expected, rtol=1e-5, atol=1e-5)


def test_every_dense_of_the_gru_is_reached_by_layer_interception():
    x = jnp.ones((2, 40))
    model = BidirectionalGRU(6, 10, HE, ZEROS)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    paths = [path for path, _ in find_layers(model, variables, x)]
    gates = ("ir", "iz", "in", "hr", "hz", "hn")
    assert paths == [(d, g) for d in ("forward", "backward") for g in gates] + [("Dense_0",)]
    assert {path[:2] for path in paths[:-1]} == {tuple(p) for p in
                                                 [(d, g) for d in variables["params"] if d != "Dense_0"
                                                  for g in variables["params"][d]]}


def test_lenet_standardizes_raw_pixels_and_has_lenet_shapes():
    mean, std = (0.1307,), (0.3081,)
    pixels = jnp.full((1, 2, 2, 1), 0.1307 * 255)
    np.testing.assert_allclose(standardize(pixels, mean, std), 0.0, atol=1e-6)
    np.testing.assert_allclose(standardize(jnp.full((1, 1), 255, jnp.uint8), mean, std), (1 - 0.1307) / 0.3081,
                               rtol=1e-6)
    model = LeNet5(10, mean, std, HE, ZEROS)
    x = jnp.zeros((2, 28, 28, 1), jnp.uint8)
    params = jax.eval_shape(model.init, jax.random.key(0), x)["params"]
    assert params["Conv_1"]["kernel"].shape == (5, 5, 6, 16)
    assert params["Dense_0"]["kernel"].shape == (5 * 5 * 16, 120)
    assert jax.eval_shape(model.apply, {"params": params}, x).shape == (2, 10)


def test_option_a_shortcut_subsamples_and_pads_zero_channels():
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 16))
    out = shortcut(x, 32, 2)
    assert out.shape == (2, 4, 4, 32)
    np.testing.assert_array_equal(out[..., 8:24], x[:, ::2, ::2, :])
    assert not np.any(out[..., :8]) and not np.any(out[..., 24:])
    np.testing.assert_array_equal(shortcut(x, 16, 1), x)


def _resnet(batch_norm, **options):
    return CifarResNet(10, *STATS, batch_norm=batch_norm, kernel_init=HE, bias_init=ZEROS, **options)


@pytest.mark.parametrize("batch_norm", [True, False])
def test_resnet20_has_20_layers_9_marked_branches_and_he_et_al_size(batch_norm):
    model = _resnet(batch_norm)
    x = jnp.zeros((2, 32, 32, 3), jnp.uint8)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    layers = find_layers(model, variables, x)
    assert len(layers) == 20 and isinstance(layers[-1][1], nn.Dense)
    assert len(_branches(model, variables, x)) == 9
    convs = 3 * 3 * (3 * 16 + 6 * 16 * 16 + 16 * 32 + 5 * 32 * 32 + 32 * 64 + 5 * 64 * 64)
    dense = 64 * 10 + 10
    n_params = sum(leaf.size for leaf in jax.tree_util.tree_leaves(variables["params"]))
    if batch_norm:
        assert set(variables) == {"params", "batch_stats"}
        assert n_params == convs + dense + 2 * (16 + 6 * 16 + 6 * 32 + 6 * 64)  # 0.27M, as He et al.
    else:
        assert set(variables) == {"params"}
        assert n_params == convs + dense + 1 + 9 * 5 + 1  # scalar biases and multipliers only
    assert jax.eval_shape(model.apply, variables, x).shape == (2, 10)


def test_batchnorm_updates_batch_stats_in_training_only():
    model = _resnet(True, blocks_per_stage=1)
    x = jnp.asarray(np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8))
    variables = jax.jit(model.init)(jax.random.key(0), x)
    apply = jax.jit(lambda x, train: model.apply(variables, x, train=train, mutable=["batch_stats"]),
                    static_argnums=1)
    evaluated, unchanged = apply(x, False)
    jax.tree_util.tree_map(np.testing.assert_array_equal, unchanged["batch_stats"], variables["batch_stats"])
    trained, updated = apply(x, True)
    stem_mean = updated["batch_stats"]["BatchNorm_0"]["mean"]
    assert not np.allclose(stem_mean, variables["batch_stats"]["BatchNorm_0"]["mean"])
    # evaluation normalizes with running statistics: an example's logits do not depend on its batch
    np.testing.assert_allclose(evaluated[:2], apply(x[:2], False)[0], rtol=1e-5, atol=1e-5)
    assert not np.allclose(trained[:2], apply(x[:2], True)[0], atol=1e-4)


def test_plain_resnet_has_fixups_scalar_biases_at_0_and_multipliers_at_1():
    model = _resnet(False, blocks_per_stage=1)
    x = jnp.zeros((1, 32, 32, 3), jnp.uint8)
    params = jax.jit(model.init)(jax.random.key(0), x)["params"]
    branch = params["stage2_block1"]
    assert set(branch) == {"Conv_0", "Conv_1", "Bias_0", "Bias_1", "Bias_2", "Bias_3", "Scale_0"}
    scalars = {path[-1].key: [] for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        if leaf.ndim == 0:
            scalars[path[-1].key].append(float(leaf))
    assert len(scalars["bias"]) == 1 + 3 * 4 + 1 and set(scalars["bias"]) == {0.0}
    assert len(scalars["scale"]) == 3 and set(scalars["scale"]) == {1.0}


@pytest.mark.parametrize("batch_norm", [pytest.param(True, marks=pytest.mark.slow), False])  # the plain net is Fixup's case
def test_fixup_finds_resnet20s_9_branches_of_2_convolutions_and_zeroes_them(batch_norm):
    from inits.residual import find_residual_branches, fixup

    model = _resnet(batch_norm)
    x = jnp.asarray(np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8))
    variables = jax.jit(model.init)(jax.random.key(0), x)
    branches = find_residual_branches(model, variables, x)
    assert len(branches) == 9 and all(len(layers) == 2 for layers in branches)
    fixed = jax.jit(lambda v: fixup(model, v, x))(variables)
    assert not np.any(np.asarray(fixed["params"]["stage3_block3"]["Conv_1"]["kernel"]))
    np.testing.assert_array_equal(jax.jit(model.apply)(fixed, x), 0.0)  # classifier zeroed too


def test_fixup_zeroes_the_mnist1d_mlps_branch():
    from inits.residual import fixup

    model = ResidualMLP(100, 10, HE, ZEROS)
    x = jax.random.normal(jax.random.key(1), (5, 40))
    variables = fixup(model, jax.jit(model.init)(jax.random.key(0), x), x)
    assert not np.any(np.asarray(variables["params"]["DenseBranch_0"]["Dense_0"]["kernel"]))
    assert np.any(np.asarray(variables["params"]["Dense_0"]["kernel"]))  # outside the branch: kept

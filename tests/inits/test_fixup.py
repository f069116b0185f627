"""Fixup (Zhang, Dauphin & Ma 2019) and the residual-branch contract of inits.residual."""
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inits
from inits import conformance, residual
from inits.residual import Bias, ResidualBranch, Scale

HE = inits.he_normal()


class ThreeLayerBranch(ResidualBranch):
    """m = 3 Dense layers, Fixup's scalar biases and multiplier: defined here, as a task's model would."""

    width: int
    kernel_init: Callable = HE

    @nn.compact
    def __call__(self, x):
        dense = lambda: nn.Dense(self.width, kernel_init=self.kernel_init)
        x = nn.relu(Bias()(dense()(Bias()(x))))
        x = nn.relu(Bias()(dense()(Bias()(x))))
        return Bias()(Scale()(dense()(Bias()(x))))


class Stage(nn.Module):
    """Branches nested one module deeper, to check full paths."""

    width: int
    blocks: int
    kernel_init: Callable = HE

    @nn.compact
    def __call__(self, x):
        for _ in range(self.blocks):
            x = nn.relu(x + ThreeLayerBranch(self.width, self.kernel_init)(x))
        return x


class ResidualMLP(nn.Module):
    width: int = 128
    kernel_init: Callable = HE

    @nn.compact
    def __call__(self, x):
        x = nn.Dense(self.width, kernel_init=self.kernel_init, name="stem")(x)
        x = Stage(self.width, 2, self.kernel_init, name="stage_a")(x)
        x = Stage(self.width, 2, self.kernel_init, name="stage_b")(x)
        return nn.Dense(10, kernel_init=self.kernel_init, name="classifier")(Bias()(x))


@pytest.fixture(scope="module")
def model_params_batch():
    model = ResidualMLP()
    x = jax.random.normal(jax.random.key(1), (16, 12))
    return model, jax.jit(model.init)(jax.random.key(0), x), x


def test_branches_are_found_in_forward_order_with_their_layers(model_params_batch):
    model, variables, x = model_params_batch
    branches = inits.find_residual_branches(model, variables, x)
    expected = [tuple((stage, f"ThreeLayerBranch_{block}", f"Dense_{layer}") for layer in range(3))
                for stage in ("stage_a", "stage_b") for block in range(2)]
    assert branches == expected


def test_branch_ends_and_classifier_are_zero(model_params_batch):
    assert conformance.check_fixup_zeros(*model_params_batch) == []


def test_other_branch_layers_are_he_scaled_by_L_to_the_minus_one_over_2m_minus_2(model_params_batch):
    assert residual.fixup_branch_scale(4, 3) == pytest.approx(4 ** -0.25)
    assert conformance.check_fixup_branch_std(*model_params_batch) == []


def test_the_net_computes_its_shortcut_path_at_init(model_params_batch):
    assert conformance.check_fixup_output_is_shortcut_path(*model_params_batch) == []


def test_layers_outside_branches_and_scalars_are_untouched(model_params_batch):
    model, variables, x = model_params_batch
    fixed = inits.fixup(model, variables, x)
    assert jnp.array_equal(fixed["params"]["stem"]["kernel"], variables["params"]["stem"]["kernel"])
    block = fixed["params"]["stage_a"]["ThreeLayerBranch_0"]
    assert float(block["Scale_0"]["scale"]) == 1.0 and float(block["Bias_0"]["bias"]) == 0.0
    assert block["Scale_0"]["scale"].shape == () and block["Bias_0"]["bias"].shape == ()


def test_the_checks_catch_a_net_fixup_was_not_applied_to(model_params_batch, monkeypatch):
    monkeypatch.setattr(inits, "fixup", lambda model, variables, x: variables)
    assert conformance.check_fixup_zeros(*model_params_batch) != []
    assert conformance.check_fixup_branch_std(*model_params_batch) != []
    assert conformance.check_fixup_output_is_shortcut_path(*model_params_batch) != []


def test_under_jit_of_vmap_over_seeds(model_params_batch):
    model, _, x = model_params_batch
    strategy = inits.STRATEGIES["fixup"]
    keys = jax.random.split(jax.random.key(2), 3)
    batched = jax.jit(jax.vmap(lambda key: strategy.post_init(model, model.init(key, x), x)))(keys)
    for run in range(3):
        one = jax.tree.map(lambda leaf: leaf[run], batched)
        alone = inits.fixup(model, model.init(keys[run], x), x)  # eager: equal up to the last bit of rounding
        assert jax.tree.all(jax.tree.map(lambda a, b: jnp.allclose(a, b, rtol=1e-6, atol=0), one, alone))


def test_a_net_without_branches_is_refused_in_one_line():
    model = nn.Sequential([nn.Dense(8), nn.relu, nn.Dense(3)])
    x = jnp.ones((2, 4))
    with pytest.raises(inits.NotResidualError, match="^fixup needs residual branches.*Sequential has none$") as error:
        inits.fixup(model, model.init(jax.random.key(0), x), x)
    assert isinstance(error.value, ValueError) and "\n" not in str(error.value)


def test_a_branch_with_one_layer_is_just_zeroed():
    class OneLayerBranch(ResidualBranch):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(x.shape[-1], kernel_init=HE)(x)

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(2, kernel_init=HE)(x + OneLayerBranch()(x))

    model, x = Net(), jnp.ones((2, 4))
    fixed = inits.fixup(model, model.init(jax.random.key(0), x), x)
    assert not any(np.asarray(leaf).any() for leaf in jax.tree.leaves(fixed))


def _docstring_examples() -> dict:
    """Run the code blocks of inits/residual.py's docstring, as written there; return what they define."""
    blocks, current = [], None
    for line in residual.__doc__.splitlines():
        if line.endswith("::"):
            current = []
            blocks.append(current)
        elif current is not None and (line.startswith("    ") or not line.strip()):
            current.append(line[4:])
        else:
            current = None
    namespace: dict = {}
    exec("\n".join(line for block in blocks for line in block), namespace)  # noqa: S102 - our own docstring
    return namespace


def test_the_docstrings_resnet_20_has_nine_branches_of_two_convolutions():
    examples = _docstring_examples()
    model, x = examples["ResNet"]((16, 32, 64), 3, 10, HE), jnp.ones((2, 32, 32, 3))
    variables = jax.eval_shape(model.init, jax.random.key(0), x)  # shapes only: no compile
    assert [len(layers) for layers in inits.find_residual_branches(model, variables, x)] == [2] * 9
    assert inits.applies_to(inits.STRATEGIES["fixup"], model, variables, x)


# The convolutional one compiles for ~10 s of CPU (XLA's CPU convolutions): slow tier.
@pytest.mark.parametrize("name,args,x_shape", [
    pytest.param("ResNet", ((4, 8), 1, 10, HE), (2, 6, 6, 3), marks=pytest.mark.slow),
    ("ResidualMLP", (16, 3, 10, HE), (4, 5))])
def test_the_docstrings_models_are_fixup_ready(name, args, x_shape):
    model = _docstring_examples()[name](*args)
    x = jax.random.normal(jax.random.key(0), x_shape)
    variables = jax.jit(model.init)(jax.random.key(1), x)  # one compile, not one per eager op
    assert conformance.check_fixup_zeros(model, variables, x) == []
    assert conformance.check_fixup_output_is_shortcut_path(model, variables, x) == []

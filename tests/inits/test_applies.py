"""Which strategies apply to which model: `inits.applies_to` / `check_applies`, from shapes alone."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

import inits
from inits.residual import ResidualBranch


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(3)(nn.relu(nn.Dense(16)(x.reshape(x.shape[0], -1))))


class CNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(4, (3, 3))(x))
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


class Branch(ResidualBranch):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(x.shape[-1])(nn.relu(nn.Dense(x.shape[-1])(x)))


class ResidualMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Dense(16)(x.reshape(x.shape[0], -1))
        return nn.Dense(3)(x + Branch()(x))


ALL = set(inits.STRATEGIES)
APPLIES = {MLP: ALL - {"fixup"}, CNN: ALL - {"fixup", "mup"}, ResidualMLP: ALL}


@pytest.mark.parametrize("model_class", list(APPLIES), ids=lambda c: c.__name__)
def test_applies_to_from_abstract_variables(model_class):
    model, x = model_class(), jnp.ones((2, 6, 6, 1))
    variables = jax.eval_shape(model.init, jax.random.key(0), x)  # nothing computed
    applicable = {name for name, strategy in inits.STRATEGIES.items() if inits.applies_to(strategy, model, variables, x)}
    assert applicable == APPLIES[model_class]


def test_check_applies_says_why_in_one_line():
    model, x = CNN(), jnp.ones((2, 6, 6, 1))
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    for name, expected in (("fixup", "fixup needs residual branches"), ("mup", "mup needs an MLP")):
        with pytest.raises(inits.NotApplicableError, match=expected) as error:
            inits.check_applies(inits.STRATEGIES[name], model, variables, x)
        assert "\n" not in str(error.value) and "CNN" in str(error.value)

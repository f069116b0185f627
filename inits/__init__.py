"""Hand-written Flax initializers and the registry of named init strategies.

Twins of `jax.nn.initializers` (bit-identical): variance_scaling and its names, orthogonal,
delta_orthogonal, zeros, ones, constant, normal, uniform, truncated_normal. No twin:
small_random, random_normal, random_uniform, lsuv. `STRATEGIES` names what the runner uses.
"""
from inits.data_dependent import lsuv
from inits.orthogonal_kernels import delta_orthogonal, orthogonal
from inits.registry import STRATEGIES
from inits.simple import (constant, normal, ones, random_normal, random_uniform, small_random,
                          truncated_normal, uniform, zeros)
from inits.strategy import Strategy
from inits.fan_scaling import (compute_fans, glorot_normal, glorot_uniform, he_normal, he_uniform,
                                    kaiming_normal, kaiming_uniform, lecun_normal, lecun_uniform,
                                    variance_scaling, xavier_normal, xavier_uniform)

__all__ = [
    "STRATEGIES", "Strategy", "compute_fans", "constant", "delta_orthogonal", "glorot_normal",
    "glorot_uniform", "he_normal", "he_uniform", "kaiming_normal", "kaiming_uniform", "lecun_normal",
    "lecun_uniform", "lsuv", "normal", "ones", "orthogonal", "random_normal", "random_uniform",
    "small_random", "truncated_normal", "uniform", "variance_scaling", "xavier_normal",
    "xavier_uniform", "zeros",
]

"""Hand-written Flax initializers and the registry of named init strategies.

Twins of `jax.nn.initializers` (bit-identical): variance_scaling and its names, orthogonal,
delta_orthogonal, zeros, ones, constant, normal, uniform, truncated_normal. No twin:
small_random, random_normal, random_uniform, delta_orthogonal_convs, zero_hadamard (ZerO), and
the post-inits lsuv, kraehenbuehl, fixup (`inits.residual`) and muP (`inits.mup`).
`STRATEGIES` names what the runner uses.
"""
from inits.data_dependent import kraehenbuehl, lsuv
from inits.deterministic import zero_hadamard
from inits.orthogonal_kernels import delta_orthogonal, delta_orthogonal_convs, orthogonal
from inits.registry import STRATEGIES
from inits.residual import NotResidualError, find_residual_branches, fixup
from inits.simple import (constant, normal, ones, random_normal, random_uniform, small_random,
                          truncated_normal, uniform, zeros)
from inits.strategy import NotApplicableError, Strategy, applies_to, check_applies
from inits.fan_scaling import (compute_fans, glorot_normal, glorot_uniform, he_normal, he_uniform,
                                    kaiming_normal, kaiming_uniform, lecun_normal, lecun_uniform,
                                    variance_scaling, xavier_normal, xavier_uniform)

__all__ = [
    "NotApplicableError", "NotResidualError", "STRATEGIES", "Strategy", "applies_to", "check_applies",
    "compute_fans", "constant", "delta_orthogonal", "delta_orthogonal_convs", "find_residual_branches",
    "fixup", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "kaiming_normal",
    "kaiming_uniform", "kraehenbuehl", "lecun_normal", "lecun_uniform", "lsuv", "normal", "ones",
    "orthogonal", "random_normal", "random_uniform", "small_random", "truncated_normal", "uniform",
    "variance_scaling", "xavier_normal", "xavier_uniform", "zero_hadamard", "zeros",
]

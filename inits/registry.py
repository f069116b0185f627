"""`STRATEGIES`: the named init strategies the runner and the CLI use, and nothing else.

Every strategy initializes biases to zero, so strategies differ only in their kernels (and,
for `lsuv`, in the data-dependent rescaling after init).
"""
from __future__ import annotations

from inits import data_dependent, fan_scaling, orthogonal_kernels, simple
from inits.strategy import Strategy

CONSTANT_KERNEL_VALUE = 0.01
"""Kernel entry for `constant`: small, so a deep net stays finite; every unit computes the same
function, which is the symmetry the strategy exists to demonstrate (no learning can break it)."""


def _strategy(kernel_init, description: str, reference: str, post_init=None) -> Strategy:
    return Strategy(kernel_init=kernel_init, bias_init=simple.zeros, description=description,
                    reference=reference, post_init=post_init)


STRATEGIES: dict[str, Strategy] = {
    "small_random": _strategy(simple.small_random(), "N(0, 0.01^2), blind to the fan: signals vanish in depth",
                              "Glorot & Bengio 2010 (the baseline they improve on)"),
    "glorot_uniform": _strategy(fan_scaling.glorot_uniform(), "U(+-sqrt(6/(fan_in+fan_out)))",
                                fan_scaling.GLOROT),
    "glorot_normal": _strategy(fan_scaling.glorot_normal(), "truncated N, Var = 2/(fan_in+fan_out)",
                               fan_scaling.GLOROT),
    "he_uniform": _strategy(fan_scaling.he_uniform(), "U(+-sqrt(6/fan_in))", fan_scaling.HE),
    "he_normal": _strategy(fan_scaling.he_normal(), "truncated N, Var = 2/fan_in", fan_scaling.HE),
    "lecun_normal": _strategy(fan_scaling.lecun_normal(), "truncated N, Var = 1/fan_in (Flax's default)",
                              fan_scaling.LECUN),
    "orthogonal": _strategy(orthogonal_kernels.orthogonal(), "Haar-random orthogonal kernel, gain 1", orthogonal_kernels.SAXE),
    "zeros": _strategy(simple.zeros, "all zeros: no signal, no gradient past the last layer",
                       "Goodfellow et al. 2016, Deep Learning, sec. 8.4 (symmetry breaking)"),
    "constant": _strategy(simple.constant(CONSTANT_KERNEL_VALUE),
                          f"every kernel entry {CONSTANT_KERNEL_VALUE}: units stay identical",
                          "Goodfellow et al. 2016, Deep Learning, sec. 8.4 (symmetry breaking)"),
    "random_normal": _strategy(simple.random_normal(), "N(0, 1), blind to the fan: activations explode in depth",
                               "Glorot & Bengio 2010 (why the scale must follow the fan)"),
    "random_uniform": _strategy(simple.random_uniform(), "U[-1, 1), blind to the fan",
                                "Glorot & Bengio 2010 (why the scale must follow the fan)"),
    "lsuv": _strategy(orthogonal_kernels.orthogonal(), "orthogonal, then each layer rescaled to unit output variance",
                      data_dependent.MISHKIN, post_init=data_dependent.lsuv),
}

"""`STRATEGIES`: the named init strategies the runner and the CLI use, and nothing else.

Every strategy initializes biases to zero, so strategies differ in their kernels, and in what
`post_init` does after init: a data-dependent rescaling on a batch (`lsuv`, `kraehenbuehl`, which
also sets biases), or an architecture-aware one read off the model (`fixup`: residual branches;
`mup`: an MLP's input, hidden and output layers, with per-layer learning-rate multipliers).
`fixup` and `mup` raise `inits.NotApplicableError` on a model they cannot handle
(`inits.applies_to` asks first).
"""
from __future__ import annotations

from inits import data_dependent, deterministic, fan_scaling, mup, orthogonal_kernels, residual, simple
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
    # Beyond the classic twelve: strategies for convolutional, residual and wide nets.
    "delta_orthogonal": _strategy(orthogonal_kernels.delta_orthogonal_convs(),
                                  "Conv kernels zero but an orthogonal spatial centre, Dense kernels orthogonal",
                                  orthogonal_kernels.XIAO),
    "fixup": _strategy(fan_scaling.he_normal(), "He; each residual branch's last layer and the classifier at 0, "
                       "its other layers x L^(-1/(2m-2)); residual nets only", residual.ZHANG,
                       post_init=residual.fixup),
    "zero_hadamard": _strategy(deterministic.zero_hadamard(), "ZerO: identity, partial identity or scaled "
                               "Hadamard kernels, no randomness", deterministic.ZHAO),
    "kraehenbuehl": _strategy(fan_scaling.variance_scaling(1.0, "fan_in", "normal"), "Gaussian, then each unit's "
                              "pre-activation at mean 0, variance 1 on a batch (weights and biases)",
                              data_dependent.KRAEHENBUEHL, post_init=data_dependent.kraehenbuehl),
    "mup": mup.mup_strategy(),
}

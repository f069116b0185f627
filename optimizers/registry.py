"""The named optimizers the suite runs: name -> OptimizerSpec.

Learning-rate grids are three half-decade-spaced values. For the classic eight they are the
best rate of the committed sweep (results/reference/sweep.json: digits-mlp, he_normal, 300
steps, `python -m bench --suite sweep`) and its two neighbours in that sweep
(tests/bench/test_suites.py holds them together); for the others, values that usually train a
small MLP on 8x8 digits well, not yet swept. Hyperparameters not listed keep optax's defaults.
"""
from __future__ import annotations

import optax

from optimizers import alias
from optimizers.spec import OptimizerSpec

KINGMA_BA = "Kingma and Ba 2015, Adam: A Method for Stochastic Optimization (arXiv:1412.6980)"

OPTIMIZERS: dict[str, OptimizerSpec] = {
    "gd": OptimizerSpec(
        alias.sgd, optax.sgd, {}, (0.3, 1.0, 3.0),
        "u = -lr * g, g the full-batch gradient",
        "Cauchy 1847, Methode generale pour la resolution des systemes d'equations simultanees",
        full_batch=True,
    ),
    "sgd": OptimizerSpec(
        alias.sgd, optax.sgd, {}, (0.3, 1.0, 3.0),
        "u = -lr * g, g a mini-batch gradient",
        "Robbins and Monro 1951, A Stochastic Approximation Method",
    ),
    "momentum": OptimizerSpec(
        alias.sgd, optax.sgd, {"momentum": 0.9}, (0.1, 0.3, 1.0),
        "m = g + 0.9 m;  u = -lr * m",
        "Polyak 1964, Some methods of speeding up the convergence of iteration methods",
    ),
    "nesterov": OptimizerSpec(
        alias.sgd, optax.sgd, {"momentum": 0.9, "nesterov": True}, (0.1, 0.3, 1.0),
        "m = g + 0.9 m;  u = -lr * (g + 0.9 m)",
        "Sutskever et al. 2013, On the importance of initialization and momentum in deep learning",
    ),
    "adagrad": OptimizerSpec(
        alias.adagrad, optax.adagrad, {}, (0.1, 0.3, 1.0),
        "s = s + g^2 (s0 = 0.1);  u = -lr * g / sqrt(s + eps)",
        "Duchi, Hazan and Singer 2011, Adaptive Subgradient Methods (JMLR 12)",
    ),
    "adadelta": OptimizerSpec(
        alias.adadelta, optax.adadelta, {}, (1.0, 3.0, 10.0),
        "u = -lr * sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g",
        "Zeiler 2012, ADADELTA: An Adaptive Learning Rate Method (arXiv:1212.5701)",
    ),
    "rmsprop": OptimizerSpec(
        alias.rmsprop, optax.rmsprop, {}, (3e-3, 1e-2, 3e-2),
        "v = 0.9 v + 0.1 g^2;  u = -lr * g / sqrt(v + eps)",
        "Hinton, Srivastava and Swersky 2012, Neural Networks for Machine Learning, lecture 6e",
    ),
    "adam": OptimizerSpec(
        alias.adam, optax.adam, {}, (1e-3, 3e-3, 1e-2),
        "u = -lr * m^ / (sqrt(v^) + eps), m^, v^ bias-corrected moment averages",
        KINGMA_BA,
    ),
    "adamw": OptimizerSpec(
        alias.adamw, optax.adamw, {}, (1e-3, 3e-3, 1e-2),
        "u = -lr * (m^ / (sqrt(v^) + eps) + wd * theta), wd = 1e-4",
        "Loshchilov and Hutter 2019, Decoupled Weight Decay Regularization (ICLR)",
    ),
    "nadam": OptimizerSpec(
        alias.nadam, optax.nadam, {}, (1e-3, 3e-3, 1e-2),
        "Adam with m^ = b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t)",
        "Dozat 2016, Incorporating Nesterov Momentum into Adam (ICLR workshop)",
    ),
    "amsgrad": OptimizerSpec(
        alias.amsgrad, optax.amsgrad, {}, (1e-3, 3e-3, 1e-2),
        "vmax = max(vmax, v^);  u = -lr * m^ / (sqrt(vmax) + eps)",
        "Reddi, Kale and Kumar 2018, On the Convergence of Adam and Beyond (ICLR)",
    ),
    "adamax": OptimizerSpec(
        alias.adamax, optax.adamax, {}, (2e-3, 6e-3, 2e-2),
        "v = max(b2 v, |g| + eps);  u = -lr * m^ / v",
        KINGMA_BA + ", section 7.1",
    ),
    "lion": OptimizerSpec(
        alias.lion, optax.lion, {}, (1e-4, 3e-4, 1e-3),
        "u = -lr * (sign(0.9 m + 0.1 g) + wd * theta);  m = 0.99 m + 0.01 g",
        "Chen et al. 2023, Symbolic Discovery of Optimization Algorithms (arXiv:2302.06675)",
    ),
}

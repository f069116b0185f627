"""The named optimizers the suite runs: name -> OptimizerSpec.

Learning-rate grids are three half-decade-spaced values: each optimizer's best rate in the
committed sweep (SWEEP_LEARNING_RATES, SWEPT_BEST_LEARNING_RATE below) and its two
neighbours. Hyperparameters not listed keep optax's defaults.

Search spaces (`search_space`, for tuning; `hyperparams` stays what every run uses) name each
tunable hyperparameter's factory argument, scale and bounds in the argument's own units, with
the source in `search_space_source`. Where a space comes from AlgoPerf's baselines
(mlcommons/algorithmic-efficiency, reference_algorithms/paper_baselines/*/
tuning_search_space.json) the bounds are AlgoPerf's (its "one_minus_beta1" as our b1 or
momentum); elsewhere the parametrization is Choi et al. 2019's (log learning rate, log 1 - beta,
log eps: "On Empirical Comparisons of Optimizers for Deep Learning", arXiv:1910.05446) and
the bounds are ours, provisional: wide ranges around optax's defaults and the paper's advice,
not copied from a published table.
"""
from __future__ import annotations

import optax

from optimizers import alias, contrib
from optimizers.spec import OptimizerSpec, SearchDimension

# The learning-rate grid of the committed sweep (`python -m bench --suite sweep --out
# results/reference/sweep.json`: every optimizer under he_normal on digits-mlp, 300 steps, the
# rate warmed up over 5% of them and decayed to zero by a cosine, as the comparison suites), and
# each optimizer's rate chosen there on the validation accuracy of 4 selection seeds (seeds
# 0-3, disjoint from every evaluation seed). Each default grid is that rate and its two
# neighbours; tests/bench/suite/test_suites.py holds them to the committed file.
SWEEP_LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)
SWEPT_BEST_LEARNING_RATE: dict[str, float] = {
    "gd": 1.0,
    "sgd": 0.3,
    "momentum": 0.1,
    "nesterov": 0.1,
    "adagrad": 0.3,
    "adadelta": 3.0,
    "rmsprop": 0.03,
    "adam": 0.01,
    "adamw": 0.01,
    "nadam": 0.01,
    "amsgrad": 0.01,
    "adamax": 0.1,
    "lion": 0.001,
    "nadamw": 0.01,
    "radam": 0.03,
    "adabelief": 0.01,
    "yogi": 0.01,
    "lamb": 0.003,
    "lars": 3.0,
    "adafactor": 0.03,
    "signum": 0.001,
    "muon": 0.01,
    "schedule_free_adamw": 0.003,
    "schedule_free_sgd": 3.0,
    "prodigy": 1.0,
    "ademamix": 0.01,
    "adopt": 0.003,
}


# The same sweep at a constant learning rate (`--schedule constant`, results/reference/
# sweep-constant.json): the default-constant suite's rates.
SWEPT_BEST_CONSTANT_LEARNING_RATE: dict[str, float] = {
    "gd": 1.0,
    "sgd": 1.0,
    "momentum": 0.3,
    "nesterov": 0.3,
    "adagrad": 0.3,
    "adadelta": 3.0,
    "rmsprop": 0.01,
    "adam": 0.003,
    "adamw": 0.003,
    "nadam": 0.003,
    "amsgrad": 0.01,
    "adamax": 0.003,
    "lion": 0.001,
    "nadamw": 0.003,
    "radam": 0.01,
    "adabelief": 0.001,
    "yogi": 0.003,
    "lamb": 0.003,
    "lars": 0.3,
    "adafactor": 0.01,
    "signum": 0.0003,
    "muon": 0.01,
    "schedule_free_adamw": 0.003,
    "schedule_free_sgd": 1.0,
    "prodigy": 3.0,
    "ademamix": 0.003,
    "adopt": 0.01,
}


def swept_grid(name: str) -> tuple[float, ...]:
    """The swept best rate of `name` and its two neighbours in the sweep's grid."""
    i = SWEEP_LEARNING_RATES.index(SWEPT_BEST_LEARNING_RATE[name])
    return SWEEP_LEARNING_RATES[max(i - 1, 0):i + 2]


KINGMA_BA = "Kingma and Ba 2015, Adam: A Method for Stochastic Optimization (arXiv:1412.6980)"
DEFAZIO = "Defazio et al. 2024, The Road Less Scheduled (NeurIPS; arXiv:2405.15682)"

ALGOPERF = "AlgoPerf baseline (mlcommons/algorithmic-efficiency, reference_algorithms/paper_baselines/"
CHOI = ("Choi et al. 2019's parametrization (log learning rate, log 1 - beta, log eps); bounds ours, "
        "provisional")


def log(argument: str, low: float, high: float) -> SearchDimension:
    return SearchDimension(argument, "log", low, high)


def one_minus_log(argument: str, low: float, high: float) -> SearchDimension:
    return SearchDimension(argument, "one_minus_log", low, high)


def linear(argument: str, low: float, high: float) -> SearchDimension:
    return SearchDimension(argument, "linear", low, high)


def space(*dimensions: SearchDimension) -> dict[str, SearchDimension]:
    """name -> dimension; a hyperparameter's name is the argument it feeds."""
    return {dimension.argument: dimension for dimension in dimensions}


ADAM_LIKE = space(log("learning_rate", 1e-5, 1e-1), one_minus_log("b1", 0.0, 0.999),
                  one_minus_log("b2", 0.9, 0.9999), log("eps", 1e-10, 1e-2))
MOMENTUM_SPACE = space(log("learning_rate", 2e-2, 5.0), one_minus_log("momentum", 0.7, 0.995))
MOMENTUM_SOURCE = (ALGOPERF + "nesterov/tuning_search_space.json @6634043: learning rate [2e-2, 5] log, "
                   "1 - momentum [5e-3, 0.3] log; its weight decay has no counterpart here")

OPTIMIZERS: dict[str, OptimizerSpec] = {
    "gd": OptimizerSpec(
        alias.sgd, optax.sgd, {}, swept_grid("gd"),
        "u = -lr * g, g the full-batch gradient",
        "Cauchy 1847, Methode generale pour la resolution des systemes d'equations simultanees",
        full_batch=True,
        search_space=space(log("learning_rate", 1e-2, 10.0)),
        search_space_source="learning rate only; bounds ours, provisional (around the swept best, 1.0)",
    ),
    "sgd": OptimizerSpec(
        alias.sgd, optax.sgd, {}, swept_grid("sgd"),
        "u = -lr * g, g a mini-batch gradient",
        "Robbins and Monro 1951, A Stochastic Approximation Method",
        search_space=space(log("learning_rate", 1e-2, 10.0)),
        search_space_source="learning rate only; bounds ours, provisional (around the swept best, 1.0)",
    ),
    "momentum": OptimizerSpec(
        alias.sgd, optax.sgd, {"momentum": 0.9}, swept_grid("momentum"),
        "m = g + 0.9 m;  u = -lr * m",
        "Polyak 1964, Some methods of speeding up the convergence of iteration methods",
        search_space=MOMENTUM_SPACE,
        search_space_source=MOMENTUM_SOURCE,
    ),
    "nesterov": OptimizerSpec(
        alias.sgd, optax.sgd, {"momentum": 0.9, "nesterov": True}, swept_grid("nesterov"),
        "m = g + 0.9 m;  u = -lr * (g + 0.9 m)",
        "Sutskever et al. 2013, On the importance of initialization and momentum in deep learning",
        search_space=MOMENTUM_SPACE,
        search_space_source=MOMENTUM_SOURCE,
    ),
    "adagrad": OptimizerSpec(
        alias.adagrad, optax.adagrad, {}, swept_grid("adagrad"),
        "s = s + g^2 (s0 = 0.1);  u = -lr * g / sqrt(s + eps)",
        "Duchi, Hazan and Singer 2011, Adaptive Subgradient Methods (JMLR 12)",
        search_space=space(log("learning_rate", 1e-3, 3.0), log("initial_accumulator_value", 1e-3, 1.0),
                           log("eps", 1e-10, 1e-3)),
        search_space_source=CHOI,
    ),
    "adadelta": OptimizerSpec(
        alias.adadelta, optax.adadelta, {}, swept_grid("adadelta"),
        "u = -lr * sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g",
        "Zeiler 2012, ADADELTA: An Adaptive Learning Rate Method (arXiv:1212.5701)",
        search_space=space(log("learning_rate", 0.1, 30.0), one_minus_log("rho", 0.5, 0.999), log("eps", 1e-8, 1e-2)),
        search_space_source=CHOI,
    ),
    "rmsprop": OptimizerSpec(
        alias.rmsprop, optax.rmsprop, {}, swept_grid("rmsprop"),
        "v = 0.9 v + 0.1 g^2;  u = -lr * g / sqrt(v + eps)",
        "Hinton, Srivastava and Swersky 2012, Neural Networks for Machine Learning, lecture 6e",
        search_space=space(log("learning_rate", 1e-4, 1e-1), one_minus_log("decay", 0.5, 0.999),
                           log("eps", 1e-10, 1e-2)),
        search_space_source=CHOI,
    ),
    "adam": OptimizerSpec(
        alias.adam, optax.adam, {}, swept_grid("adam"),
        "u = -lr * m^ / (sqrt(v^) + eps), m^, v^ bias-corrected moment averages",
        KINGMA_BA,
        search_space=ADAM_LIKE,
        search_space_source=CHOI,
    ),
    "adamw": OptimizerSpec(
        alias.adamw, optax.adamw, {}, swept_grid("adamw"),
        "u = -lr * (m^ / (sqrt(v^) + eps) + wd * theta), wd = 1e-4",
        "Loshchilov and Hutter 2019, Decoupled Weight Decay Regularization (ICLR)",
        search_space=space(log("learning_rate", 1e-4, 1e-2), one_minus_log("b1", 0.5, 0.98),
                           log("weight_decay", 5e-3, 1.0)),
        search_space_source=ALGOPERF + "adamw/tuning_search_space.json @479835b; b2 fixed at 0.999 there",
    ),
    "nadam": OptimizerSpec(
        alias.nadam, optax.nadam, {}, swept_grid("nadam"),
        "Adam with m^ = b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t)",
        "Dozat 2016, Incorporating Nesterov Momentum into Adam (ICLR workshop)",
        search_space=ADAM_LIKE,
        search_space_source=CHOI,
    ),
    "amsgrad": OptimizerSpec(
        alias.amsgrad, optax.amsgrad, {}, swept_grid("amsgrad"),
        "vmax = max(vmax, v^);  u = -lr * m^ / (sqrt(vmax) + eps)",
        "Reddi, Kale and Kumar 2018, On the Convergence of Adam and Beyond (ICLR)",
        search_space=ADAM_LIKE,
        search_space_source=CHOI,
    ),
    "adamax": OptimizerSpec(
        alias.adamax, optax.adamax, {}, swept_grid("adamax"),
        "v = max(b2 v, |g| + eps);  u = -lr * m^ / v",
        KINGMA_BA + ", section 7.1",
        search_space=space(log("learning_rate", 1e-5, 1e-1), one_minus_log("b1", 0.0, 0.999),
                           one_minus_log("b2", 0.9, 0.9999)),
        search_space_source=CHOI,
    ),
    "lion": OptimizerSpec(
        alias.lion, optax.lion, {}, swept_grid("lion"),
        "u = -lr * (sign(0.9 m + 0.1 g) + wd * theta);  m = 0.99 m + 0.01 g",
        "Chen et al. 2023, Symbolic Discovery of Optimization Algorithms (arXiv:2302.06675)",
        search_space=space(log("learning_rate", 1e-6, 1e-2), one_minus_log("b1", 0.5, 0.99),
                           one_minus_log("b2", 0.9, 0.999), log("weight_decay", 1e-4, 1.0)),
        search_space_source=CHOI + " (Chen et al. 2023: 3-10x smaller rate and larger decay than AdamW's)",
    ),
    "nadamw": OptimizerSpec(
        alias.nadamw, optax.nadamw, {}, swept_grid("nadamw"),
        "NAdam's m^ with decoupled decay: u = -lr * (m^ / (sqrt(v^) + eps) + wd * theta)",
        "Dozat 2016 (NAdam) with Loshchilov and Hutter 2019's decay: AlgoPerf's baseline (Dahl et al. 2023, "
        "Benchmarking Neural Network Training Algorithms, arXiv:2306.07179)",
        search_space=space(log("learning_rate", 1e-4, 1e-2), one_minus_log("b1", 0.9, 0.996),
                           log("weight_decay", 5e-3, 1.0)),
        search_space_source=("AlgoPerf baseline (mlcommons/algorithmic-efficiency, algorithms/paper_baselines/"
                             "nadamw/tuning_search_space.json @0ac2dbe); b2 fixed at 0.999 there"),
    ),
    "radam": OptimizerSpec(
        alias.radam, optax.radam, {}, swept_grid("radam"),
        "u = -lr * r_t m^ / (sqrt(v^) + eps) once rho_t >= 5, else -lr * m^ (rectified Adam)",
        "Liu et al. 2020, On the Variance of the Adaptive Learning Rate and Beyond (ICLR)",
        search_space=ADAM_LIKE,
        search_space_source=CHOI,
    ),
    "adabelief": OptimizerSpec(
        alias.adabelief, optax.adabelief, {}, swept_grid("adabelief"),
        "s = b2 s + (1 - b2) (g - m)^2 + eps;  u = -lr * m^ / (sqrt(s^) + eps)",
        "Zhuang et al. 2020, AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed Gradients (NeurIPS)",
        search_space=space(log("learning_rate", 1e-5, 1e-1), one_minus_log("b1", 0.0, 0.999),
                           one_minus_log("b2", 0.9, 0.9999), log("eps", 1e-16, 1e-8)),
        search_space_source=CHOI,
    ),
    "yogi": OptimizerSpec(
        alias.yogi, optax.yogi, {}, swept_grid("yogi"),
        "v = v - (1 - b2) sign(v - g^2) g^2;  u = -lr * m^ / (sqrt(v^) + 1e-3)",
        "Zaheer et al. 2018, Adaptive Methods for Nonconvex Optimization (NeurIPS)",
        search_space=space(log("learning_rate", 1e-4, 1.0), one_minus_log("b1", 0.0, 0.999),
                           one_minus_log("b2", 0.9, 0.9999), log("eps", 1e-6, 1e-1)),
        search_space_source=CHOI,
    ),
    "lamb": OptimizerSpec(
        alias.lamb, optax.lamb, {}, swept_grid("lamb"),
        "r = m^ / (sqrt(v^) + eps) + wd * theta;  u = -lr * ||theta|| / ||r|| * r, per layer",
        "You et al. 2020, Large Batch Optimization for Deep Learning: Training BERT in 76 minutes (ICLR)",
        search_space=space(log("learning_rate", 1e-4, 1e-2), one_minus_log("b1", 0.7, 0.95),
                           log("weight_decay", 1e-3, 1.0)),
        search_space_source=ALGOPERF + "lamb/tuning_search_space.json @eafea99; b2 fixed at 0.999 there",
    ),
    "lars": OptimizerSpec(
        alias.lars, optax.lars, {}, swept_grid("lars"),
        "r = g + wd * theta;  m = 0.9 m - lr * 1e-3 ||theta|| / ||r|| * r, per layer;  u = m",
        "You, Gitman and Ginsburg 2017, Large Batch Training of Convolutional Networks (arXiv:1708.03888)",
        search_space=space(log("learning_rate", 0.1, 30.0), one_minus_log("momentum", 0.5, 0.99),
                           log("weight_decay", 1e-6, 1e-2), log("trust_coefficient", 1e-4, 1e-1)),
        search_space_source=CHOI + " (the trust ratio scales steps by ~1e-3, hence the large rates)",
    ),
    "adafactor": OptimizerSpec(
        alias.adafactor, optax.adafactor, {}, swept_grid("adafactor"),
        "V^ = row/column-factored EMA of g^2 (beta2_t = 1 - t^-0.8);  u = -lr * max(rms(theta), 1e-3) * "
        "clip(g / sqrt(V^))",
        "Shazeer and Stern 2018, Adafactor: Adaptive Learning Rates with Sublinear Memory Cost (ICML)",
        search_space=space(log("learning_rate", 1e-3, 1.0), one_minus_log("momentum", 0.55, 0.99),
                           linear("decay_rate", 0.5, 1.0)),
        search_space_source=(ALGOPERF + "adafactor/tuning_search_space.json @0dced90 for the momentum (its 1 - "
                             "beta1 in [1e-2, 0.45]); learning rate and decay_rate ours, provisional (optax's "
                             "Adafactor multiplies by the parameter scale, AlgoPerf's rates do not carry over)"),
    ),
    "signum": OptimizerSpec(
        alias.signum, optax.signum, {}, swept_grid("signum"),
        "m = 0.9 m + 0.1 g;  u = -lr * sign(m)",
        "Bernstein et al. 2018, signSGD: Compressed Optimisation for Non-Convex Problems (ICML)",
        search_space=space(log("learning_rate", 1e-6, 1e-2), one_minus_log("beta", 0.5, 0.99)),
        search_space_source=CHOI,
    ),
    "muon": OptimizerSpec(
        contrib.muon, optax.contrib.muon, {}, swept_grid("muon"),
        "matrices: u = -lr * sqrt(max(1, fan_out / fan_in)) * NS5(m^), m = EMA(g, 0.95), NS5 ~ U V^T;  "
        "other leaves: AdamW at the same rate",
        "Jordan et al. 2024, Muon: An optimizer for hidden layers in neural networks (kellerjordan.github.io); "
        "Bernstein and Newhouse 2024, Old Optimizer, New Norm (arXiv:2409.20325)",
        search_space=space(log("learning_rate", 1e-4, 1e-1), one_minus_log("beta", 0.8, 0.99),
                           log("weight_decay", 1e-5, 1e-1)),
        search_space_source=CHOI + " (Jordan et al. use lr 0.02, beta 0.95)",
    ),
    "schedule_free_adamw": OptimizerSpec(
        contrib.schedule_free_adamw, optax.contrib.schedule_free_adamw, {}, swept_grid("schedule_free_adamw"),
        "z -= lr * g(y) / (sqrt(v^) + eps), y = 0.9 x + 0.1 z, x = lr^2-weighted mean of z; evaluated at x",
        DEFAZIO + "; AlgoPerf 2024 self-tuning winner (Kasimbeg et al. 2025)",
        search_space=space(log("learning_rate", 1e-4, 1e-1), one_minus_log("b1", 0.5, 0.98),
                           one_minus_log("b2", 0.9, 0.9999), log("weight_decay", 1e-5, 1e-1)),
        search_space_source=CHOI,
        eval_params=contrib.schedule_free_eval_params, decays=False,
    ),
    "schedule_free_sgd": OptimizerSpec(
        contrib.schedule_free_sgd, optax.contrib.schedule_free_sgd, {}, swept_grid("schedule_free_sgd"),
        "z -= lr * g(y), y = 0.9 x + 0.1 z, x = lr^2-weighted mean of z; evaluated at x",
        DEFAZIO,
        search_space=space(log("learning_rate", 1e-2, 10.0), one_minus_log("b1", 0.5, 0.98)),
        search_space_source=CHOI,
        eval_params=contrib.schedule_free_eval_params, decays=False,
    ),
    "prodigy": OptimizerSpec(
        # safeguard_warmup: the paper's advice under a warm-up (a zero first rate otherwise
        # divides zero by zero in the step-size estimate)
        contrib.prodigy, optax.contrib.prodigy, {"safeguard_warmup": True}, swept_grid("prodigy"),
        "Adam on d * g, d = max(d, sum of weighted <g, theta0 - theta> / ||s||_1);  "
        "u = -lr * d * m^ / (sqrt(v) + d * eps)",
        "Mishchenko and Defazio 2024, Prodigy: An Expeditiously Adaptive Parameter-Free Learner "
        "(ICML; arXiv:2306.06101)",
        search_space=space(log("learning_rate", 0.1, 10.0), log("weight_decay", 1e-5, 1e-1)),
        search_space_source="ours, provisional: the rate is a multiplier of the estimated step (the paper: 1.0)",
    ),
    "ademamix": OptimizerSpec(
        contrib.ademamix, optax.contrib.ademamix, {}, swept_grid("ademamix"),
        "u = -lr * (m^ + 5 * m2) / (sqrt(v^) + eps), m2 = EMA(g, 0.9999) not bias-corrected",
        "Pagliardini, Ablin and Grangier 2024, The AdEMAMix Optimizer: Better, Faster, Older (arXiv:2409.03137)",
        search_space=space(log("learning_rate", 1e-5, 1e-1), one_minus_log("b3", 0.99, 0.99999),
                           linear("alpha", 2.0, 10.0)),
        search_space_source=CHOI + " (b3 and alpha around the paper's 0.9999 and 5-8)",
    ),
    "adopt": OptimizerSpec(
        contrib.adopt, optax.contrib.adopt, {}, swept_grid("adopt"),
        "m = 0.9 m + 0.1 clip(g / max(sqrt(v_prev), eps), t^0.25);  v = EMA(g^2, 0.9999);  u = -lr * m",
        "Taniguchi et al. 2024, ADOPT: Modified Adam Can Converge with Any beta2 with the Optimal Rate "
        "(NeurIPS; arXiv:2411.02853)",
        search_space=space(log("learning_rate", 1e-5, 1e-1), one_minus_log("b1", 0.5, 0.99),
                           one_minus_log("b2", 0.99, 0.99999), log("eps", 1e-8, 1e-4)),
        search_space_source=CHOI,
    ),
}

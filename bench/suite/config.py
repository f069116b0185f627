"""What to run: suites, and the validated `Config` a run is built from.

Every check here raises `UsageError` with one line naming the bad value (and, for a name, the
closest valid one), before anything is compiled or written.
"""
from __future__ import annotations

import difflib
import functools
import math
import numbers
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence, Union

from bench.counting import largest_divisor_at_most
from bench.errors import UsageError
from optimizers.registry import (SWEEP_LEARNING_RATES, SWEPT_BEST_CONSTANT_LEARNING_RATE,
                                 SWEPT_BEST_LEARNING_RATE)

# Evaluation seeds start here; selection seeds are 0, 1, 2, ...: the seeds that choose a
# configuration never report test accuracy.
EVALUATION_SEED_BASE = 1000
CLASSIC_OPTIMIZERS = ("gd", "sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam")
# The twelve strategies of the default and deep suites: every one applies to a plain MLP.
CLASSIC_INITS = ("small_random", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                 "lecun_normal", "orthogonal", "zeros", "constant", "random_normal",
                 "random_uniform", "lsuv")


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    tasks: tuple[str, ...]
    # (optimizer, init) pairs; None means every pair of `optimizers` x `inits`.
    optimizers: tuple[str, ...] | None = None
    inits: tuple[str, ...] | None = None
    pairs: tuple[tuple[str, str], ...] | None = None
    seeds: int = 8  # evaluation seeds per cell: they alone report test accuracy
    selection_seeds: int = 4  # seeds that choose each (optimizer, init)'s configuration
    steps: int | None = None  # None: each task's default
    eval_every: int | None = None  # None: default_eval_every(steps)
    # optimizer -> learning rates; None (or a missing optimizer): the optimizer's default grid
    learning_rates: dict[str, tuple[float, ...]] | None = None
    # the learning rate's schedule (SCHEDULES): constant, or a linear warm-up over
    # warmup_fraction of the steps, then a cosine or linear decay to final_fraction of the peak
    schedule: str = "constant"
    warmup_fraction: float = 0.05
    final_fraction: float = 0.0
    # training budgets (steps): each run trains to its budget, its schedule's horizon; None:
    # one budget, the task's steps (or `steps`)
    budgets: tuple[int, ...] | None = None


MNIST1D_TASKS = ("mnist1d-linear", "mnist1d-mlp", "mnist1d-cnn", "mnist1d-gru", "mnist1d-shuffled-mlp",
                 "mnist1d-shuffled-cnn")
# Every task whose data ship with the suite or are generated offline (MNIST, Fashion-MNIST and
# CIFAR must be downloaded); `targets` sets their targets (bench.tasks.TARGET_FRACTION).
TARGET_TASKS = ("digits-mlp", "digits-deep", "digits-cnn", "spirals", *MNIST1D_TASKS)
TARGET_LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
MUP_TASKS = tuple(f"digits-mlp-w{width}" for width in (64, 128, 256, 512, 1024))
MUP_LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


def default_eval_every(steps: int) -> int:
    """Every 25 steps, or about 40 evaluations on long runs: the largest divisor of `steps` up
    to max(25, steps // 40)."""
    return largest_divisor_at_most(steps, max(25, steps // 40))


def _default_pairs(inits: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """All strategies under momentum and Adam, all classic optimizers under he_normal."""
    pairs = [(opt, init) for opt in ("momentum", "adam") for init in inits]
    pairs += [(opt, "he_normal") for opt in CLASSIC_OPTIMIZERS if (opt, "he_normal") not in pairs]
    return tuple(sorted(pairs, key=lambda p: (CLASSIC_OPTIMIZERS.index(p[0]), inits.index(p[1]))))


# Each optimizer's best rate under he_normal in the committed sweeps (optimizers.registry: made by
# `python -m bench --suite sweep --out results/reference/sweep.json` under the decayed schedule,
# and with `--schedule constant` into sweep-constant.json; chosen on its selection seeds).
# Momentum and Adam, which carry all twelve inits, also get the rate a decade below: a rate
# tuned on he_normal is too large for the inits that start with exploding activations, and the
# better of the two is chosen per (optimizer, init) on the selection seeds.
# tests/bench/suite/test_suites.py holds them to the sweeps.
def _around_swept(best: dict[str, float]) -> dict[str, tuple[float, ...]]:
    return {opt: (round(best[opt] / 10, 12), best[opt]) if opt in ("momentum", "adam") else (best[opt],)
            for opt in CLASSIC_OPTIMIZERS}


DEFAULT_LEARNING_RATES = _around_swept(SWEPT_BEST_LEARNING_RATE)
DEFAULT_CONSTANT_LEARNING_RATES = _around_swept(SWEPT_BEST_CONSTANT_LEARNING_RATE)
# The comparison suites' protocol: a linear warm-up over 5% of the steps, then a cosine decay
# to zero (Kaddour et al. 2023; AlgoPerf): a constant rate favours some optimizers over others.
DECAYED = {"schedule": "warmup_cosine", "warmup_fraction": 0.05, "final_fraction": 0.0}


def suites() -> dict[str, Suite]:
    from optimizers import OPTIMIZERS

    inits = CLASSIC_INITS
    return {
        "default": Suite(
            "default", "digits-mlp: 12 inits under momentum and Adam, 8 optimizers under "
            "he_normal, 8 seeds, each optimizer at its swept learning rate, budgets of 150 and 300 steps",
            ("digits-mlp",), pairs=_default_pairs(inits), seeds=8, eval_every=25,
            learning_rates=DEFAULT_LEARNING_RATES, budgets=(150, 300), **DECAYED),
        "default-constant": Suite(
            "default-constant", "the default suite at a constant learning rate (each optimizer at "
            "its rate swept at a constant rate): what the decay changes",
            ("digits-mlp",), pairs=_default_pairs(inits), seeds=8, eval_every=25,
            learning_rates=DEFAULT_CONSTANT_LEARNING_RATES, budgets=(150, 300)),
        "full": Suite(
            "full", "digits-mlp: every optimizer x every init, each optimizer's learning-rate grid",
            ("digits-mlp",), seeds=8, eval_every=25, **DECAYED),
        "sweep": Suite(
            "sweep", "digits-mlp: every optimizer under he_normal over 11 learning rates "
            "(1e-4..10), chosen on 4 selection seeds: sets the default suite's rates and the "
            "optimizers' grids", ("digits-mlp",), optimizers=tuple(OPTIMIZERS), inits=("he_normal",),
            seeds=4, eval_every=25,
            learning_rates={opt: SWEEP_LEARNING_RATES for opt in OPTIMIZERS}, **DECAYED),
        "deep": Suite(
            "deep", "digits-deep (20 hidden layers): every init under momentum and Adam",
            ("digits-deep",), optimizers=("momentum", "adam"), inits=CLASSIC_INITS, seeds=8, eval_every=25,
            # not swept: the MLP's swept momentum rates (0.1-1) are too hot for 20 plain layers
            learning_rates={"momentum": (0.003, 0.01, 0.03), "adam": (1e-3, 3e-3, 1e-2)}, **DECAYED),
        "mnist1d": Suite(
            "mnist1d", "MNIST-1D's table (Greydanus 2020): the paper's six models, Adam at the "
            "paper's lr 1e-2, batch 100, 8,000 steps, lecun_normal, 2 selection + 4 evaluation seeds",
            MNIST1D_TASKS, optimizers=("adam",), inits=("lecun_normal",), seeds=4, selection_seeds=2,
            learning_rates={"adam": (1e-2,)}),
        "targets": Suite(
            "targets", "the tuned baseline that sets each task's target: Adam under he_normal over "
            "six learning rates on every task that needs no download, 4 selection seeds",
            TARGET_TASKS, optimizers=("adam",), inits=("he_normal",), seeds=4, selection_seeds=4,
            learning_rates={"adam": TARGET_LEARNING_RATES}),
        "mup": Suite(
            "mup", "muP in miniature (Yang et al. 2021, Figure 1): MLPs of widths 64-1024 under the "
            "standard parametrization (lecun_normal) and muP, Adam over one learning-rate grid",
            MUP_TASKS, optimizers=("adam",), inits=("lecun_normal", "mup"), seeds=2, selection_seeds=4,
            eval_every=25, learning_rates={"adam": MUP_LEARNING_RATES}),
        "smoke": Suite(
            "smoke", "a few seconds: 2 optimizers x 2 inits x 2 seeds, 50 steps",
            ("digits-mlp",), optimizers=("sgd", "adam"), inits=("he_normal", "lsuv"), seeds=2,
            selection_seeds=2,
            steps=50, eval_every=10, learning_rates={"sgd": (0.1,), "adam": (3e-3,)}, **DECAYED),
    }


@dataclass(frozen=True)
class TaskSettings:
    """One task of a run, with the settings its runs train under."""

    task: str
    steps: int
    batch_size: int
    eval_every: int
    target: float
    num_classes: int  # chance, 1 / num_classes, is what a failed run that measured nothing counts as
    n_test: int  # test examples: the report flags a difference below 3 of them


@dataclass(frozen=True)
class Methods:
    """The objects behind a run's names, built-ins and the user's alike, resolved once at the
    edge (`resolve_methods`, `bench.plugins`): below the config nothing asks whose they are.

    `sources`: kind ("task", "optimizer", "init") -> name -> provenance of each user object
    (its spec, file and sha256, or package and version); the built-ins have none. `static`:
    the optimizers whose factories cannot take traced hyperparameters, so that each of their
    configurations is a program of its own.
    """

    tasks: dict[str, Any]
    optimizers: dict[str, Any]
    strategies: dict[str, Any]
    pairs: tuple[tuple[str, str], ...]
    sources: dict[str, dict[str, dict]] = field(default_factory=dict)
    static: frozenset = frozenset()

    @classmethod
    def of(cls, tasks, optimizers, inits, pairs) -> "Methods":
        """From `bench.plugins.Resolved` tables, keeping the optimizers and inits of `pairs`."""
        used_optimizers = dict.fromkeys(o for o, _ in pairs)
        used_inits = dict.fromkeys(i for _, i in pairs)
        kept = {"task": dict(tasks), "optimizer": {name: optimizers[name] for name in used_optimizers},
                "init": {name: inits[name] for name in used_inits}}
        sources = {kind: {name: r.source for name, r in table.items() if r.source is not None}
                   for kind, table in kept.items()}
        return cls(tasks={name: r.obj for name, r in kept["task"].items()},
                   optimizers={name: r.obj for name, r in kept["optimizer"].items()},
                   strategies={name: r.obj for name, r in kept["init"].items()},
                   pairs=tuple(pairs), sources={kind: table for kind, table in sources.items() if table},
                   static=frozenset(name for name, r in kept["optimizer"].items() if not r.traceable))

    @property
    def optimizer_names(self) -> list[str]:
        return list(self.optimizers)


@dataclass(frozen=True)
class Config:
    """A fully resolved, validated run: everything a results file's `meta.config` records.

    Every (task, optimizer, init) first trains each candidate configuration of the optimizer
    on the selection seeds (skipped when there is only one candidate), chooses one on
    validation accuracy, then trains the chosen one on the evaluation seeds, which alone report
    test accuracy.
    """

    suite: str
    tasks: tuple[TaskSettings, ...]
    pairs: tuple[tuple[str, str], ...]
    evaluation_seeds: tuple[int, ...]
    selection_seeds: tuple[int, ...]
    learning_rates: dict[str, tuple[float, ...]] = field(default_factory=dict)
    max_runs_per_chunk: int | None = None
    # optimizer -> candidate configurations (name -> value, learning_rate included); None: the
    # learning-rate grid. `tune` sets it from its search, with the space it searched.
    search: dict[str, tuple[dict[str, float], ...]] | None = None
    search_space: dict[str, dict[str, list]] | None = None
    schedule: str = "constant"
    warmup_fraction: float = 0.0  # with a schedule other than constant: its warm-up and end
    final_fraction: float = 0.0
    methods: Methods | None = None  # the objects behind the names (resolve_methods)
    budgets: tuple[int, ...] | None = None  # several training budgets (steps), or None: one

    def task_spec(self, name: str):
        return self.methods.tasks[name]

    def optimizer_spec(self, name: str):
        return self.methods.optimizers[name]

    def strategy(self, name: str):
        return self.methods.strategies[name]

    def sources_of(self, task: str, optimizer: str) -> dict[str, dict]:
        """Provenance of the user objects a (task, optimizer) program trains: its task, its
        optimizer and its inits (empty when all are built-ins). Part of the program's reuse
        key: an edited file retrains exactly the programs that use it."""
        sources = (self.methods.sources if self.methods else {})
        found = {"task": sources.get("task", {}).get(task),
                 "optimizer": sources.get("optimizer", {}).get(optimizer),
                 "inits": {init: sources["init"][init] for init in self.inits_for(optimizer)
                           if init in sources.get("init", {})} or None}
        return {kind: source for kind, source in found.items() if source}

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.evaluation_seeds

    @property
    def optimizers(self) -> list[str]:
        return list(dict.fromkeys(opt for opt, _ in self.pairs))

    @property
    def inits(self) -> list[str]:
        return list(dict.fromkeys(init for _, init in self.pairs))

    def inits_for(self, optimizer: str) -> list[str]:
        return [init for opt, init in self.pairs if opt == optimizer]

    def candidates(self, optimizer: str) -> tuple[dict[str, float], ...]:
        """The optimizer's configurations, in trial order (trial i is candidates[i]): with
        several budgets, each configuration at each budget (the budgets outermost). An optimizer
        that makes its own schedule (`decays` False: schedule-free), where a configuration
        decays the rate, warms up and then holds the peak: its final fraction is 1."""
        if self.search is not None and optimizer in self.search:
            found = self.search[optimizer]
        else:
            found = tuple({"learning_rate": float(lr), **self.schedule_values()}
                          for lr in self.learning_rates[optimizer])
        if not getattr(self.optimizer_spec(optimizer), "decays", True):
            found = tuple({**candidate, "final_fraction": 1.0} if "schedule" in candidate else candidate
                          for candidate in found)
        if not self.budgets:
            return found
        from bench.runner import BUDGET

        return tuple({**candidate, BUDGET: float(budget)} for budget in self.budgets for candidate in found)

    def scheduled_outside(self) -> list[str]:
        """The optimizers whose factories take no schedule as their learning rate, where this
        run decays it: their updates are multiplied by the schedule over the peak."""
        if self.schedule == "constant" or self.methods is None:
            return []
        return sorted(name for name, spec in self.methods.optimizers.items()
                      if not getattr(spec, "takes_schedule", True))

    def candidates_per_budget(self, optimizer: str) -> int:
        """How many configurations each budget chooses among."""
        return len(self.candidates(optimizer)) // len(self.budgets or (1,))

    def schedule_values(self) -> dict[str, float]:
        """The per-run values of the learning-rate schedule (none for a constant rate): traced
        like every hyperparameter, part of each configuration and of its program's key."""
        if self.schedule == "constant":
            return {}
        from bench.runner import SCHEDULES

        return {"schedule": float(SCHEDULES.index(self.schedule)),
                "warmup_fraction": float(self.warmup_fraction),
                "final_fraction": float(self.final_fraction)}

    def as_json(self) -> dict[str, Any]:
        first = self.tasks[0]
        return {
            "suite": self.suite,
            "tasks": [asdict(settings) for settings in self.tasks],
            # one-task runs also keep the settings at the top level, as schema 1 had them
            **({"task": first.task, "steps": first.steps, "batch_size": first.batch_size,
                "eval_every": first.eval_every, "target": first.target, "num_classes": first.num_classes,
                "n_test": first.n_test} if len(self.tasks) == 1 else {}),
            "pairs": [list(pair) for pair in self.pairs],
            "optimizers": self.optimizers,
            "inits": self.inits,
            "seeds": len(self.evaluation_seeds),
            "seed_list": list(self.evaluation_seeds),
            "evaluation_seeds": list(self.evaluation_seeds),
            "selection_seeds": list(self.selection_seeds),
            "learning_rates": {k: list(v) for k, v in self.learning_rates.items()},
            "candidates": {opt: [dict(c) for c in self.candidates(opt)] for opt in self.optimizers},
            "search_space": self.search_space, "schedule": self.schedule,
            "budgets": list(self.budgets) if self.budgets else None,
            **({"warmup_fraction": self.warmup_fraction, "final_fraction": self.final_fraction}
               if self.schedule != "constant" and self.search is None else {}),
            "max_runs_per_chunk": self.max_runs_per_chunk,
            # the user's objects, where there are any: their specs, files and sha256s
            **({"plugins": self.methods.sources} if self.methods and self.methods.sources else {}),
            **({"static_optimizers": sorted(self.methods.static)}
               if self.methods and self.methods.static else {}),
            **({"scheduled_outside": self.scheduled_outside()} if self.scheduled_outside() else {}),
        }


def check_name(kind: str, name: str, valid: Sequence[str]) -> str:
    if name in valid:
        return name
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else f"; valid: {', '.join(valid)}"
    raise UsageError(f"unknown {kind} '{name}'{hint}")


def check_positive(flag: str, value: int | None) -> None:
    """A count given on the command line must be a positive integer (None: not given)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                              or value <= 0):
        raise UsageError(f"{flag} must be a positive integer, got {value}")


def parse_names(kind: str, text: str, valid: Sequence[str]) -> tuple[str, ...]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UsageError(f"--{kind}s needs at least one name; valid: {', '.join(valid)}")
    return tuple(dict.fromkeys(check_name(kind, name, valid) for name in names))


def parse_learning_rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--lrs must be comma-separated numbers like 1e-3,3e-3, got '{text}'") from None
    bad = [rate for rate in rates if not (rate > 0 and rate < float("inf"))]
    if bad:
        raise UsageError(f"--lrs must all be positive and finite, got {bad[0]}")
    return tuple(dict.fromkeys(rates))


Names = Union[str, Sequence[Any], Mapping[str, Any], None]


def resolve(suite: str | Suite = "default", *, task: Names = None, optimizers: Names = None,
            inits: Names = None, seeds: int | Sequence[int] | None = None,
            selection_seeds: int | None = None, steps: int | None = None,
            lrs: str | Sequence[float] | None = None, batch_size: int | None = None,
            eval_every: int | None = None, target: float | None = None,
            max_runs_per_chunk: int | None = None, trials: int | None = None,
            schedule: str | None = None, warmup_fraction: float | None = None,
            final_fraction: float | None = None, budgets: str | Sequence[int] | None = None) -> Config:
    """A suite (a name, or a Suite of the caller's), overridden by whatever the caller gives;
    every value checked.

    `task`, `optimizers`, `inits`: names ("a,b" or a list), which may also be the user's
    objects: `PATH.py:NAME`, `package.module:NAME`, an installed entry point's name, or in
    Python the objects themselves (a list, or a mapping name -> object); resolved here, once,
    into the objects the built-ins are (`bench.plugins`). `seeds`: the number of evaluation
    seeds (EVALUATION_SEED_BASE, +1, ...) or their list; `selection_seeds`: the number of
    selection seeds (0, 1, ...). `schedule` (SCHEDULES), `warmup_fraction` and `final_fraction`:
    the learning rate's schedule, the suite's unless given. `budgets` ("150,300" or a list):
    training budgets in steps, each configuration trained to each as a run of its own (its
    schedule's horizon), chosen per budget; the longest is every task's steps. Overrides apply
    to every task. `trials`: the number of
    candidate configurations per optimizer when a search (`tune`) will replace the
    learning-rate grid, so that the memory check counts them.
    """
    base = suite if isinstance(suite, Suite) else _named_suite(suite)
    _check_counts(seeds, selection_seeds, steps, batch_size, eval_every, max_runs_per_chunk, target)
    methods = resolve_methods(base, task, optimizers, inits)
    learning_rates = _learning_rates(base, methods, lrs)
    n_selection = base.selection_seeds if selection_seeds is None else selection_seeds
    evaluation = _evaluation_seeds(base, seeds, n_selection)
    chosen_budgets = _budgets(base, budgets, steps)
    if chosen_budgets is not None and len(chosen_budgets) == 1:
        steps, chosen_budgets = chosen_budgets[0], None  # one budget: the steps
    settings, models = _task_settings(base, methods, steps, batch_size, eval_every, target,
                                      chosen_budgets)
    candidates = {opt: (trials or len(rates)) * len(chosen_budgets or (1,))
                  for opt, rates in learning_rates.items()}
    check_fits_in_memory(settings, models, methods.pairs, candidates, n_selection, len(evaluation))
    schedule = _schedule(base, schedule, warmup_fraction, final_fraction)
    return Config(
        suite=base.name, tasks=tuple(settings), pairs=methods.pairs, **schedule,
        evaluation_seeds=tuple(evaluation),  # a range until here: 4 billion seeds are refused cheaply
        selection_seeds=tuple(range(n_selection)), learning_rates=learning_rates,
        max_runs_per_chunk=max_runs_per_chunk, methods=methods, budgets=chosen_budgets)


def parse_budgets(text: str) -> tuple[int, ...]:
    """'150,300' -> (150, 300): positive step counts, sorted, each once."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--budgets must be comma-separated step counts like 150,300, got '{text}'") from None
    if not values or min(values) < 1 or max(values) > MAX_STEPS:
        raise UsageError(f"--budgets must be step counts in [1, {MAX_STEPS}], got '{text}'")
    return tuple(sorted(set(values)))


def _budgets(base: Suite, budgets, steps) -> tuple[int, ...] | None:
    """The run's budgets: the caller's, else the suite's (unless the caller set --steps)."""
    if budgets is not None:
        if steps is not None:
            raise UsageError("give --steps or --budgets, not both (the longest budget is the steps)")
        return parse_budgets(budgets if isinstance(budgets, str) else ",".join(str(int(b)) for b in budgets))
    return None if steps is not None else base.budgets


def _schedule(base: Suite, schedule, warmup_fraction, final_fraction) -> dict[str, Any]:
    """The run's schedule and its fractions, checked (the suite's where not given)."""
    from bench.runner import SCHEDULES

    chosen = base.schedule if schedule is None else schedule
    if chosen not in SCHEDULES:
        raise UsageError(f"--schedule must be one of {', '.join(SCHEDULES)}, got '{chosen}'")
    fractions = {"warmup_fraction": base.warmup_fraction if warmup_fraction is None else warmup_fraction,
                 "final_fraction": base.final_fraction if final_fraction is None else final_fraction}
    for name, value in fractions.items():
        if not (isinstance(value, numbers.Real) and 0 <= value < 1):
            raise UsageError(f"--{name.replace('_', '-')} must be in [0, 1), got {value}")
    if chosen == "constant":
        if warmup_fraction is not None or final_fraction is not None:
            raise UsageError("--warmup-fraction and --final-fraction go with --schedule "
                             "warmup_cosine or warmup_linear")
        return {"schedule": chosen}
    return {"schedule": chosen, **{name: float(value) for name, value in fractions.items()}}


def _named_suite(name: str) -> Suite:
    all_suites = suites()
    return all_suites[check_name("suite", name, list(all_suites))]


def _check_counts(seeds, selection_seeds, steps, batch_size, eval_every, max_runs_per_chunk,
                  target) -> None:
    for flag, value in (("--seeds", seeds if isinstance(seeds, numbers.Integral) else None),
                        ("--selection-seeds", selection_seeds), ("--steps", steps),
                        ("--batch-size", batch_size), ("--eval-every", eval_every),
                        ("--max-runs-per-chunk", max_runs_per_chunk)):
        check_positive(flag, value)
    if target is not None and not (0 < target <= 1):
        raise UsageError(f"--target must be in (0, 1], got {target}")


def resolve_methods(base: Suite, task: Names, optimizers: Names, inits: Names) -> Methods:
    """The run's tasks and (optimizer, init) pairs, every name resolved to its object.

    The suite's own names are built-ins; the caller's may be anything `bench.plugins` takes. An
    override makes the grid rectangular: the given names x the suite's names of the other kind.
    Every init must apply to every task's model (Fixup needs residual branches, muP an MLP):
    one the user named is an error; one the suite brings along is left out where it cannot run.
    """
    from bench import plugins
    from bench.tasks import TASKS
    from inits import STRATEGIES
    from optimizers import OPTIMIZERS

    tasks = plugins.resolve_many("task", base.tasks if task is None else task, TASKS)
    suite_pairs = base.pairs or tuple(
        (o, i) for o in (base.optimizers or tuple(OPTIMIZERS)) for i in (base.inits or tuple(STRATEGIES)))
    suite_optimizers = tuple(dict.fromkeys(o for o, _ in suite_pairs))
    suite_inits = tuple(dict.fromkeys(i for _, i in suite_pairs))
    chosen_optimizers = plugins.resolve_many(
        "optimizer", suite_optimizers if optimizers is None else optimizers, OPTIMIZERS)
    chosen_inits = plugins.resolve_many("init", suite_inits if inits is None else inits, STRATEGIES)
    if optimizers is None and inits is None:
        pairs = suite_pairs
    else:
        pairs = tuple((o, i) for o in chosen_optimizers for i in chosen_inits)
    strategies = {name: resolved.obj for name, resolved in chosen_inits.items()}
    for resolved in tasks.values():
        kept = set(applicable_inits(resolved.obj, list(dict.fromkeys(i for _, i in pairs)),
                                    named_by_user=inits is not None, strategies=strategies))
        pairs = tuple((o, i) for o, i in pairs if i in kept)
    return Methods.of(tasks, chosen_optimizers, chosen_inits, pairs)


def _learning_rates(base: Suite, methods: Methods, lrs) -> dict[str, tuple[float, ...]]:
    """Each optimizer's learning-rate grid: `lrs` for every one, else the suite's, else the
    optimizer's own (a user optimizer's: `bench.plugins.DEFAULT_LEARNING_RATES`)."""
    if isinstance(lrs, str):
        override = parse_learning_rates(lrs)
    elif lrs is not None:
        override = parse_learning_rates(",".join(str(float(x)) for x in lrs))
    else:
        override = None
    return {opt: override or (base.learning_rates or {}).get(opt)
            or tuple(methods.optimizers[opt].learning_rates) for opt in methods.optimizer_names}


def _evaluation_seeds(base: Suite, seeds, n_selection: int) -> range | tuple[int, ...]:
    """The evaluation seeds: EVALUATION_SEED_BASE onwards, as many as the suite's (or the
    caller's) count, or the caller's own list."""
    if seeds is None or isinstance(seeds, numbers.Integral):
        n_evaluation = base.seeds if seeds is None else seeds
        if EVALUATION_SEED_BASE + n_evaluation - 1 > MAX_SEED:
            raise UsageError(f"--seeds must be at most {MAX_SEED - EVALUATION_SEED_BASE + 1} "
                             f"(seeds are uint32), got {n_evaluation}")
        return range(EVALUATION_SEED_BASE, EVALUATION_SEED_BASE + n_evaluation)
    seeds = tuple(dict.fromkeys(int(s) for s in seeds))
    if not seeds or min(seeds) < 0 or max(seeds) > MAX_SEED:
        raise UsageError(f"seeds must be integers in [0, {MAX_SEED}], got {_abridged(seeds)}")
    shared = sorted(seed for seed in seeds if seed < n_selection)
    if shared:
        raise UsageError(f"evaluation seeds must not be selection seeds (0..{n_selection - 1}); "
                         f"shared: {shared[:5]}")
    return seeds


def _task_settings(base: Suite, methods: Methods, steps, batch_size, eval_every, target,
                   budgets: tuple[int, ...] | None = None):
    """Each task's TaskSettings (the caller's overrides, else the suite's, else the task's), and
    (task, an example input) for the memory check. With `budgets`, the steps are the longest
    and evaluation periods end at every budget."""
    settings, models = [], []
    for name, spec in methods.tasks.items():
        dataset = spec.load()
        n_train = len(dataset.x_train)
        chosen_batch = batch_size or spec.batch_size
        if chosen_batch > n_train:
            raise UsageError(f"--batch-size {chosen_batch} is larger than the {n_train}-example "
                             f"training set of {name}")
        chosen_steps = max(budgets) if budgets else steps or base.steps or spec.steps
        if chosen_steps > MAX_STEPS:
            raise UsageError(f"--steps must be at most {MAX_STEPS} (the runner counts steps in "
                             f"int32), got {chosen_steps}")
        suggested = base.eval_every or spec.eval_every  # the suite's, else the task's own
        ends = budgets or (chosen_steps,)  # where evaluation periods must end
        common = math.gcd(*ends)
        if suggested and common % min(suggested, chosen_steps):
            suggested = None  # a budget ends mid-period: periods that fit every budget instead
        chosen_eval = eval_every or (min(suggested, chosen_steps) if suggested
                                     else default_eval_every(common))
        if common % chosen_eval:
            if budgets:
                raise UsageError(f"--budgets ({','.join(map(str, ends))}) must be multiples of --eval-every "
                                 f"({chosen_eval})")
            raise UsageError(f"--steps ({chosen_steps}) must be a multiple of --eval-every ({chosen_eval})")
        settings.append(TaskSettings(name, chosen_steps, chosen_batch, chosen_eval,
                                     target if target is not None else spec.target,
                                     dataset.num_classes, len(dataset.x_test)))
        models.append((spec, dataset.x_train[:1]))
    return settings, models


def applicable_inits(task, names: Sequence[str], named_by_user: bool,
                     strategies: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The strategies of `names` that can initialize the task's model (`inits.check_applies`,
    from shapes alone): Fixup needs residual branches, muP an MLP. Unnamed, a strategy that does
    not apply is left out; named by the user, it is a UsageError saying why. `strategies`:
    name -> Strategy (default: the built-ins)."""
    import jax

    from bench.tasks import shape_model
    from inits import STRATEGIES, NotApplicableError, check_applies

    strategies = STRATEGIES if strategies is None else strategies
    model = shape_model(task)
    # shapes alone, key included: a concrete key or batch compiled two small programs here
    # (the key's seeding, the batch's transfer: about 0.1 s of every run's start)
    x_train = task.load().x_train
    x = jax.ShapeDtypeStruct((2,) + x_train.shape[1:], x_train.dtype)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), x)
    kept = []
    for name in names:
        try:
            check_applies(strategies[name], model, variables, x)
        except NotApplicableError as error:
            if named_by_user:
                raise UsageError(f"--inits {name} does not apply to {task.name}: {error}") from None
            continue
        kept.append(name)
    return tuple(kept)


def check_output_path(path: str, flag: str = "--out") -> str:
    """`run --out`: a new `.json` path, or an initopt results file to resume and replace.

    Its folder must exist or be creatable, and be writable; an existing file must be a regular
    file holding an initopt results document (anything else is the user's and is never
    overwritten); the derived files beside it (`bench.results.files`) must not be folders or
    devices. The folder is created only once every check has passed.
    """
    from bench.results import files

    check_file_path(path, flag, (files.RESULTS_SUFFIX,), example="run.json")
    files.read_existing(path, flag)
    for derived in (files.summary_path(path), files.report_path(path)):
        if os.path.lexists(derived) and not os.path.isfile(derived):
            raise UsageError(f"{flag} '{path}': '{derived}' (written beside it) exists and is not "
                             "a regular file")
    make_folder(path, flag)
    return path


def check_file_path(path: str, flag: str, suffixes: Sequence[str], example: str) -> str:
    """A path a command will write: a file name (not a folder) with one of `suffixes`, whose
    folder exists or can be made, and can be written. Writes nothing."""
    if not path:
        raise UsageError(f"{flag} needs a file path like {example}")
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        state = "is a directory" if os.path.isdir(path) else "names a folder"
        raise UsageError(f"{flag} '{path}' {state}; give a file path like "
                         f"{os.path.join(path.rstrip('/' + os.sep) or '.', example)}")
    name = os.path.basename(path)
    if not any(name.endswith(suffix) and len(name) > len(suffix) for suffix in suffixes):
        raise UsageError(f"{flag} '{path}' must end in {' or '.join(suffixes)}, like {example}")
    folder = os.path.dirname(os.path.abspath(path))
    existing = folder
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"{flag} '{path}': cannot create its folder ('{existing}' is a file)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} '{path}' cannot be written: no permission to write in '{existing}'")
    if os.path.isfile(path) and not os.access(path, os.W_OK):
        raise UsageError(f"{flag} '{path}' cannot be written (permission denied)")
    return path


def make_folder(path: str, flag: str) -> None:
    """Create the folder of `path` (after its checks have passed)."""
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError as error:
        raise UsageError(f"{flag} '{path}': cannot create its folder ({error.strerror})") from None


# ---------------------------------------------------------------------------------------------
# Counts that cannot fit

MAX_SEED = 2**32 - 1  # seeds become uint32 keys
MAX_STEPS = 2**31 - 1  # the runner's step counter is int32
# Host memory a run keeps until its results are written: the params of every (init, seed) (the
# init program's output and its host copy, float32), and per run its record: ~4 KiB of fields,
# plus ~512 B per recorded point (four curve values as Python floats, as arrays and as JSON text).
RECORD_BYTES = 4096
POINT_BYTES = 512
# The rest of the available memory is for the runner's chunks (up to a third of RAM) and Python.
HOST_MEMORY_SHARE = 0.5


def check_fits_in_memory(settings: Sequence[TaskSettings], models: Sequence[tuple[Any, Any]],
                         pairs: Sequence[tuple[str, str]], candidates: dict[str, int],
                         n_selection: int, n_evaluation: int) -> None:
    """Refuse, before anything is built, a run whose kept results cannot fit in host memory;
    the message gives the largest number of evaluation seeds that fits.

    Kept: the initial parameters of every (init, seed) of one task at a time, and every run's
    record (`RECORD_BYTES` plus `POINT_BYTES` per recorded point) of every task. Selection runs
    are each (optimizer, init) x candidate x selection seed (for optimizers with several
    candidates); evaluation runs each (optimizer, init) x evaluation seed.
    """
    from bench.host import available_memory_bytes

    n_inits = len(dict.fromkeys(init for _, init in pairs))
    params = 8 * n_inits * max(params_per_run(task, example) for task, example in models)
    record = sum(RECORD_BYTES + POINT_BYTES * (task.steps // task.eval_every) for task in settings)
    selection_runs = sum(candidates[opt] for opt, _ in pairs if candidates[opt] > 1)
    evaluation_runs = len(pairs)
    fixed = n_selection * (params + selection_runs * record)
    per_seed = params + evaluation_runs * record
    available = available_memory_bytes()
    budget = int(available * HOST_MEMORY_SHARE)
    fits = (budget - fixed) // per_seed if budget > fixed else 0
    if n_evaluation <= fits:
        return
    runs = (selection_runs * n_selection + evaluation_runs * n_evaluation) * len(settings)
    needs = (f"{runs:,} runs would keep about {_size(fixed + per_seed * n_evaluation)} in host "
             f"memory (parameters, records and curves), more than the {_size(budget)} this run "
             f"may use (half of the {_size(available)} available)")
    if fits:
        raise UsageError(f"{n_evaluation:,} evaluation seeds: {needs}; at most {fits:,} evaluation "
                         "seeds fit with these tasks, optimizers, inits, candidates and steps")
    if fixed >= budget:
        cause = (f"the selection runs alone ({n_selection:,} selection seeds x up to "
                 f"{max(candidates.values()):,} candidates) do not fit; use fewer of either")
    else:
        points = max(task.steps // task.eval_every for task in settings)
        cause = f"{points:,} recorded points per run; raise --eval-every or lower --steps"
    raise UsageError(f"{needs}, even with one evaluation seed: {cause}")


def params_per_run(task, example_input) -> int:
    """How many numbers one run's model holds, from shapes alone (nothing is allocated)."""
    return _params_per_run(task, tuple(example_input.shape), str(example_input.dtype))


@functools.lru_cache(maxsize=None)
def _params_per_run(task, shape: tuple, dtype: str) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from bench.tasks import shape_model

    model = shape_model(task)
    shapes = jax.eval_shape(lambda x: model.init(jax.random.key(0), x),
                            jax.ShapeDtypeStruct(shape, jnp.dtype(dtype)))
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(shapes))


def _size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n_bytes < 1000 or unit == "PB":
            return f"{n_bytes:.3g} {unit}"
        n_bytes /= 1000


def _abridged(values: Sequence[int]) -> str:
    values = list(values)
    return str(values) if len(values) <= 8 else f"[{', '.join(map(str, values[:8]))}, ...]"

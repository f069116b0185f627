"""How run records and summary rows are keyed, within a file and across files.

- a *configuration* is one candidate of an optimizer (a grid point of `--lrs`, a trial of
  `tune`), numbered by `trial`; a *run* is (task, optimizer, init, configuration, seed);
- a *cell* is (task, optimizer, init, phase, configuration): the runs a summary row covers;
- a *pair* is (task, optimizer, init); a *unit* is (task, optimizer, init, budget): what a
  configuration is chosen for, the budget (training steps, `run --budgets`) None where a run
  has one budget, its task's steps.
"""
from __future__ import annotations

Pair = tuple  # (task, optimizer, init)
Cell = tuple  # (task, optimizer, init, phase, configuration)


def lr_key(lr) -> float:
    """A learning rate as a dict key: 12 significant digits, so 1e-3 written by two machines matches."""
    return float(f"{float(lr):.12g}")


def configuration_key(record: dict) -> tuple:
    """A configuration's identity across files: its hyperparameters, numbers to 12 digits."""
    values = record.get("hyperparams") or {"learning_rate": record["lr"]}
    return tuple(sorted((name, lr_key(value) if isinstance(value, (int, float)) else value)
                        for name, value in values.items()))


def pair_of(record: dict) -> Pair:
    return (record["task"], record["optimizer"], record["init"])


def budget_of(record: dict) -> int | None:
    """The run's (or row's) training budget where the runs train to several, else None."""
    budget = (record.get("hyperparams") or {}).get("budget")
    return None if budget is None else int(budget)


def unit_of(record: dict) -> tuple:
    """(task, optimizer, init, budget): what one configuration is chosen for."""
    return (*pair_of(record), budget_of(record))


def cell_of(record: dict) -> Cell:
    return (*pair_of(record), record["phase"], configuration_key(record))

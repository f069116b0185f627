"""A configuration, and its speed, as a reader sees them in tables, reports and plot legends."""
from __future__ import annotations


def format_lr(lr) -> str:
    return f"{float(lr):.3g}"


# The protocol's values in a configuration, the same for every candidate of a table: the
# schedule (the report states it once) and the budget (its tables are a budget's).
PROTOCOL_VALUES = ("schedule", "warmup_fraction", "final_fraction", "budget")


def format_configuration(record: dict, budget: bool = False) -> str:
    """"lr 0.003" and any other tuned hyperparameter of the configuration, e.g. "lr 0.003, b1
    0.95" (the schedule and budget, PROTOCOL_VALUES, are left to the report's settings; with
    `budget`, a run's budget follows where it has one: "lr 0.003, budget 150")."""
    hyperparams = record.get("hyperparams") or {}
    others = sorted((name, value) for name, value in hyperparams.items()
                    if name != "learning_rate" and name not in PROTOCOL_VALUES)
    shown = [f"lr {format_lr(record['lr'])}"] + [
        f"{name} {value:.3g}" if isinstance(value, (int, float)) else f"{name} {value}"
        for name, value in others]
    if budget and "budget" in hyperparams:
        shown.append(f"budget {int(hyperparams['budget'])}")
    return ", ".join(shown)


def format_grid_interval(interval) -> str:
    """[50, 75] -> "(50, 75]": a crossing seen at the evaluation at 75 happened after the one at 50."""
    return f"({interval[0]:g}, {interval[1]:g}]"


def format_median(row: dict, steps: int | None, kind: str = "steps") -> str:
    """A summary row's censored median `kind` ("steps" or "examples") to target, on the
    evaluation grid: "(50, 75]"; "> N" (N the training length) where half or more seeds never
    reached the target. A row of schema 2 without the grid interval shows its median."""
    median = row[f"{kind}_to_target_median"]
    if median is None:
        return censored_limit(row, steps, kind)
    bounds = row.get(f"{kind}_to_target_median_interval")
    return format_grid_interval(bounds) if bounds else f"{median:g}"


def format_median_ci(row: dict) -> str:
    """The 95% interval of the median on the evaluation grid: "(25, 100]", "(25, —]" when its
    upper end lies beyond training; "" when there is none."""
    interval = row["steps_to_target_ci95"]
    if interval is None:
        return ""
    high = "—" if interval[1] is None else f"{interval[1]:g}"
    return f"({interval[0]:g}, {high}]"


def censored_limit(row: dict, steps: int | None, kind: str = "steps") -> str:
    """"> N": the end of training, in steps or (where the row tells the batch) in examples."""
    if not steps:
        return "never"
    if kind == "steps":
        return f"> {steps}"
    for examples, step in zip([*(row.get("examples_to_target_ci95") or []),
                               *(row.get("examples_to_target_median_interval") or [])],
                              [*(row.get("steps_to_target_ci95") or []),
                               *(row.get("steps_to_target_median_interval") or [])]):
        if examples and step:  # examples per step, from any bound both know
            return f"> {steps * examples / step:g}"
    return f"> {steps} steps"

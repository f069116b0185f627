"""A configuration as a reader sees it, in tables, reports and plot legends."""
from __future__ import annotations


def format_lr(lr) -> str:
    return f"{float(lr):.3g}"


def format_configuration(record: dict) -> str:
    """"lr 0.003" and any other hyperparameter of the configuration, e.g. "lr 0.003, b1 0.95"."""
    others = sorted((name, value) for name, value in (record.get("hyperparams") or {}).items()
                    if name != "learning_rate")
    return ", ".join([f"lr {format_lr(record['lr'])}"] + [
        f"{name} {value:.3g}" if isinstance(value, (int, float)) else f"{name} {value}"
        for name, value in others])

"""Rounds of measurements that rotate their order: one path for every side-by-side timing of
`perf` (the whole processes, the in-process rows, the start-ups)."""
from __future__ import annotations

from typing import Any, Callable


def in_rounds(commands: dict[str, Callable[[], Any]], repeats: int,
              before: Callable[[], None] | None = None) -> dict[str, list[Any]]:
    """Each of `commands` `repeats` times, in rounds that rotate their order, so that a machine
    that speeds up or slows down during the measurement touches every command alike, `before`
    called before each (the pause before a fresh process: `startup_phases.settle`); each
    command's results in the order they were made."""
    names = list(commands)
    found: dict[str, list[Any]] = {name: [] for name in names}
    for round_ in range(repeats):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            if before is not None:
                before()
            found[name].append(commands[name]())
    return found

"""Placeholder: built by its issue."""


def perf_from_args(args) -> int:
    raise NotImplementedError("perf is not built yet")

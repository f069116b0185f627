"""Placeholder: built by its issue."""


def compare_from_args(args) -> int:
    raise NotImplementedError("compare is not built yet")

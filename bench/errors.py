"""Errors the CLI turns into one line on stderr and exit code 2 (never a traceback)."""


class UsageError(ValueError):
    """Bad input from the user: unknown name, out-of-range number, unreadable file."""

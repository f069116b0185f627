"""The subcommands of `python -m bench` and what each does, in one place: the argument parser
(`bench.cli`) gives them as help, and the README's command table (`bench.tools.excerpts`) quotes
them, so the two cannot drift apart."""
from __future__ import annotations

COMMAND_HELP: dict[str, str] = {
    "run": "train every (init x seed x learning rate) of each optimizer and report",
    "tune": "quasi-random search of every hyperparameter, each optimizer's trials x seeds as one compiled program",
    "list": "tasks, init strategies, optimizers and suites, one line each",
    "verify": "check the hand-written inits and optimizers against the built-ins, or your own against a "
              "reference (--optimizer/--init SPEC --against NAME)",
    "perf": "throughput of the runner against the per-seed loop and its peers",
    "compare": "does NEW reproduce REFERENCE? per-cell exact tests and one of three verdicts",
    "report": "a Markdown report (tables, plots, metadata) beside a results JSON",
    "diagnose": "signal propagation at initialization, layer by layer",
    "readme": "rewrite the README's and the docs pages' quotes of results/reference from the files "
              "(--check: only say which are out of date, exit 1 if any)",
}
COMMANDS = tuple(COMMAND_HELP)

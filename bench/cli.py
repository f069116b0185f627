"""`python -m bench`: the command line. Each subcommand parses here and calls the Python API.

`python -m bench` alone (or with only `run`'s flags) runs the default suite. Bad input ends
with one line on stderr and exit code 2; a failed verification or comparison with exit code 1.
"""
from __future__ import annotations

import argparse
import sys

from bench.errors import UsageError

COMMANDS = ("run", "list", "verify", "perf", "compare", "report", "diagnose")


def _add_run(sub):
    p = sub.add_parser("run", help="train every (init x seed x learning rate) of each optimizer and report")
    p.add_argument("--suite", default="default", help="named suite: default, full, sweep, smoke (see `list`)")
    p.add_argument("--task", help="task name (overrides the suite's)")
    p.add_argument("--optimizers", help="comma-separated optimizer names (overrides the suite's)")
    p.add_argument("--inits", help="comma-separated init strategy names (overrides the suite's)")
    p.add_argument("--seeds", type=int, help="seeds per cell")
    p.add_argument("--steps", type=int, help="training steps per run")
    p.add_argument("--lrs", help="comma-separated learning rates, overriding every optimizer's grid")
    p.add_argument("--batch-size", type=int, help="mini-batch size (gd always trains full-batch)")
    p.add_argument("--eval-every", type=int, help="evaluate validation accuracy every N steps")
    p.add_argument("--target", type=float, help="validation accuracy that counts as converged, in (0, 1]")
    p.add_argument("--out", help="results JSON path (default: results/<suite>-<UTC time>.json)")
    p.add_argument("--max-runs-per-chunk", type=int, help="cap on runs compiled into one program call")
    p.add_argument("--no-plots", action="store_true", help="skip the plots and the Markdown report")
    p.add_argument("--quiet", action="store_true", help="print only the path of the results")
    p.add_argument("--deterministic", action="store_true",
                   help="deterministic GPU reductions (--xla_gpu_deterministic_ops=true)")
    p.add_argument("--distributed", action="store_true",
                   help="multi-host: call jax.distributed.initialize() and shard over all global devices")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args) -> int:
    from bench.run_command import run_from_args

    return run_from_args(args, argv=sys.argv)


def _add_list(sub):
    p = sub.add_parser("list", help="tasks, init strategies, optimizers and suites, one line each")
    p.set_defaults(func=_cmd_list)


def _cmd_list(args) -> int:
    from bench.run_command import print_listing

    print_listing()
    return 0


def _add_verify(sub):
    p = sub.add_parser("verify", help="check the hand-written inits and optimizers against the built-ins")
    p.add_argument("what", nargs="?", choices=("all", "inits", "optimizers"), default="all")
    p.set_defaults(func=_cmd_verify)


def _cmd_verify(args) -> int:
    from bench.verify import verify

    return verify(args.what)


def _add_perf(sub):
    p = sub.add_parser("perf", help="throughput of the runner against the per-seed loop and its peers")
    p.add_argument("--task", default="digits-mlp")
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--seeds", type=int, default=256)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--scaling", action="store_true", help="throughput vs number of runs, plotted")
    p.add_argument("--out", help="perf JSON path (default: results/perf-<platform>.json)")
    p.set_defaults(func=_cmd_perf)


def _cmd_perf(args) -> int:
    from bench.perf import perf_from_args

    return perf_from_args(args)


def _add_compare(sub):
    p = sub.add_parser("compare", help="does NEW reproduce REFERENCE? per-cell tests and a verdict")
    p.add_argument("reference")
    p.add_argument("new")
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args) -> int:
    from bench.compare import compare_from_args

    return compare_from_args(args)


def _add_report(sub):
    p = sub.add_parser("report", help="a Markdown report (tables, plots, metadata) beside a results JSON")
    p.add_argument("results")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=_cmd_report)


def _cmd_report(args) -> int:
    from bench.report import report_from_args

    return report_from_args(args)


def _add_diagnose(sub):
    p = sub.add_parser("diagnose", help="signal propagation at initialization, layer by layer")
    p.add_argument("--task", default="digits-deep")
    p.add_argument("--inits", help="comma-separated init strategy names (default: all)")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--out", help="plot path (default: results/diagnose-<task>.png)")
    p.set_defaults(func=_cmd_diagnose)


def _cmd_diagnose(args) -> int:
    from bench.diagnose import diagnose_from_args

    return diagnose_from_args(args)


class _Parser(argparse.ArgumentParser):
    """argparse, but a syntax error is one line on stderr (exit 2), not usage plus error."""

    def error(self, message):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m bench",
        description="initopt: benchmark weight initializations and optimizers (JAX/Flax/Optax).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_run, _add_list, _add_verify, _add_perf, _add_compare, _add_report, _add_diagnose):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["run", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 with one usage line on bad syntax
    try:
        return int(args.func(args) or 0)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

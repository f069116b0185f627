"""`python -m bench`: the command line. Argument parsing, and every `*_from_args` adapter that
turns flags into a call of the Python API; nothing else lives here.

`python -m bench` alone (or with only `run`'s flags) runs the default suite. Bad input ends
with one line on stderr and exit code 2; a failed verification with exit code 1; `compare`
exits 0 (reproduced), 1 (not reproduced) or 3 (inconclusive); `run` and `tune` exit 1 when some
programs' jobs failed and 130 when interrupted.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys

from bench.commands import COMMAND_HELP, COMMANDS  # noqa: F401  (COMMANDS: what __main__ routes)
from bench.errors import UsageError
from bench.host import quiet_blas_threads
from bench.interrupts import Interrupts
from bench.phases import mark

DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"
RUN_EXIT_CODES = ("exit codes: 0 every program trained (or reused); 1 some programs' jobs failed "
                  "(--executor submitit: the others are saved; the same command retrains the failed "
                  "ones); 2 bad input (nothing written); 130 interrupted (finished programs saved; "
                  "the same command resumes)")
PERF_STEPS = 500  # perf's default steps per run (--scaling: bench.tools.perf.SCALING_STEPS)



def _add_run(sub):
    p = sub.add_parser("run", help=COMMAND_HELP["run"],
                       epilog=RUN_EXIT_CODES)
    p.add_argument("--suite", default="default", help="named suite (`python -m bench list` shows them all)")
    p.add_argument("--task", help="task name(s) (overrides the suite's); also your own: PATH.py:NAME, "
                                  "package.module:NAME or an installed plugin's name")
    p.add_argument("--optimizers", help="comma-separated optimizer names (overrides the suite's); your "
                                        "own mix in: adam,./my_methods.py:heavy_ball")
    p.add_argument("--inits", help="comma-separated init strategy names (overrides the suite's); your "
                                   "own mix in: he_normal,./my_methods.py:my_init")
    p.add_argument("--seeds", type=int,
                   help="evaluation seeds per cell (1000, 1001, ...): they alone report test accuracy")
    p.add_argument("--selection-seeds", type=int,
                   help="seeds (0, 1, ...) that choose each (optimizer, init)'s configuration "
                        "on validation accuracy (default: the suite's, 4)")
    p.add_argument("--steps", type=int, help="training steps per run")
    p.add_argument("--budgets", help="comma-separated training budgets in steps, e.g. 150,300: each "
                                     "configuration trains to each budget as a run of its own (the "
                                     "schedule's horizon), chosen and reported per budget; instead "
                                     "of --steps")
    p.add_argument("--lrs", help="comma-separated learning rates, overriding every optimizer's grid")
    p.add_argument("--schedule", help="the learning rate's schedule: constant, warmup_cosine or "
                                      "warmup_linear (default: the suite's; `list` shows it)")
    p.add_argument("--warmup-fraction", type=float,
                   help="with a decaying schedule: the linear warm-up's share of the steps (default 0.05)")
    p.add_argument("--final-fraction", type=float,
                   help="with a decaying schedule: where the decay ends, as a fraction of the peak rate "
                        "(default 0)")
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
    _add_execution(p)
    p.set_defaults(func=run_from_args)


def _add_execution(p):
    """Where `run` and `tune` train their programs, and how often a program saves its state."""
    p.add_argument("--executor", choices=("inline", "submitit"), default="inline",
                   help="inline: every program in this process (default); submitit: each program a "
                        "job (SLURM, or local processes), this process merging their results")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0,
                   help="minutes of training between two saves of a program's state (default 5; "
                        "an interrupted or killed program resumes from its last save)")
    p.add_argument("--executor-config", metavar="FILE.toml",
                   help="submitit settings: cluster (slurm, local, debug), folder (job logs) and any "
                        "key of submitit's update_parameters (timeout_min, slurm_partition, "
                        "gpus_per_node, ...)")


def _add_tune(sub):
    p = sub.add_parser("tune", help=COMMAND_HELP["tune"], epilog=RUN_EXIT_CODES)
    p.add_argument("--task", default="digits-mlp", help="task name, or your own (PATH.py:NAME, ...)")
    p.add_argument("--optimizers", default="adam", help="comma-separated optimizer names or your own "
                                                        "(PATH.py:NAME, package.module:NAME)")
    p.add_argument("--inits", default="he_normal", help="comma-separated init strategy names or your own")
    p.add_argument("--budget", type=int, default=16, help="trials per optimizer")
    p.add_argument("--selection-seeds", type=int,
                   help="seeds (0, 1, ...) that train every trial and choose on validation accuracy "
                        "(default 2)")
    p.add_argument("--seeds", type=int,
                   help="evaluation seeds (1000, 1001, ...) that retrain each chosen trial and alone "
                        "report test accuracy, as in run (default 8)")
    p.add_argument("--evaluation-seeds", type=int, help=argparse.SUPPRESS)  # old spelling of --seeds
    p.add_argument("--steps", type=int, help="training steps per run (default: the task's)")
    p.add_argument("--schedule", default="warmup_cosine",
                   help="learning-rate schedule: constant, warmup_cosine, warmup_linear (default "
                        "warmup_cosine, its warm-up searched, as the comparison suites decay)")
    p.add_argument("--out", help="results JSON path (default: results/tune-<UTC time>.json)")
    p.add_argument("--max-runs-per-chunk", type=int, help="cap on runs compiled into one program call")
    p.add_argument("--no-plots", action="store_true", help="skip the plots and the Markdown report")
    _add_execution(p)
    p.set_defaults(func=tune_from_args)


def _add_list(sub):
    p = sub.add_parser("list", help=COMMAND_HELP["list"])
    p.set_defaults(func=list_from_args)


def _add_verify(sub):
    p = sub.add_parser("verify", help=COMMAND_HELP["verify"])
    p.add_argument("what", nargs="?", choices=("all", "inits", "optimizers"), default="all")
    p.add_argument("--optimizer", help="your optimizer (PATH.py:NAME, package.module:NAME or a name) "
                                       "to check step by step against --against")
    p.add_argument("--init", help="your initializer (PATH.py:NAME, ...) to check bit for bit against --against")
    p.add_argument("--against", help="the reference: a built-in optimizer or optax alias name; "
                                     "a jax.nn.initializers name for --init")
    p.add_argument("--hyperparams", help="k=v,... passed to both optimizers (e.g. momentum=0.9)")
    p.set_defaults(func=verify_from_args)


def _add_perf(sub):
    p = sub.add_parser("perf", help=COMMAND_HELP["perf"])
    p.add_argument("--task", default="digits-mlp")
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--seeds", type=int,
                   help="seeds each measured configuration trains (default 256; with --search, 4; with "
                        "--ceiling, the runs its matmuls are timed for)")
    p.add_argument("--steps", type=int,
                   help=f"training steps per run (default {PERF_STEPS}; with --scaling, fewer; with "
                        "--ceiling, the steps of one timed call)")
    p.add_argument("--scaling", action="store_true", help="throughput vs number of runs, plotted")
    p.add_argument("--sizes", help="with --scaling: comma-separated numbers of runs "
                                   "(default 1,4,16,64,256,1024)")
    p.add_argument("--search", action="store_true",
                   help="a search's trials x seeds as one program vs one configuration at a time")
    p.add_argument("--trials", type=int, default=64, help="trials of --search")
    p.add_argument("--synthetic", action="store_true",
                   help="random data shaped like the task's (image tasks whose data is not downloaded)")
    p.add_argument("--levers", action="store_true",
                   help="what each of the runner's levers is worth, side by side, and start-up")
    p.add_argument("--ceiling", action="store_true",
                   help="the most a row's %% matmul can read on this host: an MLP step's matmuls alone, "
                        "then its pieces one by one (biases and ReLU, loss, --optimizer, batch), "
                        "and the runner, side by side")
    p.add_argument("--startup", action="store_true",
                   help="a small run's whole process (fresh, empty compile cache) split into its "
                        "imports by library and its phases")
    p.add_argument("--repeats", type=int, default=3,
                   help="rounds each figure is the median of: each in-process row's, each whole "
                        "process's (and each --startup figure's)")
    p.add_argument("--against", metavar="REV",
                   help="also time a checkout of git revision REV: its start-up (with --startup), "
                        "else its runner's whole process beside this checkout's (REV,REV,...: each)")
    p.add_argument("--out", help="perf JSON path (default: results/perf-<platform>.json)")
    p.set_defaults(func=perf_from_args)


def _add_compare(sub):
    p = sub.add_parser(
        "compare", help=COMMAND_HELP["compare"],
        description="Compare every cell (task, optimizer, init, phase, configuration) the two results "
                    "files share, paired over the seeds both ran. A cell is identical (every shared seed "
                    "the same), equivalent (two one-sided exact sign-flip tests within ±DELTA at 0.05), "
                    "different (exact sign-flip test, family-wise 0.05 after Holm over the cells) or "
                    "inconclusive; the output counts the cells of each kind.",
        epilog="exit status: 0 reproduced (every cell identical or equivalent within ±DELTA); "
               "1 not reproduced (at least one cell different); 3 inconclusive (neither, or no cell "
               "in common); 2 a missing or invalid results file.")
    p.add_argument("reference")
    p.add_argument("new")
    p.add_argument("--delta", type=float, default=None, metavar="DELTA",
                   help="equivalence margin in accuracy: a cell whose difference is shown within ±DELTA "
                        "is equivalent (default 0.01, one point)")
    p.set_defaults(func=compare_from_args)


def _add_report(sub):
    p = sub.add_parser("report", help=COMMAND_HELP["report"])
    p.add_argument("results")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=report_from_args)


def _add_diagnose(sub):
    p = sub.add_parser("diagnose", help=COMMAND_HELP["diagnose"])
    p.add_argument("--task", default="digits-deep")
    p.add_argument("--inits", help="comma-separated init strategy names (default: all)")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--out", help="plot path (default: results/diagnose-<task>.png)")
    p.set_defaults(func=diagnose_from_args)


def _add_readme(sub):
    p = sub.add_parser("readme", help=COMMAND_HELP["readme"])
    p.add_argument("--check", action="store_true")
    p.add_argument("--path", default="README.md")
    p.set_defaults(func=readme_from_args)


# ---------------------------------------------------------------------------------------------
# Adapters: flags -> the Python API. Imports are lazy so `--help` and bad flags never wait for JAX.


def run_from_args(args) -> int:
    if args.deterministic:
        # Must reach XLA before its GPU backend starts: nothing has imported jax yet.
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {DETERMINISTIC_FLAG}".strip()
    if args.distributed:
        import jax

        jax.distributed.initialize()  # before anything starts the backend

    from bench.host import start_jax
    from bench.suite.config import resolve
    from bench.suite.execute import count_programs, run_suite

    executor_config = _executor_config(args)
    start_jax()
    mark("JAX backend start")
    config = resolve(args.suite, task=args.task, optimizers=args.optimizers, inits=args.inits,
                     seeds=args.seeds, selection_seeds=args.selection_seeds, steps=args.steps,
                     lrs=args.lrs, batch_size=args.batch_size,
                     eval_every=args.eval_every, target=args.target,
                     max_runs_per_chunk=args.max_runs_per_chunk, schedule=args.schedule,
                     warmup_fraction=args.warmup_fraction, final_fraction=args.final_fraction,
                     budgets=args.budgets)
    mark("config: resolve")
    # What the imports made lives to the end: frozen, Python's full collections (one fell in
    # the compiles, 0.12 s) skip it; 0.19 s of them in a 256-seed run, 0.09-0.11 s now.
    gc.freeze()
    _note_static(config.methods.static)
    for name in config.scheduled_outside():
        print(f"note: optimizer {name} takes no schedule as its learning rate (a number only): its "
              "updates are multiplied by the schedule over the peak rate", file=sys.stderr)
    trained = _train_into(args.out, config.suite, count_programs(config), args.quiet,
                          lambda path, progress: run_suite(
                              config, path, argv=sys.argv, deterministic=args.deterministic,
                              progress=progress, executor=_executor(executor_config, path),
                              checkpoint_minutes=args.checkpoint_minutes),
                          report=not args.no_plots)
    if trained is None:
        return 130
    path, document, report = trained
    failed = _failed_programs(document, path)
    _flag_choices(document)

    import jax

    if jax.process_index() != 0:  # multi-host: process 0 writes and prints
        return failed
    if args.quiet:
        print(path)
        return failed
    from bench.analysis.tables import print_tables
    from bench.console import output_console
    from bench.results import files

    out = output_console()
    print_tables(document, out)
    out.print(f"results: {path}  (summary: {files.summary_path(path)})")
    if report:
        out.print(f"report:  {report}")
        from bench.records import budgets

        out.print(f"plots:   {files.plot_pattern(path, budgets.several(document))}")
    return failed


def _executor_config(args):
    """`--executor-config`, read and checked before anything runs (None: inline); and
    `--checkpoint-minutes`."""
    if not (args.checkpoint_minutes >= 0 and args.checkpoint_minutes < float("inf")):
        raise UsageError(f"--checkpoint-minutes must be a number >= 0, got {args.checkpoint_minutes}")
    if args.executor_config and args.executor != "submitit":
        raise UsageError("--executor-config goes with --executor submitit")
    if args.executor != "submitit":
        return None
    if not args.executor_config:
        raise UsageError("--executor submitit needs --executor-config FILE.toml (cluster = \"slurm\" "
                         "or \"local\", folder, and submitit's parameters)")
    from bench.suite.jobs import read_executor_config

    return read_executor_config(args.executor_config)


def _executor(executor_config, path: str):
    if executor_config is None:
        return None
    from bench.results import files
    from bench.suite.jobs import make_executor

    return make_executor(executor_config, os.path.basename(files.stem(path)))


def _flag_choices(results: dict) -> None:
    """On stderr, one line per chosen configuration to doubt (at an edge of its grid, with the
    flag that widens it, or a near tie): `bench.analysis.tables.flag_choices`."""
    import jax

    if jax.process_index() != 0:
        return
    from bench.analysis.tables import flag_choices

    for line in flag_choices(results):
        print(line, file=sys.stderr)


def _failed_programs(results: dict, path: str) -> int:
    """Exit 1 with one line when some programs' jobs failed (they are retrained by the same
    command: the reuse key keeps the others)."""
    failed = results["meta"].get("failed_programs") or []
    if not failed:
        return 0
    names = "; ".join(f"{p['task']} / {p['optimizer']} / {p['phase']} ({p['error']})" for p in failed)
    print(f"error: {len(failed)} program(s) failed: {names}; finished programs are in {path}, "
          "run the same command to retrain the failed ones", file=sys.stderr)
    return 1


def _note_static(names) -> None:
    """Say once which optimizers cannot take traced hyperparameters (results record it too:
    `meta.config.static_optimizers`); run says it before training, tune once its search is
    resolved and done."""
    for name in sorted(names):
        print(f"note: optimizer {name} cannot take traced hyperparameters (its factory needs Python "
              "numbers): each of its configurations compiles a program of its own", file=sys.stderr)


def _train_into(out: str | None, default_stem: str, n_programs: int, quiet: bool, train,
                report: bool):
    """What `run` and `tune` share: the results path checked and locked before the progress
    bar starts (its teardown would put a blank line on stderr ahead of an error), `train(path,
    progress)` under a progress bar, the report written under the same lock. Returns (path,
    results, report path or None), or None when interrupted (the user has been told)."""
    from bench.console import RunProgress, output_console
    from bench.results import files
    from bench.suite.config import check_output_path
    from bench.suite.execute import Interrupted

    path = (check_output_path(out) if out
            else check_output_path(files.default_path(default_stem), "results path"))
    with files.lock(path):
        try:
            with RunProgress(n_programs, output_console(stderr=True, quiet=quiet)) as progress:
                path, document = train(path, progress)
        except Interrupted as interrupted:
            Interrupts.reported = True
            print(f"interrupted: finished programs saved in {interrupted.path} "
                  "(meta.complete = false); run the same command to finish", file=sys.stderr)
            print(interrupted.path)
            return None

        import jax

        written = (_write_report(path, results=document)
                   if report and jax.process_index() == 0 else None)
    return path, document, written


def _write_report(path: str, **options):
    """The report and plots of `path`; a failed write (full disk, read-only folder) is one line."""
    from bench.analysis.report import write_report
    from bench.results.files import write_failure

    try:
        return write_report(path, **options)
    except OSError as error:
        raise UsageError(write_failure(getattr(error, "filename", None) or path, error)) from None


def tune_from_args(args) -> int:
    from bench.host import start_jax
    from bench.suite.config import check_positive
    from bench.suite.execute import tune

    seeds = _renamed(args, "evaluation_seeds", "--evaluation-seeds", "seeds", "--seeds")
    if args.seeds is not None and args.selection_seeds is None:
        print("note: tune --seeds counts evaluation seeds, as in run (before 0.2 it counted "
              "selection seeds: those are --selection-seeds now, default 2)", file=sys.stderr)
    selection_seeds = 2 if args.selection_seeds is None else args.selection_seeds
    seeds = 8 if seeds is None else seeds
    for flag, value in (("--budget", args.budget), ("--selection-seeds", selection_seeds),
                        ("--seeds", seeds), ("--steps", args.steps),
                        ("--max-runs-per-chunk", args.max_runs_per_chunk)):
        check_positive(flag, value)
    executor_config = _executor_config(args)
    start_jax()
    from bench import plugins

    n_programs = 2 * len(plugins.split_names(args.optimizers))
    trained = _train_into(args.out, "tune", n_programs, False, lambda path, progress: tune(
        args.task, args.optimizers, args.budget, selection_seeds, seeds=seeds, inits=args.inits,
        steps=args.steps, schedule=args.schedule, out=path, argv=sys.argv, progress=progress,
        max_runs_per_chunk=args.max_runs_per_chunk, executor=_executor(executor_config, path),
        checkpoint_minutes=args.checkpoint_minutes),
        report=not args.no_plots)
    if trained is None:
        return 130
    path, document, report = trained
    failed = _failed_programs(document, path)
    _note_static(document["meta"]["config"].get("static_optimizers") or [])
    _flag_choices(document)
    from bench.analysis.search import chosen_table, search_plots
    from bench.console import output_console
    from bench.results import files

    console = output_console()
    console.print(chosen_table(document))
    if report:  # the report draws the search plots with the others, and links them
        console.print(f"report:  {report}")
        stem = os.path.basename(files.stem(path))
        plots = [str(plot) for plot, _ in search_plots(document, os.path.dirname(path) or ".", stem)]
        console.print(f"search plots: {', '.join(plots)}")
    console.print(f"results: {path}")
    return failed


def _renamed(args, old: str, old_flag: str, new: str, new_flag: str):
    """The value of a renamed flag: the new spelling, else the old one with a one-line
    deprecation on stderr (kept for one release); both given is an error."""
    old_value, new_value = getattr(args, old), getattr(args, new)
    if old_value is None:
        return new_value
    if new_value is not None:
        raise UsageError(f"{old_flag} is the old spelling of {new_flag}; give only {new_flag}")
    print(f"warning: {old_flag} is deprecated and will be removed in the next release; "
          f"use {new_flag}", file=sys.stderr)
    return old_value


def list_from_args(args) -> int:
    from rich.table import Table

    from bench.console import output_console
    from bench.suite.config import suites
    from bench.tasks import TASKS
    from inits import STRATEGIES
    from optimizers import OPTIMIZERS

    from bench import plugins

    def with_installed(kind: str, builtins: dict) -> dict:
        # installed plugins (entry points), marked with their package; a clash is an error
        found = dict(builtins)
        for name, (package, _) in plugins.installed(kind).items():
            resolved = plugins.resolve(kind, name, builtins)
            found[f"{name} [{package}]"] = resolved.obj
        return found

    console = output_console()
    for title, rows in (
            ("tasks", [(name, f"{t.description}; target {t.target:g}, {t.steps} steps")
                       for name, t in with_installed("task", TASKS).items()]),
            ("init strategies", [(name, f"{s.description} ({s.reference})")
                                 for name, s in with_installed("init", STRATEGIES).items()]),
            ("optimizers", [(name, f"{o.description}; lrs {', '.join(f'{lr:g}' for lr in o.learning_rates)}"
                             + ("; full batch" if o.full_batch else ""))
                            for name, o in with_installed("optimizer", OPTIMIZERS).items()]),
            ("suites", [(name, f"{s.description}; learning rate: {_schedule_words(s)}")
                        for name, s in suites().items()])):
        table = Table(title=title, title_justify="left", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        for row in rows:
            table.add_row(*row)
        console.print(table)
    return 0


def _schedule_words(suite) -> str:
    if suite.schedule == "constant":
        return "constant"
    return (f"{suite.schedule} (warm-up {suite.warmup_fraction:g} of the steps, decay to "
            f"{suite.final_fraction:g} of the peak)")


def verify_from_args(args) -> int:
    from bench.host import start_jax

    if (args.optimizer or args.init) and not args.against:
        raise UsageError("--optimizer/--init need --against NAME (the reference to agree with)")
    if args.against and not (args.optimizer or args.init):
        raise UsageError("--against needs --optimizer SPEC or --init SPEC")
    if args.optimizer and args.init:
        raise UsageError("give --optimizer or --init, not both")
    if args.hyperparams and not args.optimizer:
        raise UsageError("--hyperparams goes with --optimizer")
    start_jax()
    from bench.tools import verify

    if args.optimizer:
        return verify.verify_optimizer_against(args.optimizer, args.against, args.hyperparams)
    if args.init:
        return verify.verify_init_against(args.init, args.against)
    return verify.verify(args.what)


def perf_from_args(args) -> int:
    from bench import plugins
    from bench.host import start_jax
    from bench.results.files import read_json
    from bench.suite.config import check_file_path, check_positive, make_folder
    from bench.tasks import TASKS
    from optimizers import OPTIMIZERS

    plugins.resolve("task", args.task, TASKS)  # checked here: one line, before anything runs
    plugins.resolve("optimizer", args.optimizer, OPTIMIZERS)
    for flag, value in (("--seeds", args.seeds), ("--steps", args.steps), ("--trials", args.trials)):
        check_positive(flag, value)
    steps = PERF_STEPS if args.steps is None else args.steps
    modes = [flag for flag in ("levers", "search", "scaling", "startup", "ceiling") if getattr(args, flag)]
    if len(modes) > 1:
        raise UsageError(f"give one of --{', --'.join(modes)}, not several")
    revisions = None
    if args.against is not None:
        if args.levers or args.search or args.scaling or args.synthetic or args.ceiling:
            raise UsageError("--against REV goes with --startup or with perf's default measurement")
        revisions = [revision.strip() for revision in args.against.split(",")]
        if args.startup and len(revisions) > 1:
            raise UsageError("--startup --against takes one revision")
        for revision in revisions:
            _check_revision(revision)
    check_positive("--repeats", args.repeats)
    sizes = None
    if args.sizes is not None:
        if not args.scaling:
            raise UsageError("--sizes goes with --scaling")
        try:
            sizes = tuple(int(size) for size in args.sizes.split(","))
        except ValueError:
            sizes = ()
        if not sizes or min(sizes) < 1:
            raise UsageError(f"--sizes must be comma-separated positive integers, got '{args.sizes}'")
    if args.out:
        check_file_path(args.out, "--out", (".json",), example="perf.json")
        earlier = read_json(args.out, "--out")
        if os.path.exists(args.out) and not (isinstance(earlier, dict) and "meta" in earlier
                                             and ("rows" in earlier or "sizes" in earlier
                                                  or "search" in earlier or "levers" in earlier
                                                  or "startup" in earlier or "ceiling" in earlier)):
            raise UsageError(f"--out '{args.out}' exists and is not an initopt perf file; "
                             "choose another path (nothing was changed)")
    start_jax()
    if args.out:
        make_folder(args.out, "--out")

    from bench.tools import perf

    if args.startup:
        perf.startup(args.repeats, args.against, out=args.out)
    elif args.ceiling:
        perf.ceiling(args.task, args.seeds or 256, perf.CEILING_STEPS if args.steps is None else args.steps,
                     args.repeats, out=args.out, optimizer=args.optimizer)
    elif args.levers:
        perf.levers(args.task, args.optimizer, args.seeds or 256, steps, out=args.out)
    elif args.search:
        perf.search(args.task, args.optimizer, args.trials, args.seeds or 4, steps, args.out)
    elif args.scaling:
        perf.scaling(args.task, args.optimizer,
                     steps=perf.SCALING_STEPS if args.steps is None else args.steps, out=args.out,
                     **({} if sizes is None else {"sizes": sizes}))
    else:
        perf.perf(args.task, args.optimizer, args.seeds or 256, steps, args.out,
                  synthetic=args.synthetic, against=revisions, repeats=args.repeats)
    return 0


def _check_revision(revision: str) -> None:
    import subprocess

    try:
        found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
                               capture_output=True, text=True)
    except OSError:
        raise UsageError("--against needs git on the PATH") from None
    if found.returncode != 0:
        raise UsageError(f"--against '{revision}' is not a commit of this repository")


def readme_from_args(args) -> int:
    from bench.tools.excerpts import readme

    return readme(args.path, check=args.check)


def compare_from_args(args) -> int:
    from bench.analysis.compare import DELTA, compare, print_comparison
    from bench.results.document import load_results

    delta = DELTA if args.delta is None else args.delta
    if not (0.0 < delta < 1.0):  # also NaN
        raise UsageError(f"--delta must be in (0, 1) (an accuracy margin), got {args.delta!r}")
    result = compare(load_results(args.reference), load_results(args.new), delta=delta)
    print_comparison(result)
    return result.exit_code


def report_from_args(args) -> int:
    from bench.results import files

    path = args.results
    if not files.is_results_name(path):
        raise UsageError(f"report reads a results file (NAME.json), not '{path}'")
    if files.read_existing(path, "report input") is None:
        raise UsageError(f"report: no such results file '{path}'")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"report: cannot write the report beside '{path}': no permission to "
                         f"write in '{folder}'")
    derived = files.report_path(path)
    if os.path.lexists(derived) and not os.path.isfile(derived):
        raise UsageError(f"report: '{derived}' exists and is not a regular file")
    with files.lock(path):
        print(_write_report(path, plots=not args.no_plots))
    return 0


DIAGNOSE_SUFFIXES = (".png", ".svg", ".pdf")


def diagnose_from_args(args) -> int:
    from bench import plugins
    from bench.host import start_jax
    from bench.suite.config import applicable_inits, check_file_path, check_positive, make_folder
    from bench.tasks import TASKS
    from inits import STRATEGIES

    task = plugins.resolve("task", args.task, TASKS).obj
    strategies = {name: resolved.obj for name, resolved in plugins.resolve_many(
        "init", args.inits if args.inits is not None else list(STRATEGIES), STRATEGIES).items()}
    names = tuple(strategies)
    check_positive("--seeds", args.seeds)
    out = args.out or os.path.join("results", f"diagnose-{task.name}.png")
    check_file_path(out, "--out", DIAGNOSE_SUFFIXES, example="diagnose.png")
    from bench.results.files import read_json
    from bench.tools.diagnose import json_path

    earlier = read_json(json_path(out), "the JSON beside --out")
    if os.path.lexists(json_path(out)) and not (isinstance(earlier, dict)
                                                and earlier.get("meta", {}).get("command") == "diagnose"):
        raise UsageError(f"'{json_path(out)}' (written beside --out) exists and is not a diagnose "
                         "file; choose another --out (nothing was changed)")
    start_jax()
    names = applicable_inits(task, names, named_by_user=args.inits is not None, strategies=strategies)
    make_folder(out, "--out")

    from bench.tools.diagnose import diagnose

    diagnose(task, {name: strategies[name] for name in names}, range(args.seeds), out)
    return 0


# ---------------------------------------------------------------------------------------------

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
    for add in (_add_run, _add_tune, _add_list, _add_verify, _add_perf, _add_compare, _add_report, _add_diagnose,
                _add_readme):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit code. As the process's entry (no `argv`), an
    interrupted command exits at once instead of waiting for work still queued on a device."""
    entry = argv is None
    if entry:  # before NumPy and SciPy load their OpenBLAS (bench.host)
        quiet_blas_threads()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["run", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 with one usage line on bad syntax
    mark("python start, the CLI's imports")
    with Interrupts():
        try:
            code = int(args.func(args) or 0)
        except UsageError as error:
            print(f"error: {error}", file=sys.stderr)
            code = 2
        except KeyboardInterrupt:
            if not Interrupts.reported:
                print("interrupted", file=sys.stderr)
                Interrupts.reported = True
            code = 130
        if code == 130 and entry:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
    mark("tables, report and the end of main")
    if entry:
        # What is left is the process's to drop at exit. Python's last garbage collections
        # walked every object JAX, Flax, Optax and SciPy made: 0.3-0.7 s of every command's
        # wall time (docs/performance.md). Frozen, they are skipped; atexit handlers and the
        # flushing of stdout and stderr still run, and module teardown where the process did
        # not start as `python -m bench` (bench/__main__.py skips it). Our files are closed by now.
        gc.freeze()
    return code

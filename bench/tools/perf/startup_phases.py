"""`python -m bench perf --startup`: where a small run's whole process spends its time.

The run (`STARTUP_RUN`) goes in fresh processes, each with an empty compile cache of its own,
under `python -X importtime` and with `bench.phases` reporting its marks on stderr. Each
process's wall time, from before it is started until it has exited, is split into rows that
add up to it:

    imports, by library     the self times importtime reports, per top-level package; JAX,
                            jaxlib, Flax, Optax and everything `import jax, flax.linen, optax`
                            imports in a fresh process are one row (`ECOSYSTEM_ROW`)
    each phase of the run   the time between its mark and the previous one (the first from the
                            process's start: the interpreter), less the imports made meanwhile
    exit                    from the last mark until the process is gone

and, apart from the sum, the work threads did beside the phases (`bench.overlap`), between
their `bench.phases.beside` marks: `BESIDE_ROW`, the imports made in the windows of
`PRELOAD` (SciPy's, `bench.imports.preload`, while XLA compiles; an import the main thread made
in such a window counts there too), and `beside_row(name)`, each other window's length (the
init program's compile and run, `runner.initialize`). They overlapped the phases, so they
are not taken out of them.

A phase that comes round again (one per program) adds up. Each row is the median over the
repetitions; `beyond_ecosystem_seconds` is the wall time less the ecosystem's imports, and
`outside_training_seconds` that less the training too (`bench.phases.TRAINING`: every call of
a program after its first, whose time grows with the steps and runs): the run's fixed cost
beyond the ecosystem's imports, the figure the issue sets a bound on (3 s). A program's first
call, one step, stays in it: it pays the program's first launch and buffers. `cpu_seconds`
(user + system, every thread) is the work: what runs at once on two cores (XLA compiles on
both) shortens the wall time only where a core is free, which a loaded machine hides; the load
average before and after each process is recorded beside it, and the CPU time the hypervisor
took meanwhile (`stolen_seconds`). `--against REV` times the same command, the same way, in a
checkout of the git revision REV beside this one (marks the code there lacks lump its phases
into one row), in rounds that rotate the two codes' order (`rounds.in_rounds`).

Each code's packages have their bytecode written first (`cache_bytecode`), as a user's every
run after the first finds it: where PYTHONDONTWRITEBYTECODE is set (this machine sets it), every
process compiled the suite's sources again, 0.1 s of each start-up that no user pays twice.

Each process starts SETTLE_SECONDS after the one before (`settle`).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Iterable, Iterator, Sequence

from bench.host import environment_as_the_user_set_it
from bench.phases import BESIDE_PREFIX, LINE_PREFIX, PHASES_VARIABLE, TRAINING
from bench.results.files import CODE_PACKAGES
from bench.tools.perf.rounds import in_rounds

STARTUP_RUN = ("run", "--task", "digits-mlp", "--optimizers", "adam", "--inits", "he_normal",
               "--seeds", "8", "--steps", "100", "--no-plots")
ECOSYSTEM = ("jax", "jaxlib", "flax", "optax")
ECOSYSTEM_ROW = "imports: jax, jaxlib, flax, optax (and what they import)"
OURS_ROW = "imports: " + ", ".join(sorted(CODE_PACKAGES))  # "imports: bench, inits, optimizers"
OURS = CODE_PACKAGES
UNMARKED = "(the rest: no phase marks)"  # a revision whose code has no marks
EXIT = "exit"
BESIDE_ROW = "beside the phases: imports in a thread (not in the sum)"
PRELOAD = "preload"  # the name of bench.imports.preload's window: its imports go to BESIDE_ROW
SMALL_IMPORT = 0.02  # seconds: libraries below this in every repetition share one row
OTHER_IMPORTS = "imports: other libraries"
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def beside_row(name: str) -> str:
    """The row of the time a thread spent on `name` beside the phases (not in the sum)."""
    return f"beside the phases: {name}, in a thread (not in the sum)"


def ecosystem_modules(python: str = sys.executable) -> set[str]:
    """The modules `import jax, flax.linen, optax` brings into a fresh process."""
    code = ("import json, sys; before = set(sys.modules); import jax, flax.linen, optax; "
            "print(json.dumps(sorted(set(sys.modules) - before)))")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")})
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def library_of(module: str, ecosystem: set[str]) -> str:
    top = module.split(".")[0]
    if top in ECOSYSTEM or module in ecosystem:
        return ECOSYSTEM_ROW
    if top in OURS:
        return OURS_ROW
    return f"imports: {top}"


def split_stderr(stderr: str, began: float, ended: float, ecosystem: set[str]) -> dict[str, float]:
    """One process's rows (seconds) from its stderr: importtime's lines and the phase marks,
    in the order they were written. `began`, `ended`: the process's start and end (time.time)."""
    rows: dict[str, float] = {}
    imports_since_mark, last, preloads, opened = 0.0, began, 0, {}
    for line in stderr.splitlines():
        found = _IMPORT_LINE.match(line)
        if found and preloads:
            rows[BESIDE_ROW] = rows.get(BESIDE_ROW, 0.0) + int(found.group(1)) / 1e6
        elif found:
            seconds = int(found.group(1)) / 1e6
            row = library_of(found.group(4), ecosystem)
            rows[row] = rows.get(row, 0.0) + seconds
            imports_since_mark += seconds
        elif line.startswith(BESIDE_PREFIX + " "):
            name, event, stamp = line[len(BESIDE_PREFIX) + 1:].rsplit(" ", 2)
            if name == PRELOAD:
                preloads += 1 if event == "start" else -1
            elif event == "start":
                opened[name] = float(stamp)
            elif name in opened:
                row = beside_row(name)
                rows[row] = rows.get(row, 0.0) + float(stamp) - opened.pop(name)
        elif line.startswith(LINE_PREFIX + " "):
            name, stamp = line[len(LINE_PREFIX) + 1:].rsplit(" ", 1)
            rows[name] = rows.get(name, 0.0) + float(stamp) - last - imports_since_mark
            imports_since_mark, last = 0.0, float(stamp)
    tail = ended - last - imports_since_mark
    rows[EXIT if last > began else UNMARKED] = tail
    return rows


def row_order(measured: Iterable[dict[str, Any]]) -> list[str]:
    """The rows of several codes' summaries in one order: every code's import rows, then its
    phases, each in the order the codes list them (a row one code lacks keeps its place)."""
    names = list(dict.fromkeys(row for found in measured for row in found["rows"]))
    return sorted(names, key=lambda name: not name.startswith("imports: "))  # stable


# A process started straight after another read slower, by what the one before left behind
# (not pinned down; this VM's memory daemon, kdamond, is busy after a large process): beside
# f73a2ce's start-ups (10 s, 16 CPU-seconds each), this checkout's read 3.26 s beyond the
# ecosystem's imports, alone 2.78 s, and beside them with a pause of 3 s before each process
# 2.86 s (f73a2ce's 9.66 s without the pause, 7.58 s with it).
SETTLE_SECONDS = 3.0


def settle() -> None:
    """Wait SETTLE_SECONDS before a timed process."""
    time.sleep(SETTLE_SECONDS)


def cache_bytecode(root: str) -> None:
    """Write the bytecode of the suite's packages (OURS) under `root` (`compileall`, quietly;
    what Python itself writes at a first import, unless PYTHONDONTWRITEBYTECODE forbids it)."""
    folders = [os.path.join(root, package) for package in OURS if os.path.isdir(os.path.join(root, package))]
    if folders:
        subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], check=True,
                       capture_output=True)


def _load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def stolen_seconds(path: str = "/proc/stat") -> float | None:
    """CPU time the hypervisor has taken from this virtual machine since it booted, over all
    its cores (/proc/stat's steal), or None where the kernel does not say. On this shared VM a
    start-up process of about 5.5 s lost 0-0.25 s of its cores to it (18 processes of one run):
    the wall times move with that, which the load average does not show."""
    try:
        with open(path, encoding="ascii") as stat:
            fields = stat.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK") if fields[0] == "cpu" and len(fields) > 8 else None
    except (OSError, ValueError, IndexError):
        return None


def time_process(command: Sequence[str], cwd: str | None, ecosystem: set[str]) -> dict[str, Any]:
    """One fresh `python -X importtime -m bench ...` with an empty compile cache of its own."""
    with tempfile.TemporaryDirectory(prefix="initopt-startup-") as folder:
        out = os.path.join(folder, "run.json")
        argv = [sys.executable, "-X", "importtime", "-m", "bench", *command, "--out", out]
        env = {**environment_as_the_user_set_it(), PHASES_VARIABLE: "1",
               "JAX_COMPILATION_CACHE_DIR": os.path.join(folder, "cache")}
        env.pop("INITOPT_NO_COMPILATION_CACHE", None)
        load_before = _load()
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        steal = stolen_seconds()
        began = time.time()
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
        ended = time.time()
        steal_after = stolen_seconds()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - used.ru_utime) + (after.ru_stime - used.ru_stime)
        if done.returncode != 0:
            tail = "\n".join(line for line in done.stderr.splitlines()
                             if not line.startswith(("import time:", LINE_PREFIX)))[-1500:]
            raise RuntimeError(f"`{' '.join(argv[1:])}` failed (exit {done.returncode}): {tail}")
        rows = split_stderr(done.stderr, began, ended, ecosystem)
        runs = json.load(open(out))["runs"]
    return {"wall_seconds": ended - began, "cpu_seconds": cpu, "rows": rows, "load_before": load_before,
            "load_after": _load(), "records": runs,
            "stolen_seconds": None if steal is None or steal_after is None else steal_after - steal}


def _rounded(value: float) -> float:
    return round(value, 3)


def small_imports(processes: Sequence[dict[str, Any]]) -> set[str]:
    """The import rows below SMALL_IMPORT in every process: pooled as OTHER_IMPORTS."""
    names = {name for process in processes for name in process["rows"]}
    return {name for name in names if name.startswith("imports: ")
            and name not in (ECOSYSTEM_ROW, OURS_ROW)
            and all(p["rows"].get(name, 0.0) < SMALL_IMPORT for p in processes)}


def summarize(processes: Sequence[dict[str, Any]], small: set[str] | None = None) -> dict[str, Any]:
    """Median rows over repeated processes of one code, the `small` import rows (default:
    `small_imports` of these processes) pooled."""
    names: list[str] = []
    for process in processes:
        names += [name for name in process["rows"] if name not in names]
    small = small_imports(processes) if small is None else small & set(names)
    pooled = []
    for process in processes:
        rows = {name: value for name, value in process["rows"].items() if name not in small}
        if small:
            rows[OTHER_IMPORTS] = sum(process["rows"].get(name, 0.0) for name in small)
        pooled.append(rows)
    order = ([name for name in names if name.startswith("imports: ") and name not in small]
             + ([OTHER_IMPORTS] if small else [])
             + [name for name in names if not name.startswith("imports: ")])
    first = lambda name: max(rows.get(name, 0.0) for rows in pooled)
    order = sorted(order, key=lambda name: (not name.startswith("imports: "), name != ECOSYSTEM_ROW,
                                            name == OTHER_IMPORTS, name == EXIT, name == UNMARKED,
                                            -first(name) if name.startswith("imports: ") else 0))
    median = lambda values: _rounded(statistics.median(values))
    walls = [p["wall_seconds"] for p in processes]
    beyond = [p["wall_seconds"] - p["rows"].get(ECOSYSTEM_ROW, 0.0) for p in processes]
    # where a code marks no training (an older revision), its fixed cost is not known: left out
    trained = all(TRAINING in p["rows"] for p in processes)
    outside = [wall - p["rows"][TRAINING] for wall, p in zip(beyond, processes)] if trained else []
    beyond_imports = [sum(v for k, v in p["rows"].items()
                          if k.startswith("imports: ") and k != ECOSYSTEM_ROW) for p in processes]
    return {
        "rows": {name: median([rows.get(name, 0.0) for rows in pooled]) for name in order},
        "wall_seconds": median(walls),
        # CPU time (user + system, every thread): the work, which the load moves less than the
        # wall time; what runs at once on several cores shows in the wall time alone
        "cpu_seconds": median([p.get("cpu_seconds", 0.0) for p in processes]),
        "beyond_ecosystem_seconds": median(beyond),
        **({"outside_training_seconds": median(outside)} if outside else {}),
        "beyond_ecosystem_import_seconds": median(beyond_imports),
        "each_wall_seconds": [_rounded(w) for w in walls],
        # CPU time the hypervisor took from the machine's cores while each process ran (None
        # where the kernel does not report it)
        "each_stolen_seconds": [None if p.get("stolen_seconds") is None else _rounded(p["stolen_seconds"])
                                for p in processes],
        "load_average": [{"before": p["load_before"], "after": p["load_after"]} for p in processes],
    }


@contextlib.contextmanager
def checkout(revision: str) -> Iterator[str]:
    """A detached git worktree of `revision` (this repository's) in a fresh folder, removed on
    leaving. Raises CalledProcessError where git cannot make it."""
    folder = tempfile.mkdtemp(prefix="initopt-against-")
    os.rmdir(folder)
    subprocess.run(["git", "worktree", "add", "--detach", folder, revision], check=True,
                   capture_output=True, text=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", folder], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def same_numbers(a: Iterable[dict[str, Any]], b: Iterable[dict[str, Any]]) -> bool:
    """Two runs' records agree on every number they measured (the runs' curves and results)."""
    strip = lambda records: [{k: v for k, v in record.items() if "seconds" not in k}
                             for record in records]
    return strip(a) == strip(b)


def startup(repeats: int = 3, against: str | None = None,
            command: Sequence[str] = STARTUP_RUN) -> dict[str, Any]:
    """Time `python -m bench <command>` `repeats` times in fresh processes (and, with
    `against`, as many times in a checkout of that revision, alternating); the document."""
    ecosystem = ecosystem_modules()
    with contextlib.ExitStack() as stack:
        codes = {"this checkout": None}
        if against is not None:
            codes[f"revision {against}"] = stack.enter_context(checkout(against))
        import bench

        here = os.path.dirname(os.path.dirname(os.path.abspath(bench.__file__)))  # what runs here
        for cwd in codes.values():
            cache_bytecode(cwd or here)
        processes = in_rounds({name: (lambda cwd=cwd: time_process(command, cwd, ecosystem))
                               for name, cwd in codes.items()}, repeats, before=settle)
    small = small_imports([process for found in processes.values() for process in found])
    found = {name: summarize(found, small) for name, found in processes.items()}
    if against is not None:
        mine, theirs = processes["this checkout"], processes[f"revision {against}"]
        found["same_numbers"] = all(same_numbers(mine[0]["records"], p["records"])
                                    for p in mine[1:] + theirs)
    return {"command": "python -m bench " + " ".join(command) + " --out TMP.json",
            "repeats": repeats, "ecosystem": list(ECOSYSTEM), "bytecode": "cached (compileall)",
            "settle_seconds": SETTLE_SECONDS,
            "measured": found}


def print_startup(document: dict[str, Any], path: str) -> None:
    from rich.table import Table

    from bench.console import output_console

    measured = {name: found for name, found in document["measured"].items() if name != "same_numbers"}
    table = Table(title=f"start-up of `{document['command']}` (fresh processes, empty compile "
                        f"cache; median of {document['repeats']}, seconds)")
    table.add_column("row")
    for name in measured:
        table.add_column(name, justify="right")
    for name in row_order(measured.values()):
        table.add_row(name, *(f"{found['rows'][name]:.3f}" if name in found["rows"] else "-"
                              for found in measured.values()))
    for label, key in (("wall", "wall_seconds"), ("CPU time (user + system)", "cpu_seconds"),
                       ("wall less the ecosystem's imports", "beyond_ecosystem_seconds"),
                       ("the same, outside training (the fixed cost)", "outside_training_seconds"),
                       ("imports beyond the ecosystem", "beyond_ecosystem_import_seconds")):
        table.add_row(label, *(f"{found[key]:.3f}" if key in found else "-" for found in measured.values()),
                      style="bold")
    console = output_console()
    console.print(table)
    for name, found in measured.items():
        console.print(f"{name}: load average before/after each process: " + "; ".join(
            f"{'/'.join(map(str, p['before']))} -> {'/'.join(map(str, p['after']))}"
            for p in found["load_average"]))
        stolen = [value for value in found.get("each_stolen_seconds", []) if value is not None]
        if stolen:
            console.print(f"{name}: CPU seconds the hypervisor took during each process: "
                          + ", ".join(f"{value:.2f}" for value in stolen))
    if "same_numbers" in document["measured"]:
        console.print(f"every run's numbers the same in both: {document['measured']['same_numbers']}")
    console.print(f"results: {path}")

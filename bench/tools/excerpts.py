"""`python -m bench readme [--check]`: the README's and the documentation's quotes of the
committed results, written by code.

Every number the README or a page of `docs/` quotes from a run lives between two markers,

    <!-- excerpt: NAME -->
    ...
    <!-- /excerpt -->

and is made by EXCERPTS[NAME] from the committed files under `results/reference/` (the console
tables as `python -m bench` prints them, the README's table of the default run, the MNIST-1D and
muP tables, diagnose's tables), or, for the README's table of commands, from the argument parser:
never typed. `readme` rewrites them in the README and in every
Markdown page under `docs/` beside it after the reference results are regenerated; `readme
--check` (and a test) says which excerpts no longer match their files.
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Callable

from bench.errors import UsageError

REFERENCE = Path("results") / "reference"
MARKER = re.compile(r"(<!-- excerpt: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /excerpt -->)", re.S)


def _load(root: Path, name: str) -> dict:
    from bench.results.document import load_results

    return load_results(str(root / REFERENCE / name))


def _perf_file(root: Path, name: str) -> dict:
    """A committed perf file under results/ (`python -m bench perf ... --out results/NAME`)."""
    import json

    return json.loads((root / "results" / name).read_text(encoding="utf-8"))


def _console_text(render: Callable) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None, force_terminal=False)
    render(console)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def default_run(root: Path) -> str:
    """What `python -m bench` printed for the committed default run."""
    from bench.analysis.tables import print_tables

    results = _load(root, "default.json")
    tables = _console_text(lambda console: print_tables(results, console))
    return f"```text\n$ python -m bench\n{tables}\n```\n"


def tune_run(root: Path) -> str:
    """The chosen configurations of the committed search."""
    from bench.analysis.search import chosen_table

    results = _load(root, "tune-digits-mlp.json")
    argv = " ".join(results["meta"]["argv"][1:])
    table = _console_text(lambda console: console.print(chosen_table(results)))
    return f"```text\n$ python -m bench {argv}\n{table}\n```\n"


def default_table(root: Path) -> str:
    """The committed default run's test accuracy as a Markdown table: the inits (rows) under the
    optimizers that ran several inits (columns), each at its chosen configuration, at its
    longest budget where it has several."""
    from bench.records import budgets
    from bench.records.queries import chosen_rows

    budget, results = budgets.slices(_load(root, "default.json"))[-1]
    task = results["meta"]["config"]["tasks"][0]["task"]
    rows = chosen_rows(results, "evaluation", task)
    optimizers = list(dict.fromkeys(optimizer for _, optimizer, _ in rows))
    several = [o for o in optimizers if sum(1 for _, opt, _ in rows if opt == o) > 1] or optimizers
    inits = list(dict.fromkeys(init for _, optimizer, init in rows if optimizer in several))

    best = {verdict["held_fixed"]["optimizer"]: {entry["init"] for entry in verdict["best"]}
            for verdict in results.get("verdicts", [])
            if verdict["task"] == task and set(verdict["held_fixed"]) - {"budget"} == {"optimizer"}}

    def cell(optimizer: str, init: str) -> str:
        row = rows.get((task, optimizer, init))
        if row is None:
            return ""
        low, high = row.get("test_accuracy_ci95") or (None, None)
        interval = "" if low is None else f" [{100 * low:.1f}, {100 * high:.1f}]"
        mean = f"{100 * row['test_accuracy_mean']:.1f}"
        return (f"**{mean}**" if init in best.get(optimizer, ()) else mean) + interval

    seeds = len(results["meta"]["config"]["evaluation_seeds"])
    at = "" if budget is None else f" at {budget} steps"
    lines = [f"{task}{at}, test accuracy %, mean [95% bootstrap CI] over {seeds} evaluation seeds; "
             "bold: the optimizer's best set of inits", "",
             "| init | " + " | ".join(several) + " |", "|---|" + "---|" * len(several)]
    lines += ["| " + " | ".join([f"`{init}`"] + [cell(o, init) for o in several]) + " |" for init in inits]
    return "\n".join(lines) + "\n\n"


def decay_effect(root: Path) -> str:
    """Two sentences on what the decayed schedule changed: the default run against
    default-constant (`bench.analysis.protocol`)."""
    from bench.analysis.protocol import decay_effect as sentences

    return sentences(_load(root, "default.json"), _load(root, "default-constant.json")) + "\n"


def _measured(meta: dict, load_keys: tuple[str, ...] = ("load_average",)) -> str:
    """"Measured DATE on CPU, load L" from a perf file's meta (what it lacks, said so)."""
    load = next((meta[key][0] for key in load_keys if meta.get(key)), None)
    return (f"Measured {(meta.get('measured_at') or '')[:10] or 'undated'} on "
            f"{meta.get('cpu_model') or meta.get('device_kind')}, "
            + ("load unknown" if load is None else f"load {load:.1f}"))


def perf_headline(root: Path) -> str:
    """The committed `python -m bench perf` run (results/perf-cpu.json): its date, load and
    matmul rate, every strategy's row, and the headline ratios against the lean loop."""
    document = _perf_file(root, "perf-cpu.json")
    meta, rows = document["meta"], document["rows"]
    whole = document.get("whole_process") or {}
    matmul = (meta.get("matmul") or {}).get("gflops")
    lines = [_measured(meta, ("load_average_before", "load_average")) + " before the run, "
             f"{meta.get('device_count')} devices"
             + (f", a 2048² f32 matmul at {matmul:.0f} GFLOP/s at the start" if matmul else "")
             + "; each row's % is of the matmul timed just before and after it"
             + (f"; each row is the median of {len(rows[0]['rounds'])} interleaved rounds (by run time)"
                if rows and rows[0].get("rounds") else "") + ":", "",
             "| strategy | seeds | seed-steps/s | x lean loop | compile s | run s | GFLOP/s | matmul GFLOP/s "
             "| % matmul |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        share, yardstick = row.get("matmul_fraction"), row.get("matmul_gflops") or matmul
        lines.append(f"| {row['strategy']} | {row['seeds']} | {row['seed_steps_per_second']:,.0f} | "
                     f"{row['vs_lean_loop']:.2f} | {row.get('compile_seconds') or 0:.2f} | {row['run_seconds']:.2f} | "
                     f"{row.get('gflops') or 0:.1f} | {'-' if yardstick is None else f'{yardstick:.0f}'} | "
                     f"{'-' if share is None else f'{100 * share:.0f}%'} |")
    runner_row = next((row for row in rows if row["strategy"] == "runner"), None)
    repeats = len((whole.get("runner") or {}).get("each_wall_seconds") or [0])
    if runner_row and whole.get("runner") and whole.get("lean_loop"):
        share, paired = runner_row.get("matmul_fraction"), whole.get("runner_vs_lean_loop_by_round")
        medians = (f"runner {whole['runner']['wall_seconds']:.1f} s, lean loop "
                   f"{whole['lean_loop']['wall_seconds']:.1f} s, each the median of {repeats} fresh processes "
                   f"with an empty compile cache")
        lines += ["", f"**Headline, 256 seeds x 500 steps of Adam on digits-mlp:** "
                      f"**{runner_row['vs_lean_loop']:.2f}x run-only** against the lean loop (the same process) and "
                      + (f"**{paired['median']:.2f}x whole process**, the median of {len(paired['each'])} "
                         f"interleaved rounds' ratios (each round's runner and lean loop side by side, fresh "
                         f"processes; rounds {paired['min']:.2f}-{paired['max']:.2f}x; the ratio of the two "
                         f"medians, which mixes rounds, {whole['runner_vs_lean_loop']:.2f}x: {medians})"
                         if paired else
                         f"**{whole['runner_vs_lean_loop']:.2f}x whole process** ({medians})")
                      + (f"; the runner trains at **{100 * share:.0f}% of the matmul rate**" if share else "")
                      + _rounds_range(runner_row) + "."]
    if whole.get("revisions") and whole.get("runner") and whole.get("lean_loop"):
        lean_wall = whole["lean_loop"]["wall_seconds"]
        lines += ["", "Whole process in that run (`--against`: the runner of each revision from its own "
                      "checkout), each the median of its processes:", "",
                  "| code | wall s | training s | x lean loop | x lean loop by round (median, range) |",
                  "|---|---|---|---|---|",
                  f"| lean loop | {lean_wall:.1f} | {whole['lean_loop'].get('run_seconds', 0):.1f} | 1.00 | |",
                  f"| runner, this checkout | {whole['runner']['wall_seconds']:.1f} | "
                  f"{whole['runner'].get('run_seconds', 0):.1f} | {lean_wall / whole['runner']['wall_seconds']:.2f} | "
                  f"{_by_round(whole.get('runner_vs_lean_loop_by_round'))} |"]
        for revision, found in whole["revisions"].items():
            if "wall_seconds" in found:
                lines.append(f"| runner at {revision} | {found['wall_seconds']:.1f} | "
                             f"{found.get('run_seconds', 0):.1f} | {lean_wall / found['wall_seconds']:.2f} | "
                             f"{_by_round(found.get('vs_lean_loop_by_round'))} |")
        speedups = [f"{_by_round(found['runner_speedup_by_round'])} as fast as the runner at {revision}"
                    for revision, found in whole["revisions"].items() if found.get("runner_speedup_by_round")]
        if speedups:
            lines += ["", "This checkout's runner, round by round (median, range): " + "; ".join(speedups) + "."]
    return "\n".join(lines) + "\n\n"


def _by_round(ratios: dict | None) -> str:
    """'1.68x (1.47-1.77)' from a perf `by_round` entry; '-' where the file has none."""
    return "-" if not ratios else f"{ratios['median']:.2f}x ({ratios['min']:.2f}-{ratios['max']:.2f})"


def _rounds_range(row: dict) -> str:
    """' (its N rounds: lo-hi%, their median m%)' for a row measured in rounds, else ''."""
    rounds = row.get("rounds") or []
    if len(rounds) < 2:
        return ""
    shares = [100 * each["matmul_fraction"] for each in rounds]
    return (f" (its {len(rounds)} rounds: {min(shares):.0f}-{max(shares):.0f}%, their median "
            f"{100 * row['matmul_fraction_median_of_rounds']:.0f}%)")


def perf_levers(root: Path) -> str:
    """The committed `perf --levers` run (results/perf-levers-cpu.json): each variant's rate,
    calls and ratio to the default, side by side; the XLA flags' whole processes."""
    document = _perf_file(root, "perf-levers-cpu.json")
    meta, levers = document["meta"], document["levers"]
    variants, flags = levers["variants"], levers.get("whole_process") or {}
    default = variants.get("calls of ~1 s (default)")
    lines = [_measured(meta) + f"; {levers.get('plain')} unless a grid ({levers.get('grid')}), best of "
             "the variants' interleaved repeats:", "",
             "| variant | seed-steps/s | calls | run s | x default |", "|---|---|---|---|---|"]
    for name, found in variants.items():
        ratio = "" if default is None or name.startswith("grid") else \
            f"{found['seed_steps_per_second'] / default['seed_steps_per_second']:.2f}"
        lines.append(f"| {name} | {found['seed_steps_per_second']:,.0f} | {found['calls']} | "
                     f"{found['run_seconds']:.2f} | {ratio} |")
    if flags:
        lines += ["", "| whole process (fresh, empty compile cache) | wall s | training s |", "|---|---|---|"]
        for name, found in flags.items():
            label = "XLA defaults" if name == "default" else f"`{name}`"
            lines.append(f"| {label} | {found.get('wall_seconds', float('nan')):.1f} | "
                         f"{found.get('run_seconds', float('nan')):.1f} |")
    return "\n".join(lines) + "\n\n"


def perf_startup(root: Path) -> str:
    """The committed `perf --startup` run (results/perf-startup-cpu.json): each phase's median
    seconds, for this checkout and the revision it was measured against."""
    from bench.tools.perf.startup_phases import row_order

    document = _perf_file(root, "perf-startup-cpu.json")
    meta, startup = document["meta"], document["startup"]
    codes = {name: found for name, found in startup["measured"].items() if isinstance(found, dict)}
    names = list(codes)
    rows = row_order(codes.values())
    settled = (f", each started {startup['settle_seconds']:g} s after the one before" if "settle_seconds" in startup
               else "")
    bytecode = ", the suite's bytecode written beforehand" if startup.get("bytecode") else ""
    lines = [_measured(meta) + f": `{startup['command']}`, median of {startup['repeats']} fresh processes "
             f"each, an empty compile cache{bytecode}{settled}:", "",
             "| phase (s) | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for row in rows:
        lines.append(f"| {row} | " + " | ".join(
            f"{codes[name]['rows'][row]:.2f}" if row in codes[name]["rows"] else "-" for name in names) + " |")
    for label, key in (("**wall**", "wall_seconds"),
                       ("**beyond JAX, Flax and Optax's imports**", "beyond_ecosystem_seconds"),
                       ("**the same, outside training: the fixed cost**", "outside_training_seconds")):
        if any(key in codes[name] for name in names):
            lines.append(f"| {label} | " + " | ".join(
                f"**{codes[name][key]:.2f}**" if key in codes[name] else "-" for name in names) + " |")
    stolen = [value for name in names for value in codes[name].get("each_stolen_seconds", []) if value is not None]
    if stolen:
        lines += ["", f"The hypervisor took {min(stolen):.2f}-{max(stolen):.2f} CPU-seconds of the machine's "
                      "cores during each process (/proc/stat's steal)."]
    if "same_numbers" in startup["measured"]:
        lines += ["", "The two revisions' runs gave the same numbers: "
                      f"{'yes' if startup['measured']['same_numbers'] else '**no**'}."]
    return "\n".join(lines) + "\n\n"


def diagnose_tables(root: Path) -> str:
    """diagnose's two tables, as it printed them, from the committed diagnose JSON."""
    import json

    from bench.tools.diagnose import tables

    path = root / REFERENCE / "diagnose-digits-deep.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    text = _console_text(lambda console: [console.print(table) for table in tables(results)])
    return (f"```text\n$ python -m bench diagnose --task {results['task']} "
            f"--out results/reference/diagnose-digits-deep.png\n{text}\n```\n")


def commands_table(root: Path) -> str:
    """Every command of `python -m bench` with the help its parser gives it (`bench.commands`;
    not a results excerpt: the README's command table, held to the parser the same way)."""
    from bench.commands import COMMAND_HELP

    lines = ["| command | what it does |", "|---|---|"]
    lines += [f"| `{name}` | {text} |" for name, text in COMMAND_HELP.items()]
    return "\n".join(lines) + "\n\n"


MNIST1D_MODELS = (("mnist1d-linear", "logistic regression"), ("mnist1d-mlp", "MLP"),
                  ("mnist1d-cnn", "CNN"), ("mnist1d-gru", "GRU"),
                  ("mnist1d-shuffled-mlp", "MLP, shuffled"), ("mnist1d-shuffled-cnn", "CNN, shuffled"))


def mnist1d_table(root: Path) -> str:
    """Test accuracy of the committed mnist1d run beside the paper's, per model."""
    from bench.records.queries import chosen_rows
    from bench.tasks import TASKS

    results = _load(root, "mnist1d.json")
    lines = ["| model | paper | this suite | 95% bootstrap CI (seeds) |", "|---|---|---|---|"]
    for task, label in MNIST1D_MODELS:
        rows = list(chosen_rows(results, "evaluation", task).values())
        if not rows:
            continue
        row = rows[0]
        low, high = row.get("test_accuracy_ci95") or (None, None)
        interval = "" if low is None else f"[{100 * low:.1f}, {100 * high:.1f}]"
        paper = TASKS[task].published_accuracy
        lines.append(f"| {label} | {100 * paper:.0f} | {100 * row['test_accuracy_mean']:.1f} | {interval} |")
    return "\n".join(lines) + "\n\n"


def mup_table(root: Path) -> str:
    """Each width's best learning rate per parametrization in the committed mup run."""
    from bench.analysis import mup

    headers, rows = mup.table(_load(root, "mup.json"))
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n\n"


EXCERPTS: dict[str, Callable[[Path], str]] = {
    "default-run": default_run, "tune-run": tune_run, "mnist1d-table": mnist1d_table,
    "mup-table": mup_table, "default-table": default_table, "diagnose-tables": diagnose_tables,
    "commands": commands_table, "decay-effect": decay_effect, "perf-headline": perf_headline,
    "perf-levers": perf_levers, "perf-startup": perf_startup,
}


def rewritten(text: str, root: Path) -> tuple[str, list[str]]:
    """The text (the README, or a page) with every excerpt made anew, and the names of those
    that changed."""
    changed = []

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in EXCERPTS:
            raise UsageError(f"README: unknown excerpt '{name}'; known: {', '.join(EXCERPTS)}")
        body = EXCERPTS[name](root)
        if body != match.group("body"):
            changed.append(name)
        return match.group(1) + body + match.group(4)

    return MARKER.sub(replace, text), changed


def quoting_files(readme_path: Path) -> list[Path]:
    """The README and every Markdown page of the `docs/` folder beside it (built output aside)."""
    docs = readme_path.resolve().parent / "docs"
    pages = sorted(page for page in docs.rglob("*.md") if "_build" not in page.parts) if docs.is_dir() else []
    return [readme_path, *pages]


def readme(path: str = "README.md", check: bool = False) -> int:
    """Rewrite (or, with `check`, compare) the excerpts of the README at `path` and of the pages
    under `docs/` beside it; exit code."""
    from bench.results.files import atomic_write

    readme_path = Path(path)
    if not readme_path.is_file():
        raise UsageError(f"readme: no such file '{path}'")
    root = readme_path.resolve().parent
    changed, rewrites = [], []
    for file in quoting_files(readme_path):
        text = file.read_text(encoding="utf-8")
        new, names = rewritten(text, root)
        shown = file.name if file == readme_path else str(file.resolve().relative_to(root))
        changed += [f"{shown}: {name}" for name in names]
        if names:
            rewrites.append((file, new))
    if check:
        print("README and docs excerpts match results/reference" if not changed
              else f"excerpts out of date: {', '.join(changed)} (run `python -m bench readme`)")
        return 1 if changed else 0
    for file, new in rewrites:
        atomic_write(str(file), new)
    print(f"rewrote {len(changed)} excerpt(s): {', '.join(changed)}" if changed else "README and docs excerpts up to date")
    return 0

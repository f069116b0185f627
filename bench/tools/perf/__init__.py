"""`python -m bench perf`: the runner's throughput beside the loops a user would write instead.

Strategies (same task, optimizer, learning rate, he_normal params and batch size; `workload`):

    lean loop           what a JAX user writes: jit(init + lax.scan over the steps), batches
                        drawn with replacement, no evaluation, seeds in a Python loop (`lean`):
                        the baseline every ratio is taken against
    lean loop + eval    the same with the suite's evaluation schedule (val accuracy every
                        eval_every steps)
    lean vmap           the lean loop under jax.vmap over every seed, one call
    runner              bench.runner.train_runs, as `python -m bench` calls it, sharded over
                        every device (per-epoch permutations, evaluation, failure checks)
    pytorch eager       one model after the other with torch.optim.Adam (`peers`)
    torch.func          every seed at once, torch.func's ensembling recipe (`peers`)

Throughput is seed-steps per second of run time (compile apart). Achieved GFLOP/s counts
6 x batch x parameters per step and nothing else; the reference is a jitted 2048x2048 f32
matmul over every device at once. Whole process: `python -m bench run` for the same work, and
the lean loop as a user's script, each in a fresh process with a cold compile cache.
"""
from __future__ import annotations

import json
import math
import os
import sys
from typing import Any, Callable, NamedTuple, Sequence

import jax
import numpy as np

from bench import runner
from bench.records.values import finite_or_none_within
from bench.sharding import runs_mesh
from bench.results.files import atomic_write
from bench.results.provenance import environment
from bench.tools.perf import lean, peers
from bench.tools.perf.rounds import by_round, in_rounds
from bench.tools.perf.measure import (MATMUL_SIZE, compile_counter, lean_process, matmul_gflops,
                                      process_seconds, runner_process)
from bench.tools.perf.workload import INIT, Workload, grid_runs, make_workload

SLOW_SEEDS = 32  # loops over seeds: their throughput does not grow with seeds
SCALING_RUNS = (1, 4, 16, 64, 256, 1024)
SCALING_STEPS = 50
BASELINE = "lean loop"


class Measurement(NamedTuple):
    strategy: str
    seeds: int
    steps: int
    compile_seconds: float
    run_seconds: float
    final_loss: np.ndarray  # [seeds]: mean training loss of the last evaluation period
    compiles: int
    note: str = ""
    batches: str = "runner"  # whose batches: "runner" (epoch permutations) or "lean" (with replacement)
    matmul: float | None = None  # GFLOP/s of the yardstick matmul timed just before and after the row
    rounds: tuple = ()  # every round's (run_seconds, matmul) where the row is the median of rounds

    @property
    def seed_steps_per_second(self) -> float:
        return self.seeds * self.steps / self.run_seconds


# ---------------------------------------------------------------------------------------------
# The strategies.


def measure_lean(workload: Workload, seeds: Sequence[int], evaluate: bool = False) -> Measurement:
    lean_train = lean.make_lean_train(workload.task, workload.dataset, workload.spec, workload.lr,
                                      workload.batch_size, workload.steps,
                                      workload.eval_every if evaluate else None,
                                      last_steps=workload.eval_every)
    with compile_counter() as counter:
        compile_seconds, run_seconds, losses = lean.run_loop(lean_train, list(seeds),
                                                             lean.device_data(workload.dataset))
    return Measurement("lean loop + eval" if evaluate else BASELINE, len(seeds), workload.steps,
                       compile_seconds, run_seconds, losses, counter.compiles,
                       "1 device, one jit call per seed", batches="lean")


def measure_lean_vmap(workload: Workload, seeds: Sequence[int]) -> Measurement:
    lean_train = lean.make_lean_train(workload.task, workload.dataset, workload.spec, workload.lr,
                                      workload.batch_size, workload.steps,
                                      last_steps=workload.eval_every)
    with compile_counter() as counter:
        compile_seconds, run_seconds, losses = lean.run_vmap(lean_train, list(seeds),
                                                             lean.device_data(workload.dataset))
    return Measurement("lean vmap", len(seeds), workload.steps, compile_seconds, run_seconds,
                       losses, counter.compiles, "1 device, one vmap over every seed", batches="lean")


def measure_runner(workload: Workload, seeds: Sequence[int]) -> Measurement:
    """bench.runner exactly as `python -m bench` uses it: sharded over every device."""
    mesh = runs_mesh()
    with compile_counter() as counter:
        output, timing = runner.train_runs(
            workload.task, workload.dataset, workload.spec,
            grid_runs(workload, seeds), workload.initialized, steps=workload.steps,
            batch_size=workload.batch_size, eval_every=workload.eval_every, mesh=mesh)
    return Measurement("runner", len(seeds), workload.steps, timing.compile_seconds,
                       timing.run_seconds, output.train_loss[:, -1], counter.compiles,
                       f"{mesh.devices.size} devices, {timing.calls} calls")


def measure_peer(workload: Workload, seeds: Sequence[int], kind: str) -> Measurement:
    found = (peers.eager if kind == "pytorch eager" else peers.ensemble)(workload, seeds)
    return Measurement(kind, len(seeds), workload.steps, 0.0, found.run_seconds, found.final_loss,
                       0, found.note)


def around_matmul(measure: Callable[[], Any]) -> tuple[Any, float]:
    """`measure()` and the yardstick matmul's rate timed just before and just after it (their
    mean): this machine's matmul rate moved from 152 to 202 GFLOP/s within a day, and within a
    run, so a "% of matmul" is taken against the rate of its own minutes."""
    before = matmul_gflops()
    found = measure()
    return found, (before + matmul_gflops()) / 2


def beside_matmul(measure: Callable[[], Measurement]) -> Measurement:
    """`measure()`'s row with the rate of the yardstick timed around it (`around_matmul`)."""
    found, matmul = around_matmul(measure)
    return found._replace(matmul=matmul)


def run_strategies(workload: Workload, seeds: int, slow_seeds: int, include_torch: bool = True,
                   repeats: int = 1) -> tuple[list[Measurement], list[str]]:
    """The JAX strategies' rows, each beside its matmul, in `repeats` rounds that rotate their
    order (as `interleaved` does the whole processes): each row is its median round (by run
    time; the lower middle one for an even count) with every round's run time and matmul in
    `rounds`, so that one slow minute of this shared machine does not decide a row. The
    PyTorch rows run once."""
    fast, slow = workload.seeds[:seeds], workload.seeds[:min(slow_seeds, seeds)]
    strategies = {"lean loop": lambda: measure_lean(workload, slow),
                  "lean loop + eval": lambda: measure_lean(workload, slow, evaluate=True),
                  "lean vmap": lambda: measure_lean_vmap(workload, fast),
                  "runner": lambda: measure_runner(workload, fast)}
    found = in_rounds({name: (lambda measure=measure: beside_matmul(measure))
                       for name, measure in strategies.items()}, repeats)
    measurements = [median_round(each) for each in found.values()]
    notes = []
    if include_torch:
        why_not = peers.mirrored(workload)
        if why_not:
            notes.append(f"PyTorch rows skipped: {why_not}")
        else:
            measurements += [measure_peer(workload, slow, "pytorch eager"),
                             measure_peer(workload, fast, "torch.func")]
    return measurements, notes


def lower_median(items: Sequence[Any], key: Callable[[Any], float]) -> Any:
    """The item whose `key` is the median of `items` (the lower middle one for an even count)."""
    return sorted(items, key=key)[(len(items) - 1) // 2]


def median_round(each: Sequence[Measurement]) -> Measurement:
    """The round whose run time is the median of `each` (the lower middle one for an even
    count), with every round's (run_seconds, matmul)."""
    return lower_median(each, key=lambda m: m.run_seconds)._replace(
        rounds=tuple((m.run_seconds, m.matmul) for m in each))


# ---------------------------------------------------------------------------------------------
# The table, the files.


def rows(measurements: Sequence[Measurement], workload: Workload, matmul: float) -> list[dict[str, Any]]:
    base = next(m for m in measurements if m.strategy == BASELINE).seed_steps_per_second
    references = {}
    for m in measurements:  # the first of each batch order is its group's reference
        references.setdefault(m.batches, m)
    table = []
    for m in measurements:
        rate = m.seed_steps_per_second
        yardstick = m.matmul or matmul
        reference = references[m.batches]
        shared = min(len(m.final_loss), len(reference.final_loss))
        table.append({
            "strategy": m.strategy, "seeds": m.seeds, "steps": m.steps,
            "seed_steps_per_second": rate, "vs_lean_loop": rate / base,
            "compile_seconds": m.compile_seconds, "run_seconds": m.run_seconds,
            "compiles": m.compiles, "gflops": rate * workload.flops_per_step / 1e9,
            "matmul_gflops": yardstick,
            "matmul_fraction": rate * workload.flops_per_step / 1e9 / yardstick,
            "batches": m.batches, "same_work_as": reference.strategy,
            "final_loss_max_abs_diff": float(np.max(np.abs(
                m.final_loss[:shared] - reference.final_loss[:shared]))),
            "note": m.note, **_rounds(m, workload)})
    return table


def _rounds(m: Measurement, workload: Workload) -> dict[str, Any]:
    """A row's rounds, where it is the median of several: each one's run time, matmul and
    fraction of it, and the median of those fractions."""
    if len(m.rounds) < 2:
        return {}
    fractions = [m.seeds * m.steps / run_seconds * workload.flops_per_step / 1e9 / matmul
                 for run_seconds, matmul in m.rounds]
    return {"rounds": [{"run_seconds": run_seconds, "matmul_gflops": matmul, "matmul_fraction": fraction}
                       for (run_seconds, matmul), fraction in zip(m.rounds, fractions)],
            "matmul_fraction_median_of_rounds": float(np.median(fractions))}


def _range(table: Sequence[dict[str, Any]], field: str) -> str:
    values = [row[field] for row in table if row.get(field) is not None]
    return f"{min(values):.0f}-{max(values):.0f}" if values else "-"


def _print_table(table, caption: str, title: str) -> None:
    from rich.table import Table

    from bench.console import output_console

    out = Table(title=title, caption=caption)
    rounds = any("rounds" in row for row in table)
    for column in ("strategy", "seeds", "seed-steps/s", "x lean loop", "compile s", "run s",
                   "GFLOP/s", "% matmul", *(("% matmul, rounds' median",) if rounds else ()), "compiles"):
        out.add_column(column, justify="left" if column == "strategy" else "right")
    for row in table:
        median = row.get("matmul_fraction_median_of_rounds")
        out.add_row(row["strategy"], str(row["seeds"]), f"{row['seed_steps_per_second']:,.0f}",
                    f"{row['vs_lean_loop']:.2f}", f"{row['compile_seconds']:.2f}",
                    f"{row['run_seconds']:.2f}", f"{row['gflops']:.1f}",
                    f"{100 * row['matmul_fraction']:.0f}%",
                    *((f"{100 * median:.0f}%" if median is not None else "-",) if rounds else ()),
                    str(row["compiles"]))
    output_console().print(out)


def _run_meta() -> dict[str, Any]:
    """What every perf file records of its run: the machine, the command, the code, the date and
    the load at its end."""
    import datetime

    from bench.results.provenance import git_revision

    argv = sys.argv[2:] if sys.argv[1:2] == ["perf"] else sys.argv[1:]
    return {**environment(), "command": "python -m bench perf " + " ".join(argv),
            "git_revision": git_revision(),
            "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "argv": list(sys.argv), "load_average": list(os.getloadavg()), "cpu_count": os.cpu_count()}


def _meta(workload: Workload, matmul: float | None) -> dict[str, Any]:
    return {**_run_meta(), "task": workload.task.name,
            "optimizer": workload.optimizer, "lr": workload.lr, "init": INIT,
            "batch_size": workload.batch_size, "eval_every": workload.eval_every,
            "parameters": workload.n_params, "flops_per_step": workload.flops_per_step,
            "matmul": None if matmul is None else {
                "what": f"jitted {MATMUL_SIZE}x{MATMUL_SIZE} f32 matmul, one per device, "
                        f"all {jax.device_count()} devices at once, median of 10 after warm-up",
                "gflops": matmul}}


def write_perf_file(path: str, document: dict[str, Any]) -> None:
    """Write a perf document atomically as strict JSON (unmeasured numbers null); process 0 only."""
    if jax.process_index() != 0:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    plain = json.loads(json.dumps(document, default=float))  # numpy scalars as floats
    atomic_write(path, json.dumps(finite_or_none_within(plain), indent=2, allow_nan=False) + "\n")


def perf(task: str = "digits-mlp", optimizer: str = "adam", seeds: int = 256, steps: int = 500,
         out: str | None = None, whole_process: bool = True, synthetic: bool = False,
         against: Sequence[str] | None = None, repeats: int = 1) -> dict[str, Any]:
    """The strategies' rows (in this process, `repeats` interleaved rounds, each row its median
    round) and the whole-process figures (fresh processes, side by side, `repeats` interleaved
    rounds, each command's median process): the runner's command, the lean loop's script with
    and without evaluation, and the runner's command in a checkout of each git revision of
    `against`."""
    startup = process_seconds()  # the interpreter and the imports, before anything is measured
    load_before = os.getloadavg()
    workload = make_workload(task, optimizer, seeds, steps, synthetic=synthetic)
    whole_process = whole_process and not synthetic  # a fresh `bench run` would need the real data
    matmul = matmul_gflops()
    measurements, notes = run_strategies(workload, seeds, SLOW_SEEDS, repeats=repeats)
    table = rows(measurements, workload, matmul)
    whole: dict[str, Any] = {}
    if whole_process:
        # side by side: the runner's command, the lean loop's script, same work
        commands = {"runner": lambda: runner_process(workload, seeds),
                    "lean_loop": lambda: lean_process(workload, seeds),
                    "lean_loop_with_eval": lambda: lean_process(workload, seeds, evaluate=True),
                    **{f"revision {revision}": (lambda revision=revision: revision_runner_process(
                        workload, seeds, revision)) for revision in against or ()}}
        found = interleaved(commands, repeats)
        whole = {name: found[name] for name in ("runner", "lean_loop", "lean_loop_with_eval")}
        revisions = {revision: found[f"revision {revision}"] for revision in against or ()}
        if all("wall_seconds" in found for found in whole.values()):
            lean_wall = whole["lean_loop"]["wall_seconds"]
            whole["runner_vs_lean_loop"] = lean_wall / whole["runner"]["wall_seconds"]
            whole["runner_vs_lean_loop_with_eval"] = (whole["lean_loop_with_eval"]["wall_seconds"]
                                                      / whole["runner"]["wall_seconds"])
            lean_walls, runner_walls = (whole[name]["each_wall_seconds"] for name in ("lean_loop", "runner"))
            # the headline: each round's two processes side by side, so the host's drift pairs out
            whole["runner_vs_lean_loop_by_round"] = by_round(lean_walls, runner_walls)
            whole["runner_vs_lean_loop_with_eval_by_round"] = by_round(
                whole["lean_loop_with_eval"]["each_wall_seconds"], runner_walls)
            for found in revisions.values():  # a revision whose run failed keeps its error alone
                if "wall_seconds" in found:
                    found["vs_lean_loop"] = lean_wall / found["wall_seconds"]
                    found["vs_lean_loop_by_round"] = by_round(lean_walls, found["each_wall_seconds"])
                    found["runner_speedup_by_round"] = by_round(found["each_wall_seconds"], runner_walls)
        if revisions:
            whole["revisions"] = revisions
    caption = (f"{task}, {optimizer} lr {workload.lr:g}, {INIT}, batch {workload.batch_size}, {steps} "
               f"steps, eval every {workload.eval_every}{'; synthetic data' if synthetic else ''}; "
               f"seed-steps/s = seeds x steps / run s (compile apart); GFLOP/s = seed-steps/s x "
               f"{workload.flops_per_step / 1e6:,.1f} MFLOP per step ({workload.n_params:,} params); % of a "
               f"{MATMUL_SIZE}^2 f32 matmul over {jax.device_count()} devices timed just before and after "
               f"each row ({_range(table, 'matmul_gflops')} GFLOP/s; {matmul:.0f} at the start); "
               f"loops over seeds ran {min(SLOW_SEEDS, seeds)} seeds"
               + (f"; each JAX row the median of {repeats} interleaved rounds (by run time)"
                  if repeats > 1 else ""))
    path = out or os.path.join("results", f"perf-{jax.default_backend()}.json")
    document = {"meta": {**_meta(workload, matmul), "load_average_before": list(load_before)},
                "caption": caption, "rows": table, "whole_process": whole, "notes": notes,
                "startup_seconds": startup}
    write_perf_file(path, document)
    if jax.process_index() == 0:
        _print_table(table, caption, f"python -m bench perf ({jax.default_backend()}, "
                                     f"load {os.getloadavg()[0]:.2f})")
        for note in notes:
            print(note)
        if "runner_vs_lean_loop" in whole:
            paired, with_eval = whole["runner_vs_lean_loop_by_round"], whole["runner_vs_lean_loop_with_eval_by_round"]
            print(f"whole process, {seeds} seeds x {steps} steps, cold compile cache: runner "
                  f"{whole['runner']['wall_seconds']:.1f} s, lean loop {whole['lean_loop']['wall_seconds']:.1f} s "
                  f"({whole['runner_vs_lean_loop']:.2f}x; by round {_paired(paired)}), lean loop with "
                  f"evaluation {whole['lean_loop_with_eval']['wall_seconds']:.1f} s "
                  f"({whole['runner_vs_lean_loop_with_eval']:.2f}x; by round {_paired(with_eval)})")
        elif whole:
            print("whole-process run failed: " + "; ".join(
                found.get("error", "")[-300:] for found in whole.values()
                if isinstance(found, dict) and "error" in found))
        for revision, found in whole.get("revisions", {}).items():
            print(f"the runner at revision {revision}: " + (
                f"{found['wall_seconds']:.1f} s ({found['vs_lean_loop']:.2f}x the lean loop, by round "
                f"{_paired(found['vs_lean_loop_by_round'])}; this checkout's runner "
                f"{_paired(found['runner_speedup_by_round'])} as fast)"
                if "vs_lean_loop" in found else "failed: " + found.get("error", "")[-300:]))
        print(f"results: {path}")
    return document


def _paired(ratios: dict[str, Any]) -> str:
    """'1.68x (1.47-1.77)': a `by_round` median and its range."""
    return f"{ratios['median']:.2f}x ({ratios['min']:.2f}-{ratios['max']:.2f})"


def interleaved(commands: dict[str, Any], repeats: int) -> dict[str, dict[str, Any]]:
    """Each of `commands` (name -> a function timing one fresh process) `repeats` times,
    `in_rounds`, each process `settle`d after the one before; each command's median process
    (the lower of the middle two for an even count), with every wall time it took, or its
    first error."""
    from bench.tools.perf.startup_phases import settle

    found = {}
    for name, runs in in_rounds(commands, repeats, before=settle).items():
        failed = [run for run in runs if "wall_seconds" not in run]
        if failed:
            found[name] = failed[0]
            continue
        found[name] = {**lower_median(runs, key=lambda run: run["wall_seconds"]),
                       "each_wall_seconds": [run["wall_seconds"] for run in runs]}
    return found


def revision_runner_process(workload, seeds: int, revision: str) -> dict[str, Any]:
    """`runner_process` in a detached worktree of `revision`, removed afterwards."""
    import subprocess

    from bench.tools.perf.startup_phases import checkout

    try:
        with checkout(revision) as cwd:
            return runner_process(workload, seeds, cwd=cwd)
    except subprocess.CalledProcessError as error:  # recorded, the rest of the run goes on
        return {"error": f"git worktree add {revision}: {(error.stderr or '').strip()[-300:]}"}


def search(task: str = "digits-mlp", optimizer: str = "adam", trials: int = 64, seeds: int = 4,
           steps: int = 500, out: str | None = None) -> dict[str, Any]:
    """A search's trials x seeds as ONE program (the runner, every hyperparameter traced per run)
    against the same trials one configuration at a time, as a user loops over them: optax's
    optimizer built from each trial's Python floats, the lean loop vmapped over the seeds, one
    jit per trial (a new configuration is a new program). Same Sobol trials
    (`bench.suite.search`) for both; time from the first compile to the last result."""
    import time

    from bench.suite import search as search_space

    workload = make_workload(task, optimizer, seeds, steps)
    space = workload.spec.search_space
    candidates = search_space.sample(space, trials)
    runs = [runner.Run.of(INIT, seed, c, trial)
            for trial, c in enumerate(candidates) for seed in workload.seeds]
    with compile_counter() as counter:
        began = time.perf_counter()
        output, timing = runner.train_runs(
            workload.task, workload.dataset, workload.spec, runs,
            workload.initialized, steps=steps, batch_size=workload.batch_size,
            eval_every=workload.eval_every, mesh=runs_mesh(), test=False)
        one_program = time.perf_counter() - began
    one_compiles = counter.compiles
    data = lean.device_data(workload.dataset)
    with compile_counter() as counter:
        began = time.perf_counter()
        loop_compile = 0.0
        for c in candidates:
            values = dict(c)
            lean_train = lean.make_lean_train(workload.task, workload.dataset, workload.spec,
                                              values.pop("learning_rate"), workload.batch_size, steps,
                                              last_steps=workload.eval_every, hyperparams=values)
            compile_seconds, _, _ = lean.run_vmap(lean_train, list(workload.seeds), data)
            loop_compile += compile_seconds
        loop = time.perf_counter() - began
    loop_compiles = counter.compiles
    found = {"task": task, "optimizer": optimizer, "trials": trials, "seeds": seeds, "steps": steps,
             "searched": sorted(space),
             "one_program": {"wall_seconds": one_program, "compile_seconds": timing.compile_seconds,
                             "run_seconds": timing.run_seconds, "compiles": one_compiles},
             "loop_over_trials": {"wall_seconds": loop, "compile_seconds": loop_compile,
                                  "compiles": loop_compiles},
             "speedup": loop / one_program}
    path = out or os.path.join("results", f"perf-search-{jax.default_backend()}.json")
    write_perf_file(path, {"meta": _meta(workload, None), "search": found})
    if jax.process_index() == 0:
        print(f"{trials} trials x {seeds} seeds of {optimizer} on {task}, {steps} steps, searching "
              f"{', '.join(sorted(space))}: one program {one_program:.1f} s ({one_compiles} compile), "
              f"one configuration at a time {loop:.1f} s ({loop_compiles} compiles, "
              f"{loop_compile:.1f} s of them): {found['speedup']:.2f}x\nresults: {path}")
    return found


def levers(task: str = "digits-mlp", optimizer: str = "adam", seeds: int = 256, steps: int = 500,
           repeats: int = 2, out: str | None = None) -> dict[str, Any]:
    """What each lever of the runner is worth, measured side by side in one process (variants
    interleaved `repeats` times, the best of each kept), and the start-up it pays:

        shared permutations   on a grid whose runs share seeds (seeds/8 seeds x 8 learning
                              rates): one sort per distinct seed per device vs one per run
        call length           ~1 s calls (the default) vs 0.05 s (many host round trips) vs 10 s
        vmap width            CPU groups of 4 (the default) vs 2, 8 and one vmap per device
        evaluation            every eval_every steps vs once at the end (what evaluating costs)
        failure tracking      each period's loss maximum, its finite flag, the parameters'
                              finiteness after each call: on (the default) vs each off, and all
        phases                a run's 4 selection seeds and its evaluation seeds in one program
                              (one configuration: nothing to choose) vs two programs
        saves                 the program's state saved every 5 s (a killed run resumes) vs never
        start-up              fresh processes: importing the run's modules, and each library
        XLA flags             each of XLA_FLAG_LEVERS, whole process
    Every variant trains the same runs; each but "evaluation" and "failure tracking" gives the
    same numbers."""
    import tempfile

    workload = make_workload(task, optimizer, seeds, steps)
    mesh = runs_mesh()
    variants = lever_variants(workload, seeds, steps, tempfile.mkdtemp(prefix="perf-saves-"))
    best = time_variants(workload, mesh, variants, steps, repeats)
    startup = startup_seconds()
    flags = {"default": runner_process(workload, seeds)}
    for flag in XLA_FLAG_LEVERS:
        flags[flag] = runner_process(
            workload, seeds, {"XLA_FLAGS": f"--xla_force_host_platform_device_count={mesh.devices.size} {flag}"})
    found = {"variants": best, "startup_seconds": startup, "whole_process": flags,
             "grid": f"{len(variants['grid: shared permutations'][0])} runs: {max(1, seeds // 8)} seeds x 8 "
                     "learning rates", "plain": f"{seeds} seeds"}
    path = out or os.path.join("results", f"perf-levers-{jax.default_backend()}.json")
    write_perf_file(path, {"meta": _meta(workload, None), "levers": found})
    if jax.process_index() == 0:
        _print_levers(best, variants, startup, flags, path,
                      f"levers, {task} {optimizer}, {steps} steps (best of {repeats}, side by side)")
    return found


# XLA:CPU flags a user might try, each timed as a whole process beside the default. None moved it
# beyond its run-to-run spread on the 2-core machine (docs/performance.md);
# --xla_cpu_enable_fast_math would change the numbers, so it is not one.
XLA_FLAG_LEVERS = ("--xla_cpu_multi_thread_eigen=false", "--xla_cpu_prefer_vector_width=512",
                   "--xla_cpu_enable_fast_min_max=true")

APART = "apart"  # a variant's option: its selection seeds' runs and the rest as two programs


def lever_variants(workload: Workload, seeds: int, steps: int, saves: str) -> dict[str, tuple[list, dict]]:
    """name -> (runs, `train_runs` options) of every lever `levers` measures."""
    grid = runner.grid([INIT], list(workload.seeds[:max(1, seeds // 8)]),
                       [workload.lr * factor for factor in (0.25, 0.5, 1, 2, 4, 8, 16, 32)])
    plain = grid_runs(workload, workload.seeds)
    return {
        "grid: shared permutations": (grid, {}),
        "grid: one permutation per run": (grid, {"share_permutations": False}),
        "calls of ~1 s (default)": (plain, {}),
        "calls of ~0.05 s": (plain, {"call_seconds": 0.05}),
        "calls of ~10 s": (plain, {"call_seconds": 10.0}),
        "vmap groups of 2": (plain, {"vmap_width": 2}),
        "vmap groups of 8": (plain, {"vmap_width": 8}),
        "one vmap per device": (plain, {"vmap_width": None}),
        "evaluation once, at the end": (plain, {"eval_every": steps}),
        "failure tracking on (default)": (plain, {}),
        "no loss maxima": (plain, {"watch": runner.Watch(loss_max=False)}),
        "no finite flags": (plain, {"watch": runner.Watch(finite=False)}),
        "no parameter checks": (plain, {"watch": runner.Watch(params=False)}),
        "no failure tracking": (plain, {"watch": runner.Watch(False, False, False)}),
        "phases in one program": (plain, {}),
        "phases apart (two programs: 4 runs, then the rest)": (plain, {APART: True}),
        "saves every 5 s": (plain, {"checkpoint": saves, "checkpoint_seconds": 5.0}),
    }


def time_variants(workload: Workload, mesh, variants: dict, steps: int, repeats: int) -> dict[str, dict]:
    """Each variant's best of `repeats` (interleaved, side by side): run, compile and wall seconds,
    calls, seed-steps per second."""
    import time

    selection = set(workload.seeds[:4])  # as a suite's 4 selection seeds beside its evaluation seeds

    def timed(runs, **options):
        options.setdefault("eval_every", workload.eval_every)
        began = time.perf_counter()
        _, timing = runner.train_runs(workload.task, workload.dataset, workload.spec,
                                      runs, workload.initialized,
                                      steps=steps, batch_size=workload.batch_size, mesh=mesh,
                                      **options)
        return {"run_seconds": timing.run_seconds, "compile_seconds": timing.compile_seconds,
                "calls": timing.calls, "wall_seconds": time.perf_counter() - began}

    def apart(runs, **options):
        first = timed([run for run in runs if run.seed in selection], **options)
        second = timed([run for run in runs if run.seed not in selection], **options)
        return {key: first[key] + second[key] for key in first}

    best: dict[str, dict[str, Any]] = {}
    for _ in range(repeats):
        for name, (runs, options) in variants.items():
            options = dict(options)
            found = apart(runs, **options) if options.pop(APART, False) else timed(runs, **options)
            if name not in best or found["run_seconds"] < best[name]["run_seconds"]:
                best[name] = found
    for name, found in best.items():
        found["seed_steps_per_second"] = len(variants[name][0]) * steps / found["run_seconds"]
    return best


def startup_seconds() -> dict[str, float]:
    """Fresh processes: python alone, the run's modules, and each library's import."""
    import subprocess
    import time

    def fresh(code: str) -> float:
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        return time.perf_counter() - began

    run_modules = ("import bench.cli, bench.suite.execute, bench.runner, bench.records.summary, "
                   "bench.tasks, bench.results.files")
    return {"python": fresh("pass"), "the run's modules": fresh(run_modules),
            **{library: fresh(f"import {library}") for library in
               ("jax", "flax.linen", "optax", "scipy.stats", "sklearn.datasets", "matplotlib.pyplot")}}


def _print_levers(best: dict, variants: dict, startup: dict, flags: dict, path: str, title: str) -> None:
    from rich.table import Table

    from bench.console import output_console

    table = Table(title=title)
    for column in ("variant", "runs", "seed-steps/s", "run s", "calls"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for name, row in best.items():
        table.add_row(name, str(len(variants[name][0])), f"{row['seed_steps_per_second']:,.0f}",
                      f"{row['run_seconds']:.2f}", str(row["calls"]))
    console = output_console()
    console.print(table)
    console.print("start-up, fresh process (s): " + ", ".join(f"{k} {v:.2f}" for k, v in startup.items()))
    console.print("whole process (s): " + ", ".join(
        f"{k} {v.get('wall_seconds', 'failed')}" for k, v in flags.items()))
    console.print(f"results: {path}")


def scaling(task: str = "digits-mlp", optimizer: str = "adam", steps: int = SCALING_STEPS,
            sizes: Sequence[int] = SCALING_RUNS, out: str | None = None) -> dict[str, Any]:
    """Throughput vs number of runs for every strategy; JSON and a log-log PNG."""
    workload = make_workload(task, optimizer, max(sizes), steps)
    matmul = matmul_gflops()
    curves: dict[str, list[tuple[int, float]]] = {}
    notes: list[str] = []
    for size in sizes:
        measurements, notes = run_strategies(workload, size, min(size, 8))
        for m in measurements:
            curves.setdefault(m.strategy, []).append((size, m.seed_steps_per_second))
    path = out or os.path.join("results", f"perf-scaling-{jax.default_backend()}.json")
    png = os.path.splitext(path)[0] + ".png"
    document = {"meta": _meta(workload, matmul), "steps": steps, "sizes": list(sizes),
                "seed_steps_per_second": {k: [v for _, v in pts] for k, pts in curves.items()},
                "runs": {k: [n for n, _ in pts] for k, pts in curves.items()},
                "notes": notes + ["loops over seeds ran min(runs, 8) seeds at each size"],
                "plot": os.path.basename(png)}
    write_perf_file(path, document)
    if jax.process_index() == 0:
        _plot_scaling(curves, png, workload, steps, matmul)
        print(f"results: {path}\nplot: {png}")
        for note in notes:
            print(note)
    return document


def _plot_scaling(curves, png: str, workload: Workload, steps: int, matmul: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.analysis.figures import save_figure

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, points in curves.items():
        axes.plot([n for n, _ in points], [v for _, v in points], marker="o", label=name)
    peak = matmul * 1e9 / workload.flops_per_step
    axes.axhline(peak, color="grey", linestyle="--", linewidth=1,
                 label=f"{MATMUL_SIZE}² matmul rate ({matmul:.0f} GFLOP/s)")
    axes.set(xscale="log", yscale="log", xlabel="runs (seeds) in the program",
             ylabel="seed-steps / s",
             title=f"{workload.task.name}, {workload.optimizer}, batch {workload.batch_size}, "
                   f"{steps} steps, {jax.default_backend()} x{jax.device_count()}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    save_figure(figure, png)


def startup(repeats: int = 3, against: str | None = None, out: str | None = None) -> dict[str, Any]:
    """A small run's whole process, phase by phase and import by import (`perf.startup`)."""
    from bench.tools.perf import startup_phases as measure_startup

    load_before = os.getloadavg()
    found = measure_startup.startup(repeats, against)
    meta = {**_run_meta(), "load_average_before": list(load_before)}
    path = out or os.path.join("results", f"perf-startup-{jax.default_backend()}.json")
    document = {"meta": meta, "startup": found}
    write_perf_file(path, document)
    if jax.process_index() == 0:
        measure_startup.print_startup(found, path)
    return document


CEILING_STEPS = 25  # perf --ceiling: one call of about as many steps as the runner's calls take
RUNNER_RUNG = "the runner (+ its records, orders and a validation)"


def ceiling(task: str = "digits-mlp", runs: int = 256, steps: int = CEILING_STEPS, repeats: int = 5,
            out: str | None = None, optimizer: str = "adam") -> dict[str, Any]:
    """The ceiling of `task`'s step (`bench.tools.perf.dots_ceiling`): each rung of its ladder
    (RUNGS: the matmuls alone, then the biases and ReLUs, the cross-entropy, `optimizer`'s
    update and the batch gather) and last the runner itself (`runner.train_runs`, one call that
    ends in a validation, no test), for `runs` runs, in `repeats` rounds, each in its own
    shuffled order of the rungs (seeded), each rung a call of `steps` steps (after one to
    compile) beside the yardstick matmul timed just before and after it. For each rung: its
    median round (by time), every round, and the median of the rounds' `step_fraction`, the step's FLOPs as perf's rows count them (`step_flops`,
    biases included) over the rung's time against that round's yardstick: the most a row's
    "% matmul" can read with that much of the step's arithmetic. The top-level fields are the
    first rung's (the matmuls alone), as before the ladder."""
    import time

    from bench.errors import UsageError
    from bench.tools.perf import dots_ceiling as ladder
    from bench.tools.perf.lean import resolve_methods

    if resolve_methods(task, optimizer)[1].full_batch:  # checked before anything is compiled
        raise UsageError(f"--ceiling times mini-batch steps; {optimizer} trains on the full batch")
    ladder.runs_per_device(runs, jax.device_count())
    workload = make_workload(task, optimizer, runs, steps, eval_every=steps)
    params = jax.tree_util.tree_map(lambda leaf: leaf[0, 0], workload.initialized.variables["params"])
    chain = ladder.dense_chain(params, math.prod(workload.dataset.x_train.shape[1:]), task)
    width = runner.default_vmap_width(jax.devices()[0].platform)
    dataset = workload.dataset
    data = (np.asarray(dataset.x_train, np.float32).reshape(len(dataset.x_train), -1), dataset.y_train)
    calls, group = {}, None
    for rung, name in enumerate(ladder.RUNGS):
        call, inputs, group = ladder.ceiling_program(chain, runs, workload.batch_size, steps, width, rung,
                                                     workload.spec, data, workload.lr)
        jax.block_until_ready(call(*inputs))  # compiled, and run once
        calls[name] = lambda call=call, inputs=inputs: jax.block_until_ready(call(*inputs))

    compiled = runner.CompiledPrograms()  # one compile for every round's runner

    def the_runner() -> float:
        _, timing = runner.train_runs(workload.task, dataset, workload.spec, grid_runs(workload, workload.seeds),
                                      workload.initialized, steps=steps, batch_size=workload.batch_size,
                                      eval_every=steps, mesh=runs_mesh(), test=False, compiled=compiled)
        return timing.run_seconds

    the_runner()  # compiled, and run once
    dots, counted = ladder.chain_flops(chain, workload.batch_size), workload.flops_per_step

    def timed(name: str) -> float:
        if name == RUNNER_RUNG:
            return the_runner()
        began = time.perf_counter()
        calls[name]()
        return time.perf_counter() - began

    def one_round(name: str) -> dict[str, float]:
        seconds, matmul = around_matmul(lambda: timed(name))
        rate = runs * steps / seconds
        return {"seconds": seconds, "matmul_gflops": matmul, "dots_gflops": rate * dots / 1e9,
                "dots_fraction": rate * dots / 1e9 / matmul, "step_fraction": rate * counted / 1e9 / matmul}

    names = [*ladder.RUNGS, RUNNER_RUNG]
    # each round in its own order: the rungs heat the machine unequally
    rounds = in_rounds({name: (lambda name=name: one_round(name)) for name in names}, repeats, shuffle=0)
    # the yardstick moves between rounds as much as the steps do (117-244 GFLOP/s on one host), so
    # each rung's headline is the median of its rounds' own fractions, as perf's rows give beside theirs
    rungs = [{"rung": name, **lower_median(rounds[name], key=lambda each: each["seconds"]),
              "step_fraction_median_of_rounds": float(np.median([r["step_fraction"] for r in rounds[name]])),
              "rounds": rounds[name]} for name in names]
    for rung in rungs:  # the median round's (the lower one where the rounds are even), as `seconds`
        rung["ms_per_step"] = 1000 * rung["seconds"] / steps
    found = {"chain": chain, "runs": runs, "steps": steps, "group": group, "batch_size": workload.batch_size,
             "optimizer": optimizer, "dots_flops_per_step": dots, "flops_per_step": counted,
             **{key: value for key, value in rungs[0].items() if key != "rung"}, "ladder": rungs}
    path = out or os.path.join("results", f"perf-ceiling-{jax.default_backend()}.json")
    write_perf_file(path, {"meta": _meta(workload, None), "ceiling": found})
    if jax.process_index() == 0:
        _print_ceiling(found, task, path)
    return found


def _print_ceiling(found: dict[str, Any], task: str, path: str) -> None:
    from rich.table import Table

    from bench.console import output_console

    chain = found["chain"]
    widths = " -> ".join(str(size) for size in [chain[0][0]] + [outputs for _, outputs in chain])
    out = Table(title=f"{task} ({widths}), {found['optimizer']}: the step's ceiling, piece by piece; "
                      f"{found['runs']} runs in vmapped groups of {found['group']}, {found['steps']} steps a call",
                caption=f"% matmul: the median of the rounds' shares, each beside its own yardstick\n"
                        f"results: {path}")
    for column in ("rung", "ms a step", "% matmul", "rounds"):
        out.add_column(column, justify="left" if column == "rung" else "right")
    for each in found["ladder"]:
        shares = [{"share": 100 * one["step_fraction"]} for one in each["rounds"]]
        out.add_row(each["rung"], f"{each['ms_per_step']:.1f}",
                    f"{100 * each['step_fraction_median_of_rounds']:.0f}%", f"{_range(shares, 'share')}%")
    output_console().print(out)

"""`python -m bench perf`: the runner's throughput beside the ways one could do without it.

Every strategy does the same work: the task's model, he_normal params from `runner.init_params`,
the optimizer at one learning rate, the data order of `runner.epoch_order`, evaluation every
`eval_every` steps. The JAX strategies all run `runner.make_train`'s functions:

    runner      runner.train_runs, as `python -m bench` calls it (sharded over every device)
    per-seed    one jitted program of one run, compiled once, called seed after seed
    vmap        the runner's program on one device: every seed in one call
    lax.map     jit(lax.map(one run, seeds, batch_size=B)) on one device
    pytorch     an eager loop (torch.optim.Adam, same params and batches), if torch imports

Throughput is seed-steps per second of run time (compile apart). Achieved GFLOP/s counts
6 x batch x parameters per step (forward 2, backward 4) and nothing else, so evaluation,
shuffles and the optimizer are overhead against it; the reference is a jitted 2048x2048 f32
matmul timed after warm-up, one per device at once over every device (how the runner uses them).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from bench import runner
from bench.results.files import atomic_write
from bench.results.provenance import environment

INIT = "he_normal"
MATMUL_SIZE = 2048
LAX_MAP_BATCH = 16
SLOW_SEEDS = 32  # per-seed loop and PyTorch: their throughput does not grow with seeds
SCALING_RUNS = (1, 4, 16, 64, 256, 1024)
SCALING_STEPS = 50


class Setup(NamedTuple):
    task: Any
    dataset: Any
    spec: Any
    optimizer: str
    lr: float
    batch_size: int
    eval_every: int
    steps: int
    initialized: Any  # runner.Initialized: he_normal variables of every seed
    seeds: tuple[int, ...]
    n_params: int


class Measurement(NamedTuple):
    strategy: str
    seeds: int
    steps: int
    compile_seconds: float
    run_seconds: float
    final_loss: np.ndarray  # [seeds]: mean training loss of the last evaluation period
    compiles: int
    note: str = ""

    @property
    def seed_steps_per_second(self) -> float:
        return self.seeds * self.steps / self.run_seconds


def make_setup(task_name: str, optimizer: str, seeds: int, steps: int,
               eval_every: int | None = None) -> Setup:
    from bench.tasks import TASKS, count_params
    from inits import STRATEGIES
    from optimizers import OPTIMIZERS

    task, spec = TASKS[task_name], OPTIMIZERS[optimizer]
    eval_every = eval_every or math.gcd(steps, 25)
    dataset = task.load()
    seed_list = tuple(range(seeds))
    initialized = runner.initialize(task, dataset, {INIT: STRATEGIES[INIT]}, seed_list,
                                    task.batch_size, runner.runs_mesh())
    n_params = count_params(jax.tree_util.tree_map(lambda leaf: leaf[0, 0],
                                                   initialized.variables["params"]))
    return Setup(task, dataset, spec, optimizer, float(spec.learning_rates[0]), task.batch_size,
                 eval_every, steps, initialized, seed_list, n_params)


def _runs(setup: Setup, seeds: Sequence[int]) -> list:
    return runner.grid([INIT], list(seeds), [setup.lr])


def _one_device_program(setup: Setup, vmap_width: int | None) -> "runner.TrainProgram":
    """The runner's program on the first device only, its runs in vmapped groups of `vmap_width`."""
    return runner.TrainProgram(setup.task, setup.dataset, setup.spec, setup.spec.hyperparams,
                               setup.batch_size, runner.runs_mesh(jax.devices()[:1]),
                               vmap_width=vmap_width)


def _timed(program: "runner.TrainProgram", setup: Setup, chunks: Sequence[Sequence]) -> tuple:
    """Compile for the first chunk's size, then train every chunk; (compile s, run s, final losses)."""
    program.compile(chunks[0], setup.initialized)
    began = time.perf_counter()
    outputs = [(len(chunk), program.run(chunk, setup.initialized, steps=setup.steps,
                                        eval_every=setup.eval_every)) for chunk in chunks]
    run_seconds = time.perf_counter() - began
    loss = runner.collect(outputs, setup.steps, setup.eval_every).train_loss[:, -1]
    return program.compile_seconds, run_seconds, loss


TRAIN_PROGRAMS = ("jit(train)",)  # the function name of the training programs


class CompileCounter:
    """Counts XLA compiles by function name (a persistent-cache hit counts too) while active.

    `compiles` counts only the training programs: small eager ops (gathers, key splits) compile
    as well but are not "the program".
    """

    def __init__(self):
        self.by_name: dict[str, int] = {}
        self.cache_hits = 0
        self.active = False
        jax.monitoring.register_event_duration_secs_listener(self._on_duration)
        jax.monitoring.register_event_listener(self._on_event)

    @property
    def compiles(self) -> int:
        return sum(self.by_name.get(name, 0) for name in TRAIN_PROGRAMS)

    def _on_duration(self, event: str, seconds: float, fun_name: str = "", **_):
        if self.active and event == "/jax/core/compile/backend_compile_duration":
            self.by_name[fun_name] = self.by_name.get(fun_name, 0) + 1

    def _on_event(self, event: str, **_):
        if self.active and event == "/jax/compilation_cache/cache_hits":
            self.cache_hits += 1

    def __enter__(self):
        self.by_name, self.cache_hits = {}, 0
        self.active = True
        return self

    def __exit__(self, *exc):
        self.active = False


_COUNTER: CompileCounter | None = None


def compile_counter() -> CompileCounter:
    global _COUNTER
    if _COUNTER is None:
        _COUNTER = CompileCounter()
    return _COUNTER


# ---------------------------------------------------------------------------------------------
# The strategies.


def measure_runner(setup: Setup, seeds: Sequence[int]) -> Measurement:
    """bench.runner exactly as `python -m bench` uses it: sharded over every device."""
    mesh = runner.runs_mesh()
    with compile_counter() as counter:
        output, timing = runner.train_runs(
            setup.task, setup.dataset, setup.spec, setup.spec.hyperparams, _runs(setup, seeds),
            setup.initialized, steps=setup.steps, batch_size=setup.batch_size,
            eval_every=setup.eval_every, mesh=mesh)
    return Measurement("runner", len(seeds), setup.steps, timing.compile_seconds,
                       timing.run_seconds, output.train_loss[:, -1], counter.compiles,
                       f"{mesh.devices.size} devices")


def measure_per_seed(setup: Setup, seeds: Sequence[int]) -> Measurement:
    """The runner's program for one run on one device, compiled once, called seed after seed."""
    with compile_counter() as counter:
        compile_seconds, run_seconds, loss = _timed(
            _one_device_program(setup, None), setup, [[run] for run in _runs(setup, seeds)])
    return Measurement("per-seed loop", len(seeds), setup.steps, compile_seconds, run_seconds,
                       loss, counter.compiles, "1 device, one run per call")


def measure_vmap(setup: Setup, seeds: Sequence[int]) -> Measurement:
    """The runner's program on one device, every seed in one vmap."""
    # vmap_width=None: one vmap over every seed, not the runner's groups (that is the point)
    with compile_counter() as counter:
        compile_seconds, run_seconds, loss = _timed(
            _one_device_program(setup, None), setup, [_runs(setup, seeds)])
    return Measurement("vmap, 1 device", len(seeds), setup.steps, compile_seconds, run_seconds,
                       loss, counter.compiles, "1 device, one vmap")


def measure_lax_map(setup: Setup, seeds: Sequence[int], batch_size: int = LAX_MAP_BATCH
                    ) -> Measurement:
    """The runner's program on one device, its runs in `lax.map` over vmapped batches."""
    width = min(batch_size, len(seeds))
    with compile_counter() as counter:
        compile_seconds, run_seconds, loss = _timed(
            _one_device_program(setup, width), setup, [_runs(setup, seeds)])
    return Measurement(f"lax.map, batch {width}", len(seeds), setup.steps, compile_seconds,
                       run_seconds, loss, counter.compiles, "1 device, lax.map over vmapped batches")


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def measure_torch(setup: Setup, seeds: Sequence[int]) -> Measurement | None:
    """An eager PyTorch loop (torch.optim.Adam) over the same params, batches and evaluation.

    Only for MLP tasks with Adam; None when torch is missing or the pair is not supported.
    """
    if not torch_available() or setup.optimizer != "adam":
        return None
    import torch

    layers = sorted(setup.initialized.variables["params"], key=lambda name: int(name.split("_")[-1]))
    if not all(name.startswith("Dense_") for name in layers):
        return None
    hyper = {"b1": 0.9, "b2": 0.999, "eps": 1e-8, **setup.spec.hyperparams}
    data = {name: torch.from_numpy(np.asarray(getattr(setup.dataset, name)))
            for name in ("x_train", "y_train", "x_val", "y_val")}
    data["y_train"], data["y_val"] = data["y_train"].long(), data["y_val"].long()
    n_train = setup.dataset.x_train.shape[0]
    steps_per_epoch = n_train // setup.batch_size
    n_epochs = math.ceil(setup.steps / steps_per_epoch)
    orders_of = jax.jit(jax.vmap(lambda key, epoch: runner.epoch_order(key, epoch, n_train),
                                 (None, 0)))
    inputs = []
    for seed in seeds:
        weights = [[torch.tensor(np.asarray(setup.initialized.variables["params"][name][leaf][0, seed]),
                                 requires_grad=True)
                    for leaf in ("kernel", "bias")] for name in layers]
        orders = torch.from_numpy(np.array(orders_of(runner.seed_keys(seed)[1],
                                                       jnp.arange(n_epochs))))
        inputs.append((weights, orders))

    def forward(weights, x):
        for i, (kernel, bias) in enumerate(weights):
            x = torch.addmm(bias, x, kernel)
            if i < len(weights) - 1:
                x = torch.relu(x)
        return x

    def train_one(weights, orders, steps):
        flat = [w for layer in weights for w in layer]
        optimizer = torch.optim.Adam(flat, lr=setup.lr, betas=(hyper["b1"], hyper["b2"]),
                                     eps=hyper["eps"])
        period = []
        last_period = []
        for step in range(steps):
            index = orders[step // steps_per_epoch][(step % steps_per_epoch) * setup.batch_size:
                                                    (step % steps_per_epoch + 1) * setup.batch_size]
            loss = torch.nn.functional.cross_entropy(forward(weights, data["x_train"][index]),
                                                     data["y_train"][index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            period.append(loss.detach())
            if (step + 1) % setup.eval_every == 0:
                with torch.no_grad():
                    (forward(weights, data["x_val"]).argmax(-1) == data["y_val"]).float().mean()
                last_period, period = period, []
        return float(torch.stack(last_period).mean()) if last_period else float("nan")

    # Warm-up (first-call costs), and the faster thread count: with more than one thread,
    # OpenMP's spinning workers collapse on a loaded machine (10-40 steps/s against 330-380 for
    # one thread at load 3 on the 2-core machine); these matmuls are too small to split anyway.
    def timed_warm_up():
        warm = [[w.detach().clone().requires_grad_() for w in layer] for layer in inputs[0][0]]
        began = time.perf_counter()
        train_one(warm, inputs[0][1], min(setup.steps, 2 * setup.eval_every))
        return time.perf_counter() - began

    threads = {}
    for count in sorted({1, torch.get_num_threads()}):
        torch.set_num_threads(count)
        timed_warm_up()
        threads[count] = timed_warm_up()
    torch.set_num_threads(min(threads, key=threads.get))
    losses = []
    began = time.perf_counter()
    for weights, orders in inputs:
        losses.append(train_one(weights, orders, setup.steps))
    run_seconds = time.perf_counter() - began
    return Measurement("pytorch eager", len(seeds), setup.steps, 0.0, run_seconds,
                       np.asarray(losses), 0, f"torch {torch.__version__}, "
                       f"{torch.get_num_threads()} threads")


# ---------------------------------------------------------------------------------------------
# The reference rate, the table, the files.


def matmul_gflops(size: int = MATMUL_SIZE, repeats: int = 10) -> float:
    """A jitted size x size f32 matmul, one per device at once over every device; GFLOP/s."""
    mesh = runner.runs_mesh()
    n = mesh.devices.size
    sharding = runner._sharded(mesh)
    a = jax.device_put(jax.random.normal(jax.random.key(0), (n, size, size), jnp.float32), sharding)
    b = jax.device_put(jax.random.normal(jax.random.key(1), (n, size, size), jnp.float32), sharding)
    matmul = jax.jit(lambda a, b: a @ b, out_shardings=sharding)
    jax.block_until_ready(matmul(a, b))
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        jax.block_until_ready(matmul(a, b))
        times.append(time.perf_counter() - began)
    return n * 2 * size ** 3 / float(np.median(times)) / 1e9


def process_seconds() -> float | None:
    """Seconds since this process started (Linux), i.e. start-up and imports so far."""
    try:
        with open("/proc/self/stat") as stat:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as uptime:
            up = float(uptime.read().split()[0])
        return up - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def whole_process(setup: Setup, seeds: int) -> dict[str, Any]:
    """`python -m bench run` for the same work in a fresh process with an empty compile cache."""
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "run.json")
        command = [sys.executable, "-m", "bench", "run", "--task", setup.task.name,
                   "--optimizers", setup.optimizer, "--inits", INIT, "--seeds", str(seeds),
                   "--lrs", repr(setup.lr), "--steps", str(setup.steps), "--eval-every",
                   str(setup.eval_every), "--no-plots", "--quiet", "--out", out]
        env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": os.path.join(folder, "cache")}
        began = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - began
        if done.returncode != 0:
            return {"command": " ".join(command[1:]), "error": done.stderr[-2000:]}
        program = json.load(open(out))["meta"]["programs"][0]
    return {"command": "python " + " ".join(command[1:-2]), "wall_seconds": round(wall, 3),
            "seed_steps_per_second": seeds * setup.steps / wall,
            "compile_seconds": program["compile_seconds"], "run_seconds": program["run_seconds"]}


def rows(measurements: Sequence[Measurement], setup: Setup, matmul: float) -> list[dict[str, Any]]:
    flops_per_step = 6 * setup.batch_size * setup.n_params
    base = next(m for m in measurements if m.strategy == "per-seed loop").seed_steps_per_second
    reference = next(m for m in measurements if m.strategy == "per-seed loop")
    table = []
    for m in measurements:
        rate = m.seed_steps_per_second
        shared = min(len(m.final_loss), len(reference.final_loss))
        table.append({
            "strategy": m.strategy, "seeds": m.seeds, "steps": m.steps,
            "seed_steps_per_second": rate, "vs_per_seed_loop": rate / base,
            "compile_seconds": m.compile_seconds, "run_seconds": m.run_seconds,
            "compiles": m.compiles, "gflops": rate * flops_per_step / 1e9,
            "matmul_fraction": rate * flops_per_step / 1e9 / matmul,
            "final_loss_max_abs_diff_vs_per_seed": float(np.max(np.abs(
                m.final_loss[:shared] - reference.final_loss[:shared]))),
            "note": m.note})
    return table


def run_strategies(setup: Setup, seeds: int, slow_seeds: int,
                   include_torch: bool = True) -> tuple[list[Measurement], list[str]]:
    notes = []
    fast, slow = setup.seeds[:seeds], setup.seeds[:min(slow_seeds, seeds)]
    measurements = [measure_per_seed(setup, slow), measure_runner(setup, fast),
                    measure_vmap(setup, fast), measure_lax_map(setup, fast)]
    if include_torch:
        if not torch_available():
            notes.append("PyTorch row skipped: torch is not installed "
                         "(CPU: pip install torch==2.13.0; or the `peers` extra)")
        else:
            torch_row = measure_torch(setup, slow)
            if torch_row is None:
                notes.append("PyTorch row skipped: only MLP tasks with adam are mirrored")
            else:
                measurements.append(torch_row)
    return measurements, notes


def _print_table(table, caption: str, title: str) -> None:
    from rich.table import Table

    from bench.console import output_console

    out = Table(title=title, caption=caption)
    for column in ("strategy", "seeds", "seed-steps/s", "x per-seed", "compile s", "run s",
                   "GFLOP/s", "% matmul", "compiles"):
        out.add_column(column, justify="left" if column == "strategy" else "right")
    for row in table:
        out.add_row(row["strategy"], str(row["seeds"]), f"{row['seed_steps_per_second']:,.0f}",
                    f"{row['vs_per_seed_loop']:.2f}", f"{row['compile_seconds']:.2f}",
                    f"{row['run_seconds']:.2f}", f"{row['gflops']:.1f}",
                    f"{100 * row['matmul_fraction']:.0f}%", str(row["compiles"]))
    output_console().print(out)


def _meta(setup: Setup, matmul: float) -> dict[str, Any]:
    return {**environment(), "command": "python -m bench " + " ".join(sys.argv[2:] if
                                                                        sys.argv[1:2] == ["perf"] else sys.argv[1:]),
            "argv": list(sys.argv), "load_average": list(os.getloadavg()),
            "cpu_count": os.cpu_count(), "task": setup.task.name, "optimizer": setup.optimizer,
            "lr": setup.lr, "init": INIT, "batch_size": setup.batch_size,
            "eval_every": setup.eval_every, "parameters": setup.n_params,
            "flops_per_step": 6 * setup.batch_size * setup.n_params,
            "matmul": {"what": f"jitted {MATMUL_SIZE}x{MATMUL_SIZE} f32 matmul, one per device, "
                               f"all {jax.device_count()} devices at once, median of 10 after warm-up",
                       "gflops": matmul}}


def _write(path: str, document: dict[str, Any]) -> None:
    if jax.process_index() != 0:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, json.dumps(document, indent=2, default=float) + "\n")


def perf(task: str = "digits-mlp", optimizer: str = "adam", seeds: int = 256, steps: int = 500,
         out: str | None = None) -> dict[str, Any]:
    ready = process_seconds()
    setup = make_setup(task, optimizer, seeds, steps)
    matmul = matmul_gflops()
    measurements, notes = run_strategies(setup, seeds, SLOW_SEEDS)
    table = rows(measurements, setup, matmul)
    process = whole_process(setup, seeds)
    per_seed = next(r for r in table if r["strategy"] == "per-seed loop")
    # The per-seed loop as a whole process: the same start-up, its compile, its run at its rate.
    per_seed_wall = ((ready or 0.0) + per_seed["compile_seconds"]
                     + seeds * steps / per_seed["seed_steps_per_second"])
    torch_row = next((r for r in table if r["strategy"] == "pytorch eager"), None)
    whole = {"runner_process": process, "startup_seconds": ready,
             "per_seed_loop_estimated_wall_seconds": per_seed_wall}
    if "wall_seconds" in process:
        whole["runner_vs_per_seed_loop"] = per_seed_wall / process["wall_seconds"]
        if torch_row:
            whole["runner_vs_pytorch"] = (process["seed_steps_per_second"]
                                          / torch_row["seed_steps_per_second"])
    caption = (f"{task}, {optimizer} lr {setup.lr:g}, {INIT}, batch {setup.batch_size}, {steps} steps, "
               f"eval every {setup.eval_every}; seed-steps/s = seeds x steps / run s (compile "
               f"apart); GFLOP/s = seed-steps/s x 6 x batch x {setup.n_params:,} params; "
               f"% of a {MATMUL_SIZE}^2 f32 matmul at {matmul:.0f} GFLOP/s over "
               f"{jax.device_count()} devices; per-seed loop and PyTorch ran "
               f"{min(SLOW_SEEDS, seeds)} seeds")
    path = out or os.path.join("results", f"perf-{jax.default_backend()}.json")
    document = {"meta": _meta(setup, matmul), "caption": caption, "rows": table,
                "whole_process": whole, "notes": notes}
    _write(path, document)
    if jax.process_index() == 0:
        _print_table(table, caption, f"python -m bench perf ({jax.default_backend()}, "
                                     f"load {os.getloadavg()[0]:.2f})")
        for note in notes:
            print(note)
        if "wall_seconds" in process:
            print(f"whole process, {seeds} seeds x {steps} steps, cold compile cache: "
                  f"{process['wall_seconds']:.1f} s ({process['seed_steps_per_second']:,.0f} "
                  f"seed-steps/s), {whole['runner_vs_per_seed_loop']:.2f}x the per-seed loop's "
                  f"{per_seed_wall:.1f} s")
        else:
            print(f"whole-process run failed: {process.get('error')}")
        print(f"results: {path}")
    return document


def scaling(task: str = "digits-mlp", optimizer: str = "adam", steps: int = SCALING_STEPS,
            sizes: Sequence[int] = SCALING_RUNS, out: str | None = None
            ) -> dict[str, Any]:
    """Throughput vs number of runs for every strategy; JSON and a log-log PNG."""
    setup = make_setup(task, optimizer, max(sizes), steps)
    matmul = matmul_gflops()
    curves: dict[str, list[tuple[int, float]]] = {}
    notes: list[str] = []
    for size in sizes:
        measurements, notes = run_strategies(setup, size, min(size, 8))
        for m in measurements:
            name = m.strategy.split(",")[0] if m.strategy.startswith("lax.map") else m.strategy
            curves.setdefault(name, []).append((size, m.seed_steps_per_second))
    path = out or os.path.join("results", f"perf-scaling-{jax.default_backend()}.json")
    png = os.path.splitext(path)[0] + ".png"
    document = {"meta": _meta(setup, matmul), "steps": steps, "sizes": list(sizes),
                "seed_steps_per_second": {k: [v for _, v in pts] for k, pts in curves.items()},
                "runs": {k: [n for n, _ in pts] for k, pts in curves.items()},
                "notes": notes + ["per-seed loop and PyTorch ran min(runs, 8) seeds at each size"],
                "plot": os.path.basename(png)}
    _write(path, document)
    if jax.process_index() == 0:
        _plot_scaling(curves, png, setup, steps, matmul)
        print(f"results: {path}\nplot: {png}")
        for note in notes:
            print(note)
    return document


def _plot_scaling(curves, png: str, setup: Setup, steps: int, matmul: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, points in curves.items():
        axes.plot([n for n, _ in points], [v for _, v in points], marker="o", label=name)
    peak = matmul * 1e9 / (6 * setup.batch_size * setup.n_params)
    axes.axhline(peak, color="grey", linestyle="--", linewidth=1,
                 label=f"{MATMUL_SIZE}² matmul rate ({matmul:.0f} GFLOP/s)")
    axes.set(xscale="log", yscale="log", xlabel="runs (seeds) in the program",
             ylabel="seed-steps / s",
             title=f"{setup.task.name}, {setup.optimizer}, batch {setup.batch_size}, {steps} steps, "
                   f"{jax.default_backend()} x{jax.device_count()}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(png, dpi=120)
    plt.close(figure)

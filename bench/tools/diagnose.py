"""`python -m bench diagnose`: signal propagation at initialization, layer by layer.

Why initialization matters, measured at step 0: for each init strategy, on the first training
batch the runner would train on, and from exactly the params the runner would train from
(`bench.runner.init_params`, `post_init` included), record for every Dense and Conv layer in
forward order:

    preactivation_std   std of the layer's output (before its nonlinearity), over every entry
                        of the batch (examples, positions, features): what is plotted and judged
    postactivation_std  std of what the layer hands on: the next layer's input (after the ReLU,
                        and any pooling in between); for the last layer, the model's output
    grad_norm           Frobenius norm of d(loss)/d(kernel) on that batch

each as a mean over seeds. The layers are found by intercepting `__call__` of every Dense/Conv
(`nn.intercept_methods`), so any task's model works without hooks.

Verdict, on the pre-activation std of the hidden layers (every layer but the read-out), ratio =
std(last hidden) / std(first hidden): "dead" when either is exactly 0, "explodes" when either is
not finite or ratio > 1e2, "vanishes" when ratio < 1e-2, "stable" otherwise.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bench.tasks import Task, apply_model, cross_entropy, shape_model
from inits.data_dependent import RESCALED_LAYERS as LAYER_TYPES
from inits.data_dependent import find_layers as find_model_layers
from bench.records.values import finite_or_none_within
from inits.data_dependent import get_at, is_layer_call
from inits.strategy import Strategy
VANISH_BELOW = 1e-2
EXPLODE_ABOVE = 1e2
QUANTITIES = ("preactivation_std", "postactivation_std", "grad_norm")


# ---------------------------------------------------------------------------------------------
# Measuring


def find_layers(model: nn.Module, variables, x) -> list[tuple[tuple[str, ...], str]]:
    """(path in params, "Dense" or "Conv") of every layer, in order of first call. Shapes only.

    The same walk LSUV makes (`inits.data_dependent.find_layers`), so both see the same layers.
    `variables` is {"params": ..., and any other collection} or the bare params.
    """
    kind = lambda layer: next(t.__name__ for t in LAYER_TYPES if isinstance(layer, t))
    variables = variables if "params" in variables else {"params": variables}
    return [(path, kind(layer)) for path, layer in find_model_layers(model, variables, x)]


def _scaled_std(values: jax.Array) -> jax.Array:
    """std, computed on values divided by their largest magnitude: exploding nets stay finite."""
    values = values.astype(jnp.float32)
    scale = jnp.max(jnp.abs(values))
    safe = jnp.where(scale > 0, scale, 1.0)
    return scale * jnp.std(values / safe)


def _scaled_norm(values: jax.Array) -> jax.Array:
    values = values.astype(jnp.float32)
    scale = jnp.max(jnp.abs(values))
    safe = jnp.where(scale > 0, scale, 1.0)
    return scale * jnp.sqrt(jnp.sum(jnp.square(values / safe)))


def _trace(model: nn.Module, paths: Sequence[tuple[str, ...]], params, model_state, x, y):
    """[3, n_layers]: pre-activation std, post-activation std, gradient norm of one (params, batch).

    The model runs as in the runner's first training step (BatchNorm on batch statistics)."""

    def loss_and_stats(params):
        seen: dict[tuple[str, ...], tuple[jax.Array, jax.Array]] = {}

        def capture(next_fun, args, kwargs, context):
            output = next_fun(*args, **kwargs)
            if is_layer_call(context):
                seen.setdefault(tuple(context.module.scope.path), (args[0], output))
            return output

        with nn.intercept_methods(capture):
            logits, _ = apply_model(model, params, model_state, x, train=True)
        pre = jnp.stack([_scaled_std(seen[path][1]) for path in paths])
        handed_on = [seen[path][0] for path in paths[1:]] + [logits]
        post = jnp.stack([_scaled_std(value) for value in handed_on])
        return cross_entropy(logits, y), (pre, post)

    (_, (pre, post)), grads = jax.value_and_grad(loss_and_stats, has_aux=True)(params)
    grad_norm = jnp.stack([_scaled_norm(get_at(grads, path)["kernel"]) for path in paths])
    return jnp.stack([pre, post, grad_norm])


def signal_propagation(task: Task | str, strategies: dict[str, Strategy], seeds: Sequence[int],
                       batch_size: int | None = None) -> dict[str, Any]:
    """Per init strategy and layer: activation stds and kernel-gradient norms at step 0.

    Params are the runner's (`init_params`: same keys, same `post_init` on the same batch), and
    the batch is the first one the runner trains on for each seed. Returns, with plain floats
    (inf/nan where a net overflowed)::

        {"task", "batch_size", "seeds", "layers": [{"index", "path", "kind", "role"}],
         "inits": {name: {"preactivation_std": [mean per layer], "postactivation_std": [...],
                          "grad_norm": [...], "per_seed": {quantity: [[seed][layer]]},
                          "ratio", "gain_per_layer", "verdict"}}}
    """
    from bench import runner
    from bench.sharding import runs_mesh
    from bench.tasks import TASKS

    task = TASKS[task] if isinstance(task, str) else task
    batch_size = batch_size or task.batch_size
    seeds = [int(seed) for seed in seeds]
    dataset = task.load()
    variables = runner.initialize(task, dataset, strategies, seeds, batch_size, runs_mesh()).variables
    params = variables["params"]
    state = {name: value for name, value in variables.items() if name != "params"}

    model = shape_model(task)
    x_train, y_train = jnp.asarray(dataset.x_train), jnp.asarray(dataset.y_train)
    n_train = x_train.shape[0]
    one_run_variables = jax.tree_util.tree_map(lambda leaf: leaf[0, 0], variables)
    layers = find_layers(model, one_run_variables, x_train[:batch_size])
    paths = [path for path, _ in layers]

    def one_run(run_params, run_state, seed, x_train, y_train):
        # The runner's step-0 batch: the first `batch_size` of epoch 0's order, from the seed.
        _, data_key = runner.seed_keys(seed)
        index = runner.first_batch_index(data_key, n_train, batch_size)
        return _trace(model, paths, run_params, run_state, x_train[index], y_train[index])


    # One flat runs axis (strategy-major, as the runner's), not vmap over vmap: the Conv kernel
    # gradient under two vmaps raised NotImplementedError (jax 0.10.2, CPU).
    n_strategies, n_seeds = len(strategies), len(seeds)
    flatten = lambda tree: jax.tree_util.tree_map(
        lambda leaf: leaf.reshape((n_strategies * n_seeds, *leaf.shape[2:])), tree)
    flat_seeds = jnp.tile(jnp.asarray(seeds, jnp.uint32), n_strategies)
    program = jax.jit(jax.vmap(one_run, (0, 0, 0, None, None)))
    traces = np.asarray(jax.device_get(program(flatten(params), flatten(state), flat_seeds, x_train,
                                               y_train)), np.float64)
    traces = traces.reshape((n_strategies, n_seeds, *traces.shape[1:]))  # [strategy, seed, quantity, layer]

    n_layers = len(layers)
    hidden = list(range(max(n_layers - 1, 1)))
    results = {
        "task": task.name, "batch_size": batch_size, "seeds": seeds,
        "layers": [{"index": i + 1, "path": "/".join(path), "kind": kind,
                    "role": "read-out" if i == n_layers - 1 and n_layers > 1 else "hidden"}
                   for i, (path, kind) in enumerate(layers)],
        "inits": {},
    }
    for name, trace in zip(strategies, traces):
        means = trace.mean(axis=0)  # non-finite in any seed -> non-finite mean: it overflowed
        entry = {quantity: means[q].tolist() for q, quantity in enumerate(QUANTITIES)}
        entry["per_seed"] = {quantity: trace[:, q].tolist() for q, quantity in enumerate(QUANTITIES)}
        entry.update(judge(means[0], hidden))
        results["inits"][name] = entry
    return results


def judge(preactivation_std: Sequence[float], hidden: Sequence[int]) -> dict[str, Any]:
    """{"ratio", "gain_per_layer", "verdict"} from the stds of the first and last hidden layers."""
    first, last = float(preactivation_std[hidden[0]]), float(preactivation_std[hidden[-1]])
    steps = len(hidden) - 1
    if not (math.isfinite(first) and math.isfinite(last)):
        return {"ratio": None, "gain_per_layer": None, "verdict": "explodes"}
    if first == 0 or last == 0:
        return {"ratio": None, "gain_per_layer": None, "verdict": "dead"}
    ratio = last / first
    gain = ratio ** (1 / steps) if steps else 1.0
    verdict = "vanishes" if ratio < VANISH_BELOW else "explodes" if ratio > EXPLODE_ABOVE else "stable"
    return {"ratio": ratio, "gain_per_layer": gain, "verdict": verdict}


def representative_layers(n_layers: int) -> list[int]:
    """1-based layer numbers for the table: all of a shallow net; 1, every k-th and the last of a deep one."""
    if n_layers <= 6:
        return list(range(1, n_layers + 1))
    step = 5 * math.ceil(n_layers / 25)
    return sorted({1, *range(step, n_layers, step), n_layers})


# ---------------------------------------------------------------------------------------------
# Reporting


def _sci(value) -> str:
    if value is None:
        return "—"
    value = float(value)
    if value == 0:
        return "0"
    return f"{value:.1e}" if math.isfinite(value) else str(value)


VERDICT_STYLE = {"stable": "green", "vanishes": "yellow", "explodes": "red", "dead": "magenta"}


def headline(results: dict) -> str:
    return (f"diagnose {results['task']}: signal propagation at initialization, mean over "
            f"{len(results['seeds'])} seeds (0..{len(results['seeds']) - 1}), on each seed's first "
            f"training batch of {results['batch_size']} and the params the runner trains from")


def verdict_rule(results: dict) -> str:
    layers = results["layers"]
    last_hidden = len(layers) - 1 if layers[-1]["role"] == "read-out" else len(layers)
    readout = f"L{len(layers)} is the read-out; " if last_hidden < len(layers) else ""
    gain = f"; gain/layer = that ratio^(1/{last_hidden - 1})" if last_hidden > 2 else ""
    return (f"{readout}verdict from std(L{last_hidden}) / std(L1): < {VANISH_BELOW:g} vanishes, "
            f"> {EXPLODE_ABOVE:g} explodes, 0 dead, else stable{gain}")


def tables(results: dict) -> list:
    """Two rich tables: pre-activation std (with the verdict), and kernel-gradient norms."""
    from rich.table import Table

    layers = results["layers"]
    shown = representative_layers(len(layers))
    activations = Table(title="Pre-activation std (Dense/Conv output) by layer", title_justify="left")
    gradients = Table(title="Gradient norm ||d loss / d kernel|| by layer",
                      title_justify="left")
    for table in (activations, gradients):
        table.add_column("init", no_wrap=True)
        for layer in shown:
            table.add_column(f"L{layer}", justify="right", no_wrap=True)
    activations.add_column("gain/layer", justify="right", no_wrap=True)
    activations.add_column("verdict", no_wrap=True)
    for name, entry in results["inits"].items():
        style = VERDICT_STYLE[entry["verdict"]]
        activations.add_row(name, *(_sci(entry["preactivation_std"][i - 1]) for i in shown),
                            "—" if entry["gain_per_layer"] is None else f"{entry['gain_per_layer']:.2f}",
                            f"[{style}]{entry['verdict']}[/{style}]")
        gradients.add_row(name, *(_sci(entry["grad_norm"][i - 1]) for i in shown))
    return [activations, gradients]


def plot(results: dict, path: str) -> None:
    """Two panels, log y vs layer: pre-activation std and gradient norm, one line per init."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.analysis.figures import init_style, save_figure

    depth = np.arange(1, len(results["layers"]) + 1)
    names = list(results["inits"])
    figure, panels = plt.subplots(1, 2, figsize=(13, 4.8))
    quantities = (("preactivation_std", "pre-activation std (Dense/Conv output)"),
                  ("grad_norm", "||d loss / d kernel|| (Frobenius)"))
    for axes, (quantity, label) in zip(panels, quantities):
        for name in names:
            entry = results["inits"][name]
            values = np.asarray(entry[quantity], dtype=float)
            drawable = np.isfinite(values) & (values > 0)
            note = "" if drawable.all() else f" ({_undrawable(values)}: not drawn)"
            style = init_style(name)  # each init's colour and marker, as in every figure
            axes.plot(depth, np.where(drawable, values, np.nan), marker=style["marker"], markersize=3,
                      linewidth=1.6, color=style["color"], linestyle=style["linestyle"],
                      label=f"{name}: {entry['verdict']}{note}")
        axes.set_yscale("log")
        axes.set_xlabel("layer (forward order; the last is the read-out)")
        axes.set_ylabel(label)
        axes.set_xticks(depth if len(depth) <= 25 else representative_layers(len(depth)))
        axes.grid(alpha=0.3, which="both")
    panels[0].axhline(1.0, color="grey", linestyle=":", linewidth=1)
    panels[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.suptitle(f"Signal propagation at initialization (step 0)\n{results['task']}: mean over "
                    f"{len(results['seeds'])} seeds, first training batch of {results['batch_size']}")
    save_figure(figure, path)


def _undrawable(values: np.ndarray) -> str:
    """Why some points of a log-scale line are missing."""
    reasons = []
    if (values == 0).any():
        reasons.append("0 at every layer" if (values == 0).all() else "0 at some layers")
    if (~np.isfinite(values)).any():
        reasons.append("overflow")
    return ", ".join(reasons)


def json_path(plot_path: str) -> str:
    return os.path.splitext(plot_path)[0] + ".json"


def to_json(results: dict) -> str:
    """The results with provenance; non-finite numbers (overflow) written as null."""
    from bench.results.provenance import environment, git_revision, utc_now

    document = {
        "meta": {"command": "diagnose", "created": utc_now(), "git_revision": git_revision(),
                 **environment(),
                 "definitions": {
                     "preactivation_std": "std of each Dense/Conv output over the batch, before the nonlinearity",
                     "postactivation_std": "std of what each layer hands on: the next layer's input; the model output for the last",
                     "grad_norm": "Frobenius norm of d(cross-entropy)/d(kernel) on the batch",
                     "verdict": f"ratio = preactivation_std(last hidden) / preactivation_std(first hidden): "
                                f"< {VANISH_BELOW:g} vanishes, > {EXPLODE_ABOVE:g} or non-finite explodes, "
                                f"exactly 0 dead, else stable"}},
        **finite_or_none_within(results),  # an overflowed net's numbers as null
    }
    return json.dumps(document, indent=1, allow_nan=False) + "\n"


def diagnose(task: Task, strategies: dict[str, Strategy], seeds: Sequence[int], out: str) -> dict[str, Any]:
    """Measure, print the two tables, and write the plot at `out` and its JSON beside it."""
    from bench.console import output_console
    from bench.results.files import atomic_write

    results = signal_propagation(task, strategies, seeds)
    console = output_console()
    console.print(headline(results), highlight=False)
    activations, gradients = tables(results)
    console.print(activations)
    console.print(verdict_rule(results), highlight=False)
    console.print(gradients)
    plot(results, out)
    atomic_write(json_path(out), to_json(results))
    console.print(f"wrote {out} and {json_path(out)}", highlight=False)
    return results

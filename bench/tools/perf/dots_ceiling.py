"""The ceiling of an MLP's training step on this host (`python -m bench perf --ceiling`).

perf's rows give each strategy's rate as a share of a 2048² f32 matmul ("% matmul"). A step of
a small MLP is small matmuls ([128, 64] x [64, 128] per run, on digits-mlp), which a CPU's
kernels run further below that yardstick on some hosts than on others (AVX-512 speeds the large
matmul more than the small ones), and the step's other arithmetic (its activations, its loss,
its optimizer's update, its batch) costs more or less beside them. The ceiling is a ladder of
steps, each rung one more piece of a real step (RUNGS): first the matmuls alone (every layer's
forward dot, its backward dot and its weight gradient: no activation, optimizer or data
gather), then the biases and ReLUs, the cross-entropy on labels, the optimizer's update (the
runner's own `make_optimizer`) and last the batch gathered from the training set at each step.
Every rung is laid out as the runner lays out its runs (sharded over the devices, vmapped
groups of `runner.default_vmap_width`, a loop of steps inside one call, on CPU the small weight
gradients one run at a time as `bench.dots` computes them), without the runner's records,
orders or evaluation. The share of the yardstick a rung reaches is the most a step of that much
arithmetic can read on the host; the last rung's is the most the runner's row can.
"""
from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import optax

from bench.counting import largest_divisor_at_most
from bench.dots import unbatch_small_dots
from bench.errors import UsageError
from bench.runner import UNBATCH_SMALL_DOTS, make_optimizer, map_in_groups
from bench.sharding import replicated, runs_mesh, runs_sharding


def dense_chain(params: Any, features: int, task: str) -> list[tuple[int, int]]:
    """The (inputs, outputs) of every layer's 2-D kernel, chained from the data's `features`:
    the model's matmuls. A weight of any other rank (a convolution's kernel, an embedding's
    table) or kernels that do not chain: UsageError naming `task`."""
    kernels = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        name = jax.tree_util.keystr(path)
        if leaf.ndim > 2 or (leaf.ndim == 2 and not name.endswith("['kernel']")):
            raise UsageError(f"--ceiling measures a chain of dense layers; {task}'s weight {name} "
                             f"has shape {tuple(leaf.shape)}")
        if leaf.ndim == 2:
            kernels.append(tuple(int(size) for size in leaf.shape))
    chain, width = [], features
    while kernels:
        following = next((kernel for kernel in kernels if kernel[0] == width), None)
        if following is None:
            raise UsageError(f"--ceiling measures a chain of dense layers; {task}'s kernels "
                             f"{kernels} do not follow from {width} features")
        kernels.remove(following)
        chain.append(following)
        width = following[1]
    if not chain:
        raise UsageError(f"--ceiling measures a chain of dense layers; {task} has no dense kernel")
    return chain


def chain_flops(chain: Sequence[tuple[int, int]], batch_size: int) -> int:
    """FLOPs of one step's matmuls for one run: forward 2, backward 4 per weight and example."""
    return 6 * batch_size * sum(inputs * outputs for inputs, outputs in chain)


def forward(kernels: Sequence[jax.Array], x: jax.Array) -> jax.Array:
    """The linear chain: `x` through every kernel, no bias, no activation."""
    for kernel in kernels:
        x = x @ kernel
    return x


def runs_per_device(runs: int, devices: int) -> int:
    """`runs` split evenly over `devices`; a UsageError where they do not."""
    if runs % devices:
        raise UsageError(f"--ceiling: {runs} runs do not split evenly over {devices} devices")
    return runs // devices


# the ladder's rungs, each one more piece of the step than the one before (`rung_step`)
RUNGS = ("matmuls alone", "+ biases and ReLU", "+ cross-entropy", "+ the optimizer's update",
         "+ the batch gathered at each step")
BIASES, CROSS_ENTROPY, OPTIMIZER, GATHER = range(1, len(RUNGS))


def rung_loss(rung: int, params: dict[str, list], x: jax.Array, y: jax.Array) -> jax.Array:
    """One run's loss at `rung`: the linear chain's 0.5 |out|² below BIASES (so that its
    gradients by autodiff are the matmuls alone, each layer's weight gradient and, for every
    layer but the first, its input's gradient, in the forms they take in a model's step, where
    `bench.dots` finds them), with the biases and a ReLU after every layer but the last from
    BIASES, and from CROSS_ENTROPY the mean cross-entropy of the labels `y` (the runner's
    default loss, `bench.tasks.cross_entropy`)."""
    from bench.tasks import cross_entropy

    if rung < BIASES:
        out = forward(params["kernels"], x)
    else:
        out, last = x, len(params["kernels"]) - 1
        for layer, (kernel, bias) in enumerate(zip(params["kernels"], params["biases"])):
            out = out @ kernel + bias
            out = jax.nn.relu(out) if layer < last else out
    return cross_entropy(out, y) if rung >= CROSS_ENTROPY else 0.5 * jnp.sum(out ** 2)


def rung_step(rung: int, spec: Any, batch_size: int):
    """step(i, state, inputs, x_train, y_train) -> state: one run's i-th step at `rung` of
    RUNGS. `state`: {"params": {"kernels", "biases"}, "opt_state"}; `inputs`: the run's fixed
    batch "x", "y", its "order" of the training set (a permutation), its "start" in it and its
    "learning_rate". Below OPTIMIZER the parameters move by 1e-6 of their gradient (so no step
    can be skipped); from OPTIMIZER by `spec`'s optimizer at the run's learning rate, built as
    the runner builds it (`runner.make_optimizer`); from GATHER each step's batch is the run's
    next `batch_size` examples in its order, gathered from the training set, as the runner's
    are from its orders."""

    def step(i, state, inputs, x_train, y_train):
        if rung >= GATHER:
            position = (inputs["start"] + i * batch_size + jnp.arange(batch_size)) % x_train.shape[0]
            index = inputs["order"][position]  # the run's shuffled order, as the runner's orders
            x, y = x_train[index], y_train[index]
        else:
            x, y = inputs["x"], inputs["y"]
        params = state["params"]
        grads = jax.grad(lambda params: rung_loss(rung, params, x, y))(params)
        if rung < OPTIMIZER:
            return {"params": jax.tree_util.tree_map(lambda p, g: p - 1e-6 * g, params, grads),
                    "opt_state": state["opt_state"]}
        updates, opt_state = make_optimizer(spec, {"learning_rate": inputs["learning_rate"]}).update(
            grads, state["opt_state"], params)
        return {"params": optax.apply_updates(params, updates), "opt_state": opt_state}

    return step


def ceiling_program(chain: Sequence[tuple[int, int]], runs: int, batch_size: int, steps: int,
                    width: int | None, rung: int = 0, spec: Any = None, data: Any = None,
                    learning_rate: float | Sequence[float] = 1e-3):
    """A rung's call and its inputs: `runs` runs' parameters and batches, sharded over every
    device, and a jitted function that takes `steps` steps of `rung_step` in vmapped groups of
    `width` runs on each device, by the runner's own `map_in_groups`: the groups one after the
    other, each group's slice of the state trained through every step and written back in
    place. Returns (call, (state, inputs, x_train, y_train), group); `call` returns the new
    state. `data`: (x_train [examples, features], y_train), random normal features and labels
    when None; `spec`: the optimizer (from OPTIMIZER), at `learning_rate` (one for every run,
    or each run's). `runs` must divide evenly over the devices."""
    if rung >= OPTIMIZER and spec is None:
        raise ValueError(f"rung {RUNGS[rung]!r} needs an optimizer spec")
    mesh = runs_mesh()
    local = runs_per_device(runs, mesh.devices.size)
    group = local if width is None else largest_divisor_at_most(local, width)
    sharding = runs_sharding(mesh)
    keys = jax.random.split(jax.random.key(0), len(chain) + 4)
    if data is None:
        data = (jax.random.normal(keys[-1], (max(4 * batch_size, 1), chain[0][0])),
                jax.random.randint(keys[-2], (max(4 * batch_size, 1),), 0, chain[-1][1]))
    x_train, y_train = data
    x_train, y_train = jnp.asarray(x_train, jnp.float32), jnp.asarray(y_train, jnp.int32)
    n_train = x_train.shape[0]
    start = jax.random.randint(keys[-3], (runs,), 0, n_train)
    order = jax.vmap(lambda key: jax.random.permutation(key, n_train))(jax.random.split(keys[-4], runs))
    first = jnp.take_along_axis(order, (start[:, None] + jnp.arange(batch_size)) % n_train, axis=1)
    params = {"kernels": [0.1 * jax.random.normal(key, (runs, *shape)) for key, shape in zip(keys, chain)],
              "biases": [jnp.zeros((runs, outputs)) for _, outputs in chain] if rung >= BIASES else []}
    learning_rates = jnp.broadcast_to(jnp.asarray(learning_rate, jnp.float32), (runs,))
    opt_state = (jax.vmap(lambda params, lr: make_optimizer(spec, {"learning_rate": lr}).init(params))(
        params, learning_rates) if rung >= OPTIMIZER else ())
    inputs = {"x": x_train[first], "y": y_train[first], "order": order.astype(jnp.int32), "start": start,
              "learning_rate": learning_rates}
    state = jax.device_put({"params": params, "opt_state": opt_state}, sharding)
    inputs = jax.device_put(inputs, sharding)
    x_train, y_train = (jax.device_put(array, replicated(mesh)) for array in (x_train, y_train))

    one_group = jax.vmap(rung_step(rung, spec, batch_size), (None, 0, 0, None, None))
    if mesh.devices.flat[0].platform in UNBATCH_SMALL_DOTS:  # as the runner's step (`bench.dots`)
        one_group = unbatch_small_dots(one_group)

    def group_steps(state, inputs, x_train, y_train):  # the runner's call without its records
        return jax.lax.fori_loop(0, steps, lambda i, state: one_group(i, state, inputs, x_train, y_train),
                                 state), ()

    local_steps = lambda state, inputs, x_train, y_train: map_in_groups(group_steps, width)(
        state, inputs, x_train, y_train)[0]
    spec_runs, spec_all = sharding.spec, jax.sharding.PartitionSpec()
    call = jax.jit(jax.shard_map(local_steps, mesh=mesh, in_specs=(spec_runs, spec_runs, spec_all, spec_all),
                                 out_specs=spec_runs, check_vma=False))
    return call, (state, inputs, x_train, y_train), group

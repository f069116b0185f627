"""The matmul ceiling of an MLP's training step on this host (`python -m bench perf --ceiling`).

perf's rows give each strategy's rate as a share of a 2048² f32 matmul ("% matmul"). A step of
a small MLP is small matmuls ([128, 64] x [64, 128] per run, on digits-mlp), which a CPU's
kernels run further below that yardstick on some hosts than on others (AVX-512 speeds the large
matmul more than the small ones). The ceiling is the step's matmuls alone: every layer's
forward dot, its backward dot and its weight gradient, no activation, no optimizer, no data
gather, laid out as the runner lays out its runs (sharded over the devices, vmapped groups of
`runner.default_vmap_width`, a loop of steps inside one call, on CPU the small weight
gradients one run at a time as `bench.dots` computes them). The share of the yardstick it
reaches is the most any strategy's "% matmul" can read on the host.
"""
from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp

from bench.counting import largest_divisor_at_most
from bench.dots import unbatch_small_dots
from bench.errors import UsageError
from bench.runner import UNBATCH_SMALL_DOTS, map_in_groups
from bench.sharding import runs_mesh, runs_sharding


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


def weight_gradients(kernels: Sequence[jax.Array], x: jax.Array) -> list[jax.Array]:
    """One run's step on the linear chain `kernels`, loss 0.5 |y|²: forward, then by autodiff
    (so the backward dots take the forms they take in a model's step, and `bench.dots` finds
    them) each layer's weight gradient and, below the first layer, its input's gradient."""
    return jax.grad(lambda kernels: 0.5 * jnp.sum(forward(kernels, x) ** 2))(list(kernels))


def ceiling_program(chain: Sequence[tuple[int, int]], runs: int, batch_size: int, steps: int,
                    width: int | None):
    """The ceiling's call and its inputs: `runs` runs' kernels and batches, sharded over every
    device, and a jitted function that takes `steps` steps of `weight_gradients` (each run's
    kernels moved by them, so no step can be skipped), in vmapped groups of `width` runs on
    each device, by the runner's own `map_in_groups`: the groups one after the other, each
    group's slice of the kernels trained through every step and written back in place. `runs`
    must divide evenly over the devices."""
    mesh = runs_mesh()
    devices = mesh.devices.size
    if runs % devices:
        raise UsageError(f"--ceiling: {runs} runs do not split evenly over {devices} devices")
    local = runs // devices
    group = local if width is None else largest_divisor_at_most(local, width)
    sharding = runs_sharding(mesh)
    keys = jax.random.split(jax.random.key(0), len(chain) + 1)
    kernels = [jax.device_put(0.1 * jax.random.normal(key, (runs, *shape)), sharding)
               for key, shape in zip(keys, chain)]
    x = jax.device_put(jax.random.normal(keys[-1], (runs, batch_size, chain[0][0])), sharding)

    def one_run(kernels, x):
        return [kernel - 1e-6 * grad for kernel, grad in zip(kernels, weight_gradients(kernels, x))]

    one_group = jax.vmap(one_run)
    if mesh.devices.flat[0].platform in UNBATCH_SMALL_DOTS:  # as the runner's step (`bench.dots`)
        one_group = unbatch_small_dots(one_group)

    def group_steps(kernels, x):  # a group's steps, no metrics: the runner's call without its records
        return jax.lax.fori_loop(0, steps, lambda _, kernels: one_group(kernels, x), kernels), ()

    local_steps = lambda kernels, x: map_in_groups(group_steps, width)(kernels, x)[0]
    spec = sharding.spec
    call = jax.jit(jax.shard_map(local_steps, mesh=mesh, in_specs=([spec] * len(chain), spec),
                                 out_specs=[spec] * len(chain), check_vma=False))
    return call, (kernels, x), group

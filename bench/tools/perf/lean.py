"""The loop a JAX user would write to train many seeds, perf's baseline.

    @jax.jit
    def lean_train(seed, data):          # init and every step in one program
        init_key, data_key = split(key(seed))
        params = model.init(init_key, ...); opt_state = optax_optimizer.init(params)
        lax.scan over `steps` steps: a batch drawn with replacement, a gradient, an update
    for seed in seeds: lean_train(seed, data)   # seeds in a Python loop

with optax's own optimizer (the twin of ours), he_normal kernels and zero biases, no
evaluation (or, with `eval_every`, the validation accuracy every `eval_every` steps, the
suite's schedule). `lean_train_vmap` is the same function under `jax.vmap` over all seeds in
one call, the second thing a JAX user would try. Batches drawn with replacement mean other
batches than the runner's (which permutes each epoch), so final losses agree in distribution,
not seed by seed.

`python -m bench.tools.perf.lean --task T --optimizer O --lr LR --seeds N --steps S` runs it as a
user's script, in a process of its own, and prints its timings as JSON (perf's whole-process
baseline).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax


def make_lean_train(task, dataset, spec, lr: float, batch_size: int, steps: int,
                    eval_every: int | None = None, last_steps: int | None = None,
                    hyperparams: dict | None = None):
    """lean_train(seed, data) -> mean training loss of the last `eval_every` steps (without
    evaluation: of the last `last_steps`, default 25, so both variants report the same thing).
    `hyperparams` (Python floats, as a user passes them to optax) replace the spec's."""
    from bench.tasks import accuracy, cross_entropy

    model = task.make_model(jax.nn.initializers.he_normal(), jax.nn.initializers.zeros)
    optimizer = spec.optax_reference(learning_rate=lr, **{**spec.hyperparams, **(hyperparams or {})})
    n_train = dataset.x_train.shape[0]
    last = eval_every or last_steps or min(25, steps)

    def lean_train(seed, data):
        init_key, data_key = jax.random.split(jax.random.key(seed))
        variables = model.init(init_key, data["x_train"][:1])
        params = variables["params"]
        state = {name: value for name, value in variables.items() if name != "params"}

        def loss_fn(params, state, x, y):
            if not state:
                return cross_entropy(model.apply({"params": params}, x), y), state
            # a BatchNorm model: batch statistics in training, its running averages updated
            logits, state = model.apply({"params": params, **state}, x, train=True, mutable=list(state))
            return cross_entropy(logits, y), dict(state)

        def step(carry, key):
            params, state, opt_state = carry
            index_key, augment_key = jax.random.split(key)
            index = jax.random.randint(index_key, (batch_size,), 0, n_train)
            x = data["x_train"][index]
            if task.augment is not None:
                x = task.augment(augment_key, x)
            (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                params, state, x, data["y_train"][index])
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), state, opt_state), loss

        def evaluate(params, state):
            variables = {"params": params, **state}
            logits = model.apply(variables, data["x_val"], train=False) if state else model.apply(
                variables, data["x_val"])
            return accuracy(logits, data["y_val"])

        keys = jax.random.split(data_key, steps)
        carry = (params, state, optimizer.init(params))
        if eval_every is None:
            _, losses = jax.lax.scan(step, carry, keys)
            return jnp.mean(losses[-last:])

        def period(carry, period_keys):
            carry, losses = jax.lax.scan(step, carry, period_keys)
            return carry, (jnp.mean(losses), evaluate(carry[0], carry[1]))

        _, (losses, _) = jax.lax.scan(period, carry, keys.reshape((steps // eval_every, eval_every)))
        return losses[-1]

    return lean_train


def device_data(dataset) -> dict:
    return {name: jnp.asarray(getattr(dataset, name)) for name in ("x_train", "y_train", "x_val", "y_val")}


def run_loop(lean_train, seeds, data) -> tuple[float, float, np.ndarray]:
    """(compile seconds, run seconds, final losses) of the per-seed loop."""
    program = jax.jit(lean_train)
    began = time.perf_counter()
    compiled = program.lower(jnp.uint32(seeds[0]), data).compile()
    compile_seconds = time.perf_counter() - began
    began = time.perf_counter()
    losses = [float(compiled(jnp.uint32(seed), data)) for seed in seeds]  # float(): waits
    return compile_seconds, time.perf_counter() - began, np.asarray(losses)


def run_vmap(lean_train, seeds, data) -> tuple[float, float, np.ndarray]:
    """(compile seconds, run seconds, final losses) of one vmap over every seed."""

    def lean_train_vmap(seeds, data):
        return jax.vmap(lean_train, (0, None))(seeds, data)

    seeds = jnp.asarray(seeds, jnp.uint32)
    began = time.perf_counter()
    compiled = jax.jit(lean_train_vmap).lower(seeds, data).compile()
    compile_seconds = time.perf_counter() - began
    began = time.perf_counter()
    losses = np.asarray(compiled(seeds, data))
    return compile_seconds, time.perf_counter() - began, losses


def resolve_methods(task: str, optimizer: str):
    """(Task, OptimizerSpec) of names or a user's own (PATH.py:NAME, ...); a user optimizer,
    which has no optax twin, is its own lean baseline."""
    from bench import plugins
    from bench.tasks import TASKS
    from optimizers import OPTIMIZERS

    resolved_task = plugins.resolve("task", task, TASKS).obj
    spec = plugins.resolve("optimizer", optimizer, OPTIMIZERS).obj
    if spec.optax_reference is None:
        spec = spec._replace(optax_reference=spec.factory)
    return resolved_task, spec


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tools.perf.lean",
                                     description="the lean per-seed loop, timed as a whole script")
    parser.add_argument("--task", default="digits-mlp")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seeds", type=int, default=256)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--eval-every", type=int)
    args = parser.parse_args(argv)
    task, spec = resolve_methods(args.task, args.optimizer)
    dataset = task.load()
    lean_train = make_lean_train(task, dataset, spec, args.lr, task.batch_size, args.steps,
                                 args.eval_every)
    compile_seconds, run_seconds, losses = run_loop(lean_train, list(range(args.seeds)),
                                                    device_data(dataset))
    print(json.dumps({"compile_seconds": round(compile_seconds, 3),
                      "run_seconds": round(run_seconds, 3), "devices": jax.device_count(),
                      "final_loss_mean": float(np.mean(losses))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

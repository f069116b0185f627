"""What a PyTorch user would run instead, on the same params and the same batches as the runner
(so the final losses agree seed by seed, within float rounding):

    pytorch eager     one model after the other, torch.optim.Adam, a Python loop of steps
    torch.func        every seed at once: torch.func's model-ensembling recipe
                      (stack_module_state + vmap + functional_call), the stacked parameters
                      trained by one torch.optim.Adam (elementwise, so exactly per-model Adam,
                      the loss summed over models so no gradient mixes), with torch.compile
                      when a warm-up says it pays

Only MLP tasks with Adam are mirrored; torch is optional (`pip install -e '.[peers]'`, or on
CPU the local wheel `pip install torch==2.13.0`).
"""
from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bench import runner


class PeerRun(NamedTuple):
    run_seconds: float
    final_loss: np.ndarray
    note: str


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def mirrored(workload) -> str | None:
    """Why the workload cannot be mirrored in PyTorch, or None when it can."""
    if not torch_available():
        return "torch is not installed (CPU: pip install torch==2.13.0; or the `peers` extra)"
    if workload.optimizer != "adam":
        return "only adam is mirrored in PyTorch"
    layers = workload.initialized.variables["params"]
    if not all(name.startswith("Dense_") for name in layers):
        return "only MLP tasks are mirrored in PyTorch"
    return None


def _inputs(workload, seeds):
    """Per seed: [(kernel, bias) tensors per layer], and the runner's batch order per epoch."""
    import torch

    params = workload.initialized.variables["params"]
    layers = sorted(params, key=lambda name: int(name.split("_")[-1]))
    n_train = workload.dataset.x_train.shape[0]
    steps_per_epoch = n_train // workload.batch_size
    n_epochs = math.ceil(workload.steps / steps_per_epoch)
    orders_of = jax.jit(jax.vmap(lambda key, epoch: runner.epoch_order(key, epoch, n_train), (None, 0)))
    found = []
    for seed in seeds:
        weights = [tuple(torch.tensor(np.asarray(params[name][part][0, seed])) for part in ("kernel", "bias"))
                   for name in layers]
        orders = np.asarray(orders_of(runner.seed_keys(seed)[1], jnp.arange(n_epochs)))
        found.append((weights, orders))
    return found


def _batch_index(orders, step: int, steps_per_epoch: int, batch: int):
    epoch, offset = divmod(step, steps_per_epoch)
    return orders[epoch][offset * batch:(offset + 1) * batch]


def _hyper(workload) -> dict[str, Any]:
    return {"b1": 0.9, "b2": 0.999, "eps": 1e-8, **workload.spec.hyperparams}


def _fastest_threads(warm_up) -> int:
    """The faster of 1 thread and torch's default: with more than one, OpenMP's spinning workers
    collapse on a loaded machine (10-40 steps/s against 330-380 for one thread at load 3 on the
    2-core machine), and these matmuls are too small to split anyway."""
    import torch

    times = {}
    for count in sorted({1, torch.get_num_threads()}):
        torch.set_num_threads(count)
        warm_up()
        began = time.perf_counter()
        warm_up()
        times[count] = time.perf_counter() - began
    best = min(times, key=times.get)
    torch.set_num_threads(best)
    return best


def eager(workload, seeds) -> PeerRun:
    """One model after the other: the PyTorch loop most users write."""
    import torch

    data = {name: torch.from_numpy(np.asarray(getattr(workload.dataset, name)))
            for name in ("x_train", "y_train", "x_val", "y_val")}
    data["y_train"], data["y_val"] = data["y_train"].long(), data["y_val"].long()
    steps_per_epoch = workload.dataset.x_train.shape[0] // workload.batch_size
    hyper = _hyper(workload)
    inputs = _inputs(workload, seeds)

    def forward(weights, x):
        for i, (kernel, bias) in enumerate(weights):
            x = torch.addmm(bias, x, kernel)
            if i < len(weights) - 1:
                x = torch.relu(x)
        return x

    def train_one(weights, orders, steps):
        weights = [tuple(w.clone().requires_grad_() for w in layer) for layer in weights]
        optimizer = torch.optim.Adam([w for layer in weights for w in layer], lr=workload.lr,
                                     betas=(hyper["b1"], hyper["b2"]), eps=hyper["eps"])
        period, last_period = [], []
        for step in range(steps):
            index = torch.from_numpy(_batch_index(orders, step, steps_per_epoch, workload.batch_size))
            loss = torch.nn.functional.cross_entropy(forward(weights, data["x_train"][index]),
                                                     data["y_train"][index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            period.append(loss.detach())
            if (step + 1) % workload.eval_every == 0:
                with torch.no_grad():
                    (forward(weights, data["x_val"]).argmax(-1) == data["y_val"]).float().mean()
                last_period, period = period, []
        return float(torch.stack(last_period).mean()) if last_period else float("nan")

    threads = _fastest_threads(lambda: train_one(inputs[0][0], inputs[0][1],
                                                 min(workload.steps, 2 * workload.eval_every)))
    began = time.perf_counter()
    losses = [train_one(weights, orders, workload.steps) for weights, orders in inputs]
    return PeerRun(time.perf_counter() - began, np.asarray(losses),
                   f"torch {torch.__version__}, {threads} thread(s)")


def ensemble(workload, seeds) -> PeerRun:
    """Every seed at once with torch.func (stack_module_state + vmap + functional_call)."""
    import copy

    import torch
    from torch.func import functional_call, stack_module_state, vmap

    data = {name: torch.from_numpy(np.asarray(getattr(workload.dataset, name)))
            for name in ("x_train", "y_train", "x_val", "y_val")}
    steps_per_epoch = workload.dataset.x_train.shape[0] // workload.batch_size
    hyper = _hyper(workload)
    inputs = _inputs(workload, seeds)

    def module(weights):
        layers = []
        for i, (kernel, bias) in enumerate(weights):
            linear = torch.nn.Linear(*kernel.shape)
            with torch.no_grad():
                linear.weight.copy_(kernel.T)
                linear.bias.copy_(bias)
            layers.append(linear)
            if i < len(weights) - 1:
                layers.append(torch.nn.ReLU())
        return torch.nn.Sequential(*layers)

    models = [module(weights) for weights, _ in inputs]
    base = copy.deepcopy(models[0]).to("meta")
    orders = np.stack([o for _, o in inputs])  # [models, epochs, n_train]

    def forward(params, x):
        return functional_call(base, params, (x,))

    def losses_of(params, x, y):
        logits = vmap(forward)(params, x)  # [models, batch, classes]
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none").reshape(y.shape).mean(1)

    def train(step_fn, steps):
        params, _ = stack_module_state(models)
        params = {name: value.detach().clone().requires_grad_() for name, value in params.items()}
        optimizer = torch.optim.Adam(list(params.values()), lr=workload.lr,
                                     betas=(hyper["b1"], hyper["b2"]), eps=hyper["eps"])
        period, last_period = [], []
        for step in range(steps):
            epoch, offset = divmod(step, steps_per_epoch)
            index = torch.from_numpy(orders[:, epoch, offset * workload.batch_size:
                                            (offset + 1) * workload.batch_size].astype(np.int64))
            per_model = step_fn(params, data["x_train"][index], data["y_train"][index].long())
            optimizer.zero_grad(set_to_none=True)
            per_model.sum().backward()
            optimizer.step()
            period.append(per_model.detach())
            if (step + 1) % workload.eval_every == 0:
                with torch.no_grad():
                    logits = vmap(forward, (0, None))(params, data["x_val"])
                    (logits.argmax(-1) == data["y_val"].long()).float().mean(1)
                last_period, period = period, []
        return torch.stack(last_period).mean(0).numpy() if last_period else np.full(len(models), np.nan)

    warm_steps = min(workload.steps, 2 * workload.eval_every)
    threads = _fastest_threads(lambda: train(losses_of, warm_steps))
    step_fn, how = losses_of, "eager"
    try:  # torch.compile where it pays: the faster of the two warm-ups
        compiled = torch.compile(losses_of)
        train(compiled, warm_steps)
        began = time.perf_counter()
        train(compiled, warm_steps)
        compiled_seconds = time.perf_counter() - began
        began = time.perf_counter()
        train(losses_of, warm_steps)
        if compiled_seconds < time.perf_counter() - began:
            step_fn, how = compiled, "torch.compile"
    except Exception as error:  # noqa: BLE001 - compile support varies by platform; eager still runs
        how = f"eager (torch.compile failed: {type(error).__name__})"
    began = time.perf_counter()
    losses = train(step_fn, workload.steps)
    return PeerRun(time.perf_counter() - began, np.asarray(losses),
                   f"torch {torch.__version__}, {threads} thread(s), {how}")

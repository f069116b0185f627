"""The trap: on CPU, jit(vmap(init)) of a deep orthogonally initialized net hung forever.

Cause and cure in `inits/orthogonal_kernels.py`. The check runs in a subprocess with its own
XLA_FLAGS (the runner splits the host into 2 devices), so a hang is a failed test, not a hung
pytest. A hang under the cure would be a real bug, so the timeout is generous for a shared host.
"""
import os
import subprocess
import sys
import textwrap

import pytest

LAYERS, WIDTH, SEEDS = 24, 64, 8
SCRIPT = textwrap.dedent(f"""
    import flax.linen as nn, jax, jax.numpy as jnp, numpy as np
    import inits

    class Deep(nn.Module):
        kernel_init: object = inits.orthogonal()

        @nn.compact
        def __call__(self, x):
            for _ in range({LAYERS}):
                x = jnp.tanh(nn.Dense({WIDTH}, kernel_init=self.kernel_init)(x))
            return x

    model = Deep()
    keys = jax.random.split(jax.random.key(0), {SEEDS})
    params = jax.jit(jax.vmap(lambda key: model.init(key, jnp.ones((1, {WIDTH})))))(keys)["params"]
    kernels = jax.tree.leaves(params)[1::2]
    assert len(kernels) == {LAYERS} and kernels[0].shape == ({SEEDS}, {WIDTH}, {WIDTH})
    # Same bits as the built-in for one seed. Unbatched, its QRs run inline and cannot hang.
    builtin = Deep(jax.nn.initializers.orthogonal()).init(keys[3], jnp.ones((1, {WIDTH})))["params"]
    assert all(np.array_equal(np.asarray(ours[3]), np.asarray(theirs))
               for ours, theirs in zip(jax.tree.leaves(params), jax.tree.leaves(builtin)))
    print("ok", jax.device_count())
""")
TIMEOUT_S = 240


def _run(xla_flags: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XLA_FLAGS": xla_flags, "JAX_PLATFORMS": "cpu"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=root, capture_output=True, text=True,
                          timeout=TIMEOUT_S)


@pytest.mark.timeout(2 * TIMEOUT_S + 30)
def test_deep_orthogonal_net_initializes_under_jit_vmap_on_split_host():
    try:
        result = _run("--xla_force_host_platform_device_count=2")
    except subprocess.TimeoutExpired:
        pytest.fail(f"jit(vmap(init)) of a {LAYERS}-layer orthogonal net for {SEEDS} seeds hung > {TIMEOUT_S}s")
    assert result.returncode == 0 and result.stdout.startswith("ok 2"), result.stderr[-2000:]

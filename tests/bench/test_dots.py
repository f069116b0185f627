"""bench.dots: the small weight-gradient dots of a vmapped program, one run at a time, with the
same bits."""
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from bench.dots import unbatch_small_dots


def _loss(params, x, y):
    hidden = jax.nn.relu(x @ params["w1"])
    logits = hidden @ params["w2"]
    return jnp.mean((logits - y) ** 2)


def _runs(n_runs=4, batch=32, features=40, width=48, out=10):
    keys = jax.random.split(jax.random.key(0), 4)
    params = {"w1": jax.random.normal(keys[0], (n_runs, features, width)),
              "w2": jax.random.normal(keys[1], (n_runs, width, out))}
    x = jax.random.normal(keys[2], (n_runs, batch, features))
    y = jax.random.normal(keys[3], (n_runs, batch, out))
    return params, x, y


def _dots(closed) -> int:
    """dot_general equations in a jaxpr and the jaxprs inside it."""
    count = 0
    for eqn in closed.jaxpr.eqns:
        count += eqn.primitive is lax.dot_general_p
        for value in eqn.params.values():
            for sub in (value if type(value) is tuple else (value,)):
                if isinstance(sub, jax.extend.core.ClosedJaxpr):
                    count += _dots(sub)
    return count


def test_the_small_weight_gradient_is_one_dot_per_run_with_the_same_bits():
    grads = jax.vmap(jax.grad(_loss))
    params, x, y = _runs()
    unbatched = unbatch_small_dots(grads)
    # w2's gradient (48 x 10: a free dimension under 32) becomes 4 dots; w1's (40 x 48) stays one
    assert _dots(jax.make_jaxpr(unbatched)(params, x, y)) == _dots(jax.make_jaxpr(grads)(params, x, y)) + 3
    expected, found = jax.jit(grads)(params, x, y), jax.jit(unbatched)(params, x, y)
    for name in ("w1", "w2"):
        assert np.array_equal(np.asarray(expected[name]), np.asarray(found[name])), name


def test_dots_inside_a_loop_are_rewritten_too_and_other_programs_pass_through():
    def train(params, x, y):
        step = lambda i, p: jax.tree_util.tree_map(lambda w, g: w - 0.1 * g, p,
                                                   jax.grad(_loss)(p, x, y))
        return lax.fori_loop(0, 3, step, params)

    params, x, y = _runs()
    batched = jax.vmap(train)
    unbatched = unbatch_small_dots(batched)
    assert _dots(jax.make_jaxpr(unbatched)(params, x, y)) > _dots(jax.make_jaxpr(batched)(params, x, y))
    expected, found = jax.jit(batched)(params, x, y), jax.jit(unbatched)(params, x, y)
    for name in ("w1", "w2"):
        assert np.array_equal(np.asarray(expected[name]), np.asarray(found[name])), name
    wide = _runs(out=64)  # no free dimension under 32: nothing to rewrite
    grads = jax.vmap(jax.grad(_loss))
    assert _dots(jax.make_jaxpr(unbatch_small_dots(grads))(*wide)) == _dots(jax.make_jaxpr(grads)(*wide))
    expected, found = jax.jit(grads)(*wide), jax.jit(unbatch_small_dots(grads))(*wide)
    for name in ("w1", "w2"):
        assert np.array_equal(np.asarray(expected[name]), np.asarray(found[name])), name


def test_contractions_over_more_examples_than_were_checked_stay_batched():
    from bench.dots import MAX_CONTRACTION

    grads = jax.vmap(jax.grad(_loss))
    checked, beyond = _runs(batch=MAX_CONTRACTION), _runs(batch=MAX_CONTRACTION + 1)
    assert _dots(jax.make_jaxpr(unbatch_small_dots(grads))(*checked)) == _dots(jax.make_jaxpr(grads)(*checked)) + 3
    assert _dots(jax.make_jaxpr(unbatch_small_dots(grads))(*beyond)) == _dots(jax.make_jaxpr(grads)(*beyond))

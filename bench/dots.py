"""A pass over a traced program that computes XLA:CPU's slowest batched dot one run at a time.

Under `jax.vmap` over a group of runs, a dense layer's weight gradient is a batched dot that
contracts over the examples axis: `h^T dy` of each run, [runs, batch, in] x [runs, batch, out]
-> [runs, in, out]. XLA:CPU computes it slowly where `out` (or `in`) is small: digits-mlp's
output layer (out = 10 classes) ran at about 15 GFLOP/s, 7% of a step for 1.3% of its FLOPs
(docs/performance.md, "Why not 2x"). The same dot, one unbatched dot per run, ran 3x faster,
and a step of Adam on 256 runs went from 34.8 to 32.8 ms (medians of 6 calls, interleaved),
with the same bits where checked: digits-mlp, digits-deep, digits-cnn, spirals and the four
MNIST-1D tasks on their own batches (the image tasks' data is not on the development machine),
and the default suite, program by program; on digits-mlp, 26 of the 27 built-in optimizers (8
runs, 30 steps, against the program without the pass). That is checked, not promised: XLA:CPU
rounded full-batch gradient descent's (1,257 examples) differently, so contractions over more
than MAX_CONTRACTION examples keep the batched dot; and LARS on digits-mlp comes out rounded
differently (3e-7 of the loss after 30 steps; why is not known, its layer-wise norms of the
gradient reduced in another order being a guess), so the runner applies the pass to every
program on CPU, never by size (`runner.UNBATCH_SMALL_DOTS`).

`unbatch_small_dots(fun)` traces `fun` to a jaxpr (`jax.make_jaxpr`) and evaluates it with
every such dot replaced by one dot per run, stacked; the jaxprs inside loops, conditionals and
calls are rewritten alike. A jaxpr interpreter of the kind JAX's documentation describes
("Writing custom Jaxpr interpreters"): it changes how a dot is split, not the arithmetic each
run asks for, though XLA:CPU may round the pieces differently (above).
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable

import jax
from jax import lax
from jax.extend import core

SMALL = 32  # a free dimension under this makes the batched dot slow on XLA:CPU
# contractions over at most this many examples: the batches where the same bits were checked
# (the tasks with local data, the default suite program by program); full-batch descent on
# digits-mlp (1,257 examples) came out rounded differently, so it keeps the batched dot
MAX_CONTRACTION = 128


def _is_small_weight_gradient(eqn) -> bool:
    """A batched dot over the runs axis (0) that contracts the examples axis (1) of two rank-3
    operands, one of whose free dimensions is small."""
    if eqn.primitive is not lax.dot_general_p:
        return False
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = eqn.params["dimension_numbers"]
    lhs, rhs = (var.aval for var in eqn.invars)
    return (tuple(lhs_batch) == (0,) and tuple(rhs_batch) == (0,)
            and tuple(lhs_contract) == (1,) and tuple(rhs_contract) == (1,)
            and len(lhs.shape) == 3 and len(rhs.shape) == 3
            and lhs.shape[1] <= MAX_CONTRACTION and min(lhs.shape[2], rhs.shape[2]) < SMALL)


def _sub_jaxprs(value) -> list:
    if isinstance(value, core.ClosedJaxpr):
        return [value.jaxpr]
    if isinstance(value, core.Jaxpr):
        return [value]
    if type(value) in (tuple, list):
        return [jaxpr for item in value for jaxpr in _sub_jaxprs(item)]
    return []


def _contains(jaxpr) -> bool:
    """Whether `jaxpr`, or a jaxpr inside one of its equations, holds such a dot."""
    return any(_is_small_weight_gradient(eqn)
               or any(_contains(sub) for value in eqn.params.values() for sub in _sub_jaxprs(value))
               for eqn in jaxpr.eqns)


def _rewritten(value):
    """A parameter with every closed jaxpr that holds such a dot rewritten (open jaxprs, and
    closed ones without one, as they are)."""
    if isinstance(value, core.ClosedJaxpr) and _contains(value.jaxpr):
        avals = [jax.ShapeDtypeStruct(aval.shape, aval.dtype, weak_type=getattr(aval, "weak_type", False))
                 for aval in value.in_avals]
        return jax.make_jaxpr(partial(_evaluate, value.jaxpr, value.consts))(*avals)
    if type(value) is tuple:  # a cond's branches (a NamedTuple parameter stays as it is)
        return tuple(_rewritten(item) for item in value)
    return value


def _per_run_dot(eqn, lhs, rhs):
    params = dict(eqn.params, dimension_numbers=(((0,), (0,)), ((), ())))
    params["out_sharding"] = None  # each run's dot inside the group's (never sharded there)
    return jax.numpy.stack([lax.dot_general_p.bind(lhs[i], rhs[i], **params)
                            for i in range(lhs.shape[0])])


def _evaluate(jaxpr, consts, *args):
    env: dict[Any, Any] = {}

    def read(var):
        return var.val if isinstance(var, core.Literal) else env[var]

    for var, value in zip(jaxpr.constvars, consts):
        env[var] = value
    for var, value in zip(jaxpr.invars, args):
        env[var] = value
    for eqn in jaxpr.eqns:
        inputs = [read(var) for var in eqn.invars]
        if _is_small_weight_gradient(eqn):
            outputs = [_per_run_dot(eqn, *inputs)]
        else:
            params = {name: _rewritten(value) for name, value in eqn.params.items()}
            with eqn.ctx.manager:  # as jax.core.eval_jaxpr binds an equation
                outputs = eqn.primitive.bind(*inputs, **eqn.primitive.get_bind_params(params))
            if not eqn.primitive.multiple_results:
                outputs = [outputs]
        for var, value in zip(eqn.outvars, outputs):
            if not isinstance(var, core.DropVar):
                env[var] = value
    return [read(var) for var in jaxpr.outvars]


def unbatch_small_dots(fun: Callable) -> Callable:
    """`fun`, with every batched weight-gradient dot whose free dimension is small computed
    one run at a time (see the module's docstring). `fun` is traced once: a program without
    such a dot is its jaxpr evaluated as it is."""

    def unbatched(*args):
        closed, shapes = jax.make_jaxpr(fun, return_shape=True)(*args)
        outputs = _evaluate(closed.jaxpr, closed.consts, *jax.tree_util.tree_leaves(args))
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(shapes), outputs)

    return unbatched

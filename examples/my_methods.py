"""Your own methods, as `python -m bench` takes them: `examples/my_methods.py:heavy_ball`.

An optimizer is any callable `f(learning_rate, **hyperparameters) -> optax.GradientTransformation`:
its numeric keyword defaults are its hyperparameters, traced per run like the built-ins'. An
initializer is any Flax initializer `(key, shape, dtype) -> Array` (kernels; biases start at zero).
Both below are twins of built-ins, so they must give the built-ins' numbers seed for seed:
`heavy_ball` of `momentum` (optax.sgd with momentum 0.9), `he_twin` of `he_normal`.
"""
import jax
import optax


def heavy_ball(learning_rate, momentum=0.9):
    """Heavy-ball momentum (Polyak 1964): v <- momentum v + g; w <- w - lr v."""
    return optax.sgd(learning_rate, momentum=momentum)


he_twin = jax.nn.initializers.he_normal()

"""Hand-written Optax transformations and the registry of named optimizers."""
from optimizers.spec import OptimizerSpec

OPTIMIZERS: dict[str, OptimizerSpec] = {}

"""Hand-written Flax initializers and the registry of named init strategies."""
from inits.strategy import Strategy

STRATEGIES: dict[str, Strategy] = {}

"""Tools beside the benchmark: `verify` (the hand-written pieces against their twins),
`diagnose` (signal propagation at init) and `perf` (the runner's speed against its peers)."""

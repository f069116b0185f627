"""What to run and running it: suites and the validated `Config` (`config`), the quasi-random
search `tune` draws its candidates from (`search`), and the run of a suite from config to
results file (`execute`; the per-run records and per-cell summaries it writes are
`bench.records`)."""

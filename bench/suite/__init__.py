"""What to run and running it: suites and the validated `Config` (`config`), the run of a suite
from config to results file (`execute`), and the per-run records and per-cell summaries it
writes (`metrics`)."""

"""Run records and summary rows, the layer below `results` and `analysis`: the per-run records
of a program (`per_run`), the per-configuration summary rows (`summary`) and the two estimators
they need (`estimators`), the rule that chooses a configuration (`selection`), and the lookups
that both the results document and its readers share (`values`, `keys`, `labels`, `queries`).

Plain Python, numpy and scipy: nothing here imports the results files, the suite or analysis."""

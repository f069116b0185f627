"""Run records and summary rows, the layer below `results` and `analysis`: the per-run records
of a program (`per_run`), the per-configuration summary rows (`summary`) and the estimators they
need (`estimators`: bootstrap intervals, censored speed on the evaluation grid), the rule that
chooses a configuration (`selection`) and how firm each choice is (`choices`), the exact tests of
paired seeds (`paired`) and the best set of each comparison table (`verdicts`), and the lookups
that both the results document and its readers share (`values`, `keys`, `labels`, `queries`).

Plain Python, numpy and scipy (statsmodels for Holm and power, imported when used): nothing here
imports the results files, the suite or analysis."""

"""A Sphinx directive that draws the registries as tables at build time, so that a page listing
the tasks, suites, init strategies or optimizers can never disagree with the code::

    ```{registry-table} strategies
    ```

Kinds: `tasks` (`bench.tasks.TASKS`), `suites` (`bench.suite.config.suites()`), `strategies`
(`inits.STRATEGIES`, with the twin or the property `python -m bench verify inits` checks) and
`optimizers` (`optimizers.OPTIMIZERS`, with the optax twin `verify optimizers` compares against).
"""
from __future__ import annotations

import functools

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


def _reference_name(reference) -> str:
    """`optax.adam`, `optax.contrib.muon`, `optax.adam(nesterov=True)` for the optax twin."""
    keywords = ""
    if isinstance(reference, functools.partial):
        keywords = "(" + ", ".join(f"{k}={v!r}" for k, v in reference.keywords.items()) + ")"
        reference = reference.func
    package = "optax.contrib" if reference.__module__.startswith("optax.contrib") else "optax"
    return f"{package}.{reference.__name__}{keywords}"


def _number(value) -> str:
    return f"{value:g}"


def task_rows():
    from bench.tasks import TASKS

    header = ("task", "data and model", "batch", "target (val. acc.)", "default steps")
    return header, [(name, task.description, str(task.batch_size), _number(task.target), str(task.steps))
                    for name, task in TASKS.items()]


def _schedule(suite) -> str:
    if suite.schedule == "constant":
        return "constant"
    return (f"{suite.schedule}: warm-up over {suite.warmup_fraction:g} of the steps, decay to "
            f"{suite.final_fraction:g} of the peak")


def suite_rows():
    from bench.suite.config import suites

    header = ("suite", "what it runs", "tasks", "seeds (selection + evaluation)", "learning rate")
    return header, [(name, suite.description, ", ".join(suite.tasks),
                     f"{suite.selection_seeds} + {suite.seeds}", _schedule(suite))
                    for name, suite in suites().items()]


def strategy_rows():
    from inits import STRATEGIES, conformance

    properties = conformance.property_checks()
    header = ("strategy", "kernel W", "paper", "jax.nn.initializers twin", "checked by", "after init")
    rows = []
    for name, strategy in STRATEGIES.items():
        twin = name if name in conformance.TWIN_NAMES else "none"
        checks = [what for what, _ in properties.get(name, [])]
        if twin != "none":
            checks.insert(0, "bit-identical to the twin")
        post = getattr(strategy.post_init, "__name__", "") if strategy.post_init else ""
        rows.append((name, strategy.description, strategy.reference, twin, "; ".join(checks) or "-",
                     post + (" + lr multipliers" if strategy.lr_multipliers else "") or "-"))
    return header, rows


def optimizer_rows():
    from optimizers import OPTIMIZERS

    header = ("optimizer", "update rule", "paper", "optax twin", "learning rates", "search space")
    return header, [(name, spec.description + ("; full batch" if spec.full_batch else ""), spec.paper,
                     _reference_name(spec.optax_reference),
                     ", ".join(_number(lr) for lr in spec.learning_rates), spec.search_space_source or "-")
                    for name, spec in OPTIMIZERS.items()]


KINDS = {"tasks": task_rows, "suites": suite_rows, "strategies": strategy_rows, "optimizers": optimizer_rows}


def table(header, rows) -> nodes.table:
    """A docutils table of plain text cells (no markup is parsed in them)."""
    def row(cells):
        node = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=str(cell))
            node += entry
        return node

    group = nodes.tgroup(cols=len(header))
    for _ in header:
        group += nodes.colspec(colwidth=1)
    head, body = nodes.thead(), nodes.tbody()
    head += row(header)
    for cells in rows:
        body += row(cells)
    group += head
    group += body
    node = nodes.table(classes=["registry-table"])
    node += group
    return node


class RegistryTable(SphinxDirective):
    required_arguments = 1

    def run(self):
        kind = self.arguments[0]
        if kind not in KINDS:
            raise self.error(f"registry-table: unknown kind {kind!r}; known: {', '.join(KINDS)}")
        return [table(*KINDS[kind]())]


def setup(app):
    app.add_directive("registry-table", RegistryTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

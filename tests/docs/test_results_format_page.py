"""The results-format page names every field a results file holds: every key of the schema's
records (`bench.results.schema`) and every key the committed reference files actually carry, so
a field the code starts writing fails here until the page says what it is."""
import json
import re
from pathlib import Path

from bench.results import schema

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "results-format.md"
# Objects keyed by names (optimizers, hyperparameters, libraries, ...), not by fields.
NAME_KEYED = {"hyperparams", "versions", "learning_rates", "candidates", "search_space", "held_fixed",
              "plugins", "schedule", "per_method", "probability_of_improvement", "ranks", "methods",
              "scores", "average_ranks", "profiles"}
# A program's `config` is what its reuse key hashes (the page names it as a whole).
OPAQUE = {("programs", "config")}


def keys_in(value, found: set, parent: str = "") -> set:
    """Every object key in `value` at any depth, not descending into name-keyed objects."""
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(key)
            if key not in NAME_KEYED and (parent, key) not in OPAQUE:
                keys_in(item, found, key)
    elif isinstance(value, list):
        for item in value:
            keys_in(item, found, parent)
    return found


def written_fields() -> set:
    fields = set(schema.TOP_LEVEL_KEYS) | {schema.VERDICTS_KEY, schema.AGGREGATES_KEY}
    fields |= set(schema.RUN_KEYS) | set(schema.SUMMARY_KEYS) | set(schema.CURVE_KEYS) | set(schema.VERDICT_KEYS)
    for path in sorted((ROOT / "results" / "reference").glob("*.json")):
        document = json.loads(path.read_text())
        if isinstance(document, dict) and "schema_version" in document:
            keys_in(document, fields)
    return fields


def missing_from(page_text: str, fields) -> list[str]:
    """The fields the page never names, as `field` or "field"."""
    named = set(re.findall(r"`([\w.]+)`", page_text)) | set(re.findall(r'"(\w+)"', page_text))
    named |= {part for name in list(named) for part in name.split(".")}
    return sorted(field for field in fields if field not in named)


def test_the_page_names_every_field_of_the_results_file():
    assert missing_from(PAGE.read_text(encoding="utf-8"), written_fields()) == []


def test_a_field_the_page_does_not_name_is_found():
    assert missing_from('{"runs": [{"seed"}]}, and `meta.budget`', {"runs", "seed", "budget", "peak"}) == ["peak"]
    assert "final_val_accuracy" in written_fields()

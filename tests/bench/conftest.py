import json

import pytest

from tests.bench.fake_results import make_results


@pytest.fixture
def write_results(tmp_path):
    """write_results(name, results=None, **make_results_options) -> path of a results JSON in tmp_path."""
    def write(name="results.json", results=None, **options):
        path = tmp_path / name
        path.write_text(json.dumps(results if results is not None else make_results(**options)))
        return path

    return write

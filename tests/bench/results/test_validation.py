"""What a results document's fields must agree on (bench.results.validation): seeds with their
phase, no test accuracy on a selection run, at most one chosen configuration per pair."""
import pytest

from bench.errors import UsageError
from bench.results.document import check_document
from tests.bench.fake_results import edited, make_results, set_field


@pytest.fixture(scope="module")
def good():
    return make_results()


def _first(document, phase):
    return next(i for i, run in enumerate(document["runs"]) if run["phase"] == phase)


def test_a_selection_run_with_a_test_accuracy_or_a_seed_of_the_other_phase_is_refused(good):
    index = _first(good, "selection")
    with pytest.raises(UsageError, match=rf"runs\[{index}\].final_test_accuracy: a selection run"):
        check_document(edited(good, set_field("runs", index, ["final_test_accuracy"], 0.9)))
    with pytest.raises(UsageError, match=rf"runs\[{index}\].seed: 1000 is not among meta.config's selection_seeds"):
        check_document(edited(good, set_field("runs", index, ["seed"], 1000)))


def test_two_chosen_configurations_for_one_pair_are_refused(good):
    def choose_two(document):
        for row in document["summary"]:
            if (row["optimizer"], row["init"], row["phase"]) == ("sgd", "he_normal", "selection"):
                row["chosen"] = True
    with pytest.raises(UsageError, match="sgd/he_normal has 3 chosen configurations"):
        check_document(edited(good, choose_two))

"""What every figure shares (bench.analysis.figures): file-name slugs, distinct line colours, and
a figure written whole or not at all."""
import os

import matplotlib.pyplot as plt
import pytest

from bench.analysis.figures import line_colors, save_figure, slug


def test_slugs_keep_letters_digits_dots_and_dashes_and_fold_the_rest():
    assert slug("digits-mlp") == "digits-mlp"
    assert slug("he_normal") == "he_normal"
    assert slug("lr 1e-3/adam w") == "lr_1e-3_adam_w"
    assert slug("a  b") == "a_b"


def test_more_than_ten_lines_get_twenty_colours():
    assert len(line_colors(10)) == 10 and len(set(line_colors(12))) == 20


def test_a_saved_figure_is_written_whole_and_closed(tmp_path):
    figure, axes = plt.subplots()
    axes.plot([0, 1], [0, 1])
    path = save_figure(figure, tmp_path / "line.png")
    assert path == tmp_path / "line.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["line.png"]  # no temporary file left beside it
    assert not plt.fignum_exists(figure.number)


def test_a_failed_save_leaves_nothing_behind(tmp_path):
    figure, _ = plt.subplots()
    with pytest.raises(ValueError):
        save_figure(figure, tmp_path / "line.unknown-format")
    assert os.listdir(tmp_path) == []
    assert not plt.fignum_exists(figure.number)

"""What every figure shares (bench.analysis.figures): file-name slugs, one colour per optimizer
and per init, bootstrap bands, zoomed limits, and a figure written whole or not at all."""
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from bench.analysis.figures import save_figure, slug


def test_slugs_keep_letters_digits_dots_and_dashes_and_fold_the_rest():
    assert slug("digits-mlp") == "digits-mlp"
    assert slug("he_normal") == "he_normal"
    assert slug("lr 1e-3/adam w") == "lr_1e-3_adam_w"
    assert slug("a  b") == "a_b"



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


# -- the one colour mapping ---------------------------------------------------------------------

def test_the_first_eight_built_in_optimizers_and_inits_get_eight_distinct_colours():
    from bench.analysis.figures import OKABE_ITO, init_color, optimizer_color
    from inits.registry import STRATEGIES
    from optimizers.registry import OPTIMIZERS

    for names, colour in ((list(OPTIMIZERS)[:8], optimizer_color), (list(STRATEGIES)[:8], init_color)):
        colours = [colour(name) for name in names]
        assert len(set(colours)) == 8 and set(colours) == set(OKABE_ITO)


def test_the_classic_optimizers_are_eight_distinct_colours():
    from bench.analysis.figures import optimizer_color
    from bench.suite.config import CLASSIC_OPTIMIZERS

    assert len({optimizer_color(name) for name in CLASSIC_OPTIMIZERS}) == len(CLASSIC_OPTIMIZERS) == 8


def test_no_two_built_ins_share_a_look_past_the_palette():
    from bench.analysis.figures import init_style, optimizer_style
    from inits.registry import STRATEGIES
    from optimizers.registry import OPTIMIZERS

    for names, style in ((OPTIMIZERS, optimizer_style), (STRATEGIES, init_style)):
        looks = {(style(name)["color"], style(name)["linestyle"]) for name in names}
        assert len(looks) == len(names)


def test_the_same_name_is_the_same_colour_every_time():
    from bench.analysis.figures import init_color, optimizer_color

    assert optimizer_color("adam") == optimizer_color("adam") == "#000000"
    assert optimizer_color("my_optimizer") == optimizer_color("my_optimizer")
    assert init_color("he_normal") == init_color("he_normal")


def test_a_users_method_gets_a_palette_colour_from_its_name_the_same_in_another_process():
    import subprocess
    import sys

    from bench.analysis.figures import OKABE_ITO, optimizer_style

    here = optimizer_style("my_fancy_optimizer")
    assert here["color"] in OKABE_ITO
    code = ("from bench.analysis.figures import optimizer_style; "
            "print(sorted(optimizer_style('my_fancy_optimizer').items()))")
    import bench

    root = str(Path(bench.__file__).resolve().parents[1])  # this checkout, not an installed copy
    path = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                           env={**os.environ, "PYTHONHASHSEED": "123", "PYTHONPATH": path}).stdout.strip()
    assert there == str(sorted(here.items()))
    colours = {optimizer_style(f"user_optimizer_{index}")["color"] for index in range(40)}
    assert len(colours) > 4  # names spread over the palette


# -- bands and limits ---------------------------------------------------------------------------

def test_a_bootstrap_band_holds_the_mean_within_the_data_and_is_reproducible():
    import numpy as np

    from bench.analysis.figures import bootstrap_mean_band

    rng = np.random.default_rng(1)
    matrix = rng.uniform(0.9, 1.0, (8, 5))
    matrix[0, 2] = np.nan  # a missing value is left out
    mean, low, high = bootstrap_mean_band(matrix)
    assert np.allclose(mean, np.nanmean(matrix, axis=0))
    assert np.all(low <= mean) and np.all(mean <= high)
    assert np.all(low >= np.nanmin(matrix, axis=0)) and np.all(high <= np.nanmax(matrix, axis=0))
    again = bootstrap_mean_band(matrix)
    assert all(np.array_equal(a, b) for a, b in zip((mean, low, high), again))


def test_a_bootstrap_band_of_one_value_is_the_value_and_of_none_is_nan():
    import numpy as np

    from bench.analysis.figures import bootstrap_mean_band

    mean, low, high = bootstrap_mean_band(np.array([[0.5, np.nan], [np.nan, np.nan]]))
    assert (mean[0], low[0], high[0]) == (0.5, 0.5, 0.5)
    assert np.isnan([mean[1], low[1], high[1]]).all()


def test_zoomed_limits_hug_the_values_and_stop_just_above_one():
    from bench.analysis.figures import zoomed_limits

    low, high = zoomed_limits([0.95, 0.97, 0.98, float("nan")], ceiling=1.0)
    assert 0.9 < low < 0.95 and 0.98 < high < 0.99
    low, high = zoomed_limits([0.96, 1.0], ceiling=1.0)
    assert high <= 1.01
    low, high = zoomed_limits([0.97, 0.97])  # one value: a small window around it
    assert low < 0.97 < high and high - low >= 0.01 - 1e-12
    assert zoomed_limits([float("nan")]) is None

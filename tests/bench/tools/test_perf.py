"""perf's logic on tiny sizes: every strategy does the same work (same final loss per seed).

No timing is asserted anywhere: only that throughputs are positive and finite.
"""
import json
import math

import numpy as np
import pytest

from bench.tools import perf

SEEDS, STEPS, EVAL_EVERY = 4, 10, 5


@pytest.fixture(scope="module")
def setup():
    return perf.make_setup("digits-mlp", "adam", SEEDS, STEPS, eval_every=EVAL_EVERY)


@pytest.fixture(scope="module")
def measured(setup):
    return perf.run_strategies(setup, SEEDS, SEEDS)


def test_every_strategy_reports_a_positive_throughput(measured):
    measurements, notes = measured
    names = [m.strategy for m in measurements]
    assert names[:3] == ["per-seed loop", "runner", "vmap, 1 device"]
    assert names[3].startswith("lax.map")
    if perf.torch_available():
        assert names[-1] == "pytorch eager"
    else:
        assert any("PyTorch row skipped" in note for note in notes)
    for m in measurements:
        assert m.seeds == SEEDS and m.steps == STEPS
        assert math.isfinite(m.seed_steps_per_second) and m.seed_steps_per_second > 0


def test_strategies_do_identical_work(measured):
    measurements, _ = measured
    reference = measurements[0].final_loss
    assert reference.shape == (SEEDS,) and np.all(np.isfinite(reference))
    assert len(set(np.round(reference, 4))) == SEEDS  # seeds differ, so the check has teeth
    for m in measurements[1:]:
        np.testing.assert_allclose(m.final_loss, reference, atol=1e-4, err_msg=m.strategy)


def test_each_strategy_compiles_its_training_program_once(measured):
    measurements, _ = measured
    for m in measurements:
        assert m.compiles == (0 if m.strategy == "pytorch eager" else 1), m.strategy


def test_rows_and_file(setup, measured, tmp_path):
    measurements, _ = measured
    table = perf.rows(measurements, setup, matmul=100.0)
    per_seed = table[0]
    assert per_seed["vs_per_seed_loop"] == pytest.approx(1.0)
    flops = 6 * setup.batch_size * setup.n_params
    for row in table:
        assert row["gflops"] == pytest.approx(row["seed_steps_per_second"] * flops / 1e9)
        assert row["matmul_fraction"] == pytest.approx(row["gflops"] / 100.0)
    path = tmp_path / "perf.json"
    perf._write(str(path), {"rows": table})
    assert json.loads(path.read_text())["rows"][0]["strategy"] == "per-seed loop"


def test_setup_counts_the_mlp_parameters(setup):
    assert setup.n_params == 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10


@pytest.mark.parametrize("flags, expected", [
    (["--task", "digits-mpl"], "did you mean 'digits-mlp'"),
    (["--optimizer", "adamm"], "did you mean 'adam'"),
    (["--seeds", "0"], "--seeds must be a positive integer"),
    (["--steps", "-5"], "--steps must be a positive integer"),
])
def test_bad_perf_flags_are_one_line_and_exit_2(flags, expected, tmp_path, capsys):
    from bench.cli import main

    out = tmp_path / "perf.json"
    assert main(["perf", *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not out.exists()

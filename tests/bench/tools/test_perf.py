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
def workload():
    return perf.make_workload("digits-mlp", "adam", SEEDS, STEPS, eval_every=EVAL_EVERY)


@pytest.fixture(scope="module")
def measured(workload):
    return perf.run_strategies(workload, SEEDS, SEEDS)


def test_every_strategy_reports_a_positive_throughput(measured):
    measurements, notes = measured
    names = [m.strategy for m in measurements]
    assert names[:4] == ["lean loop", "lean loop + eval", "lean vmap", "runner"]
    if perf.peers.torch_available():
        assert names[4:] == ["pytorch eager", "torch.func"]
    else:
        assert any("PyTorch rows skipped" in note for note in notes)
    for m in measurements:
        assert m.seeds == SEEDS and m.steps == STEPS
        assert math.isfinite(m.seed_steps_per_second) and m.seed_steps_per_second > 0


def test_strategies_on_the_same_batches_do_identical_work(measured):
    measurements, _ = measured
    for group in ("lean", "runner"):
        members = [m for m in measurements if m.batches == group]
        reference = members[0].final_loss
        assert reference.shape == (SEEDS,) and np.all(np.isfinite(reference))
        assert len(set(np.round(reference, 4))) == SEEDS  # seeds differ, so the check has teeth
        for m in members[1:]:
            np.testing.assert_allclose(m.final_loss, reference, atol=2e-4, err_msg=m.strategy)


def test_each_jax_strategy_compiles_its_training_program_once(measured):
    measurements, _ = measured
    for m in measurements:
        assert m.compiles == (0 if m.strategy in ("pytorch eager", "torch.func") else 1), m.strategy


def test_rows_and_file(workload, measured, tmp_path):
    measurements, _ = measured
    table = perf.rows(measurements, workload, matmul=100.0)
    assert table[0]["strategy"] == "lean loop" and table[0]["vs_lean_loop"] == pytest.approx(1.0)
    for m, row in zip(measurements, table):
        assert row["gflops"] == pytest.approx(row["seed_steps_per_second"] * workload.flops_per_step / 1e9)
        # each JAX row against the matmul timed beside it; a row without one, the run's
        assert row["matmul_gflops"] == (m.matmul or 100.0) and row["matmul_gflops"] > 0
        assert row["matmul_fraction"] == pytest.approx(row["gflops"] / row["matmul_gflops"])
        assert row["same_work_as"] in ("lean loop", "runner")
    assert all(m.matmul for m in measurements[:4])
    path = tmp_path / "perf.json"
    perf.write_perf_file(str(path), {"rows": table})
    assert json.loads(path.read_text())["rows"][0]["strategy"] == "lean loop"


def test_workload_counts_the_mlp_parameters(workload):
    assert workload.n_params == 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10
    assert workload.flops_per_step == 6 * workload.batch_size * workload.n_params


def test_the_lean_loop_script_prints_its_timings(capsys):
    from bench.tools.perf import lean

    assert lean.main(["--seeds", "2", "--steps", "10", "--eval-every", "5"]) == 0
    found = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert found["run_seconds"] > 0 and math.isfinite(found["final_loss_mean"])


@pytest.mark.parametrize("flags, expected", [
    (["--task", "digits-mpl"], "did you mean 'digits-mlp'"),
    (["--optimizer", "adamm"], "did you mean 'adam'"),
    (["--seeds", "0"], "--seeds must be a positive integer"),
    (["--steps", "-5"], "--steps must be a positive integer"),
    (["--startup", "--repeats", "0"], "--repeats must be a positive integer"),
    (["--startup", "--levers"], "give one of --levers, --startup, not several"),
    (["--levers", "--against", "HEAD"], "--against REV goes with --startup or with perf's default"),
    (["--startup", "--against", "no-such-revision"], "is not a commit of this repository"),
    (["--against", "HEAD,no-such-revision"], "is not a commit of this repository"),
    (["--startup", "--against", "HEAD,HEAD"], "--startup --against takes one revision"),
    (["--scaling", "--sizes", "1,x"], "--sizes must be comma-separated positive integers"),
    (["--sizes", "4"], "--sizes goes with --scaling"),
])
def test_bad_perf_flags_are_one_line_and_exit_2(flags, expected, tmp_path, capsys):
    from bench.cli import main

    out = tmp_path / "perf.json"
    assert main(["perf", *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_search_trains_the_trials_as_one_program_and_the_loop_one_per_trial(tmp_path):
    found = perf.search("digits-mlp", "adam", trials=2, seeds=2, steps=10, out=str(tmp_path / "s.json"))
    assert found["one_program"]["compiles"] == 1
    assert found["loop_over_trials"]["compiles"] == 2  # a new configuration is a new program
    assert {"learning_rate", "b1", "b2", "eps"} <= set(found["searched"])
    assert json.loads((tmp_path / "s.json").read_text())["search"]["trials"] == 2


def test_a_conv_task_with_synthetic_data_counts_its_flops_with_xla(tmp_path):
    # LeNet on random MNIST-shaped data (no download): the lean loop beside the runner, and a
    # FLOP count from XLA's cost analysis, since a conv's weights are shared over positions.
    workload = perf.make_workload("mnist-lenet", "adam", 2, 4, eval_every=2, synthetic=True)
    assert workload.dataset.x_train.shape[1:] == (28, 28, 1) and workload.dataset.x_train.dtype == np.uint8
    assert workload.flops_per_step > 6 * workload.batch_size * workload.n_params  # shared weights
    lean_row = perf.measure_lean(workload, workload.seeds)
    runner_row = perf.measure_runner(workload, workload.seeds)
    assert np.all(np.isfinite(lean_row.final_loss)) and np.all(np.isfinite(runner_row.final_loss))


def test_perf_files_are_strict_json_with_unmeasured_numbers_as_null(tmp_path):
    import json

    import numpy as np

    from bench.tools.perf import write_perf_file

    path = tmp_path / "perf.json"
    write_perf_file(str(path), {"meta": {"matmul": None}, "rows": [{"gflops": np.float32(2.5), "loss": float("nan"),
                                                           "rate": np.float64("inf")}]})

    def refuse(constant):
        raise ValueError(constant)

    document = json.loads(path.read_text(), parse_constant=refuse)  # NaN or Infinity would raise
    assert document["rows"] == [{"gflops": 2.5, "loss": None, "rate": None}]


def test_perf_records_its_start_up_not_its_whole_run(tmp_path):
    # startup_seconds is the process's age when perf begins (interpreter and imports), not its
    # age when perf ends, which would count every measurement as start-up
    from bench.tools.perf.measure import process_seconds

    before = process_seconds()
    document = perf.perf("digits-mlp", "adam", seeds=2, steps=4, out=str(tmp_path / "p.json"),
                         whole_process=False)
    after = process_seconds()
    assert after > before
    assert 0 < document["startup_seconds"] <= before + 0.5 < after


def test_the_lean_loop_script_takes_a_users_optimizer(tmp_path, capsys):
    """perf's whole-process measurement runs `python -m bench.tools.perf.lean` with the spec as the
    user gave it."""
    import json

    from bench.tools.perf import lean

    (tmp_path / "mine.py").write_text("import optax\ndef heavy(learning_rate, momentum=0.9):\n"
                                      "    return optax.sgd(learning_rate, momentum=momentum)\n")
    assert lean.main(["--optimizer", f"{tmp_path / 'mine.py'}:heavy", "--seeds", "2", "--steps", "5"]) == 0
    measured = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert measured["run_seconds"] >= 0 and measured["final_loss_mean"] > 0


def test_the_runner_of_another_revision_runs_from_its_own_checkout():
    import subprocess

    from bench.tools.perf import revision_runner_process

    workload = perf.make_workload("spirals", "adam", 2, 4, eval_every=2)
    found = revision_runner_process(workload, 2, "HEAD")
    assert found["wall_seconds"] > 0 and found["run_seconds"] > 0, found
    worktrees = subprocess.run(["git", "worktree", "list"], capture_output=True, text=True).stdout
    assert "initopt-against-" not in worktrees  # removed afterwards


def test_whole_processes_are_interleaved_and_each_reports_its_median(monkeypatch):
    from bench.tools.perf import interleaved, startup_phases

    monkeypatch.setattr(startup_phases, "settle", lambda: order.append("settle"))

    order, walls = [], {"a": iter([5.0, 1.0, 3.0]), "b": iter([2.0, 2.0, 9.0])}

    def timed(name):
        def run():
            order.append(name)
            return {"wall_seconds": next(walls[name]), "name": name}
        return run

    def broken():
        order.append("c")
        return {"error": "no such flag"}

    found = interleaved({"a": timed("a"), "b": timed("b"), "c": broken}, 3)
    assert order[::2] == ["settle"] * 9  # every process after a pause
    assert order[1::2] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]  # each round starts one later
    assert found["a"]["wall_seconds"] == 3.0 and found["a"]["each_wall_seconds"] == [5.0, 1.0, 3.0]
    assert found["b"]["wall_seconds"] == 2.0
    assert found["c"] == {"error": "no such flag"}


def test_a_row_of_several_rounds_is_its_median_round_with_every_round(workload):
    """perf --repeats: each in-process row is its median round by run time, beside every
    round's run time, matmul and fraction of it."""
    def round_of(run_seconds, matmul):
        return perf.Measurement("runner", SEEDS, STEPS, 0.1, run_seconds, np.ones(SEEDS), 1,
                                matmul=matmul)

    each = [round_of(3.0, 100.0), round_of(1.0, 50.0), round_of(2.0, 80.0), round_of(4.0, 90.0)]
    row = perf.median_round(each)
    assert row.run_seconds == 2.0 and row.matmul == 80.0  # the lower middle of 1, 2, 3, 4
    assert row.rounds == ((3.0, 100.0), (1.0, 50.0), (2.0, 80.0), (4.0, 90.0))
    baseline = perf.Measurement("lean loop", SEEDS, STEPS, 0.1, 1.0, np.ones(SEEDS), 1,
                                batches="runner", matmul=100.0)
    table = perf.rows([baseline, row], workload, matmul=100.0)
    assert "rounds" not in table[0]  # a row of one round has nothing more to say
    rate = lambda run_seconds: SEEDS * STEPS / run_seconds * workload.flops_per_step / 1e9
    fractions = [rate(3.0) / 100.0, rate(1.0) / 50.0, rate(2.0) / 80.0, rate(4.0) / 90.0]
    assert [r["matmul_fraction"] for r in table[1]["rounds"]] == pytest.approx(fractions)
    assert table[1]["matmul_fraction_median_of_rounds"] == pytest.approx(np.median(fractions))
    assert table[1]["matmul_fraction"] == pytest.approx(rate(2.0) / 80.0)


def test_rounds_rotate_the_strategies_and_keep_each_ones_median(monkeypatch, workload):
    order, runs = [], {}

    def fake(name):
        def measure(*args, **kwargs):
            order.append(name)
            runs[name] = runs.get(name, 0) + 1
            seconds = {1: 5.0, 2: 1.0, 3: 3.0}[runs[name]]
            return perf.Measurement(name, SEEDS, STEPS, 0.0, seconds, np.ones(SEEDS), 1)
        return measure

    monkeypatch.setattr(perf, "measure_lean", lambda w, s, evaluate=False: fake(
        "lean loop + eval" if evaluate else "lean loop")())
    monkeypatch.setattr(perf, "measure_lean_vmap", fake("lean vmap"))
    monkeypatch.setattr(perf, "measure_runner", fake("runner"))
    monkeypatch.setattr(perf, "matmul_gflops", lambda: 100.0)
    measurements, _ = perf.run_strategies(workload, SEEDS, SEEDS, include_torch=False, repeats=3)
    assert order[:4] == ["lean loop", "lean loop + eval", "lean vmap", "runner"]
    assert order[4:8] == ["lean loop + eval", "lean vmap", "runner", "lean loop"]
    assert [m.run_seconds for m in measurements] == [3.0] * 4  # each one's median of 5, 1, 3
    assert all(len(m.rounds) == 3 for m in measurements)


def test_whole_process_ratios_pair_each_rounds_processes():
    """perf's whole-process headline: the ratio within each round (both processes in the same
    minutes), whose median a drift between rounds does not move as it moves a ratio of medians."""
    from bench.tools.perf.rounds import by_round

    lean, runner = [10.0, 20.0, 30.0], [5.0, 5.0, 30.0]  # the host slowed the third round for both
    paired = by_round(lean, runner)
    assert paired["each"] == [2.0, 4.0, 1.0]
    assert (paired["median"], paired["min"], paired["max"]) == (2.0, 1.0, 4.0)
    assert np.median(lean) / np.median(runner) == 4.0  # the ratio of medians is another number
    assert by_round([4.0, 6.0], [2.0, 2.0])["median"] == 2.5  # an even count: the middle two's mean
    with pytest.raises(ValueError, match="do not pair"):
        by_round([1.0, 2.0], [1.0])


def test_rounds_rotate_or_shuffle_their_order_and_run_every_command_each_round():
    from bench.tools.perf.rounds import in_rounds

    def orders(**options):
        ran = []
        found = in_rounds({name: (lambda name=name: ran.append(name) or len(ran)) for name in "abcd"}, 6,
                          **options)
        assert all(len(results) == 6 for results in found.values())  # each command once a round
        return ["".join(ran[i:i + 4]) for i in range(0, len(ran), 4)]

    assert orders() == ["abcd", "bcda", "cdab", "dabc", "abcd", "bcda"]
    shuffled = orders(shuffle=0)
    assert all(sorted(order) == list("abcd") for order in shuffled)
    assert shuffled == orders(shuffle=0)  # seeded: the same orders again
    # "a" after the same command in every round but the one it opens, rotated; not so, shuffled
    before_a = lambda rounds: {order[order.index("a") - 1] for order in rounds if order[0] != "a"}
    assert before_a(orders()) == {"d"} and len(before_a(shuffled)) > 1

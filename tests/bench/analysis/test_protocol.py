"""The two sentences on what the decay changed, from a decayed and a constant run."""
import numpy as np

from bench.analysis.protocol import decay_effect


def _document(means, init="he_normal", seeds=8, spread=0.002, rng=None):
    rng = rng or np.random.default_rng(0)
    runs, summary = [], []
    for optimizer, mean in means.items():
        hyper = {"learning_rate": 0.1}
        for seed in range(1000, 1000 + seeds):
            runs.append({"task": "digits-mlp", "optimizer": optimizer, "init": init, "seed": seed,
                         "phase": "evaluation", "trial": 0, "lr": 0.1, "hyperparams": hyper,
                         "final_test_accuracy": float(mean + spread * rng.standard_normal()), "failed": False})
        summary.append({"task": "digits-mlp", "optimizer": optimizer, "init": init, "phase": "evaluation",
                        "trial": 0, "lr": 0.1, "hyperparams": hyper, "chosen": True})
    config = {"tasks": [{"task": "digits-mlp", "num_classes": 10, "steps": 300}]}
    return {"meta": {"config": config}, "runs": runs, "summary": summary}


def test_decay_effect_states_the_ranges_the_agreement_and_the_leaders():
    constant = _document({"sgd": 0.95, "adam": 0.97, "rmsprop": 0.96, "momentum": 0.965})
    decayed = _document({"sgd": 0.975, "adam": 0.972, "rmsprop": 0.98, "momentum": 0.978})
    text = decay_effect(decayed, constant)

    def means(document):
        by = {}
        for run in document["runs"]:
            by.setdefault(run["optimizer"], []).append(run["final_test_accuracy"])
        return {name: float(np.mean(values)) for name, values in by.items()}

    low, high = min(means(constant).values()), max(means(constant).values())
    assert f"from {low:.3f}-{high:.3f} at a constant rate" in text
    low, high = min(means(decayed).values()), max(means(decayed).values())
    assert f"to {low:.3f}-{high:.3f}" in text
    assert "the leader by mean goes from adam" in text and "to rmsprop" in text
    assert "4 optimizers" in text and "8 evaluation seeds" in text
    same = decay_effect(constant, constant)
    assert "Kendall's tau +1.00" in same

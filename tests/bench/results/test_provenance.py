"""Provenance (bench.results.provenance): the CPU model and GPU name a compare header shows."""
from types import SimpleNamespace

from bench.results import provenance


def test_cpu_model_is_a_name_or_none():
    model = provenance.cpu_model()
    assert model is None or (isinstance(model, str) and model.strip() == model and model)


def test_gpu_name_only_on_a_gpu():
    h100 = SimpleNamespace(device_kind="NVIDIA H100 80GB HBM3")
    assert provenance.gpu_name("gpu", [h100, h100]) == "NVIDIA H100 80GB HBM3"
    assert provenance.gpu_name("cpu", [SimpleNamespace(device_kind="cpu")]) is None
    assert provenance.gpu_name("tpu", [SimpleNamespace(device_kind="TPU v4")]) is None


def test_environment_records_both():
    environment = provenance.environment()
    assert "cpu_model" in environment and environment["gpu_name"] is None or environment["backend"] == "gpu"

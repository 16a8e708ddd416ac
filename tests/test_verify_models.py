"""`webdnn-build verify` on the generated ResNet-50 v1.5 and MobileNetV2 (random weights) on js."""

from __future__ import annotations

import json

import pytest

from .helpers import run_cli


@pytest.fixture(scope="module")
def models(generated_models):
    return generated_models


@pytest.mark.parametrize("name", ["tiny_cnn", "mobilenetv2", "resnet50"])
def test_verify_passes_against_onnxruntime(models, name):
    proc = run_cli("verify", str(models / f"{name}.onnx"), "--backend", "js", "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    for out in report["outputs"]:
        # stated tolerance: max abs error <= 1e-5 + 1e-4 * max|reference|
        assert out["max_abs"] <= 1e-5 + 1e-4 * out["scale"]


def test_verify_fails_on_a_wrong_result(models, tmp_path):
    """A deliberately tight tolerance must make verify exit non-zero (the comparison can fail)."""
    proc = run_cli("verify", str(models / "resnet50.onnx"), "--rtol", "0", "--atol", "1e-12")
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout


def test_verify_takes_npy_inputs(models, tmp_path):
    import numpy as np
    x = np.full((1, 1, 8, 8), 0.5, dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    proc = run_cli("verify", str(models / "tiny_cnn.onnx"), "--input", f"input={tmp_path / 'x.npy'}")
    assert proc.returncode == 0, proc.stderr
    assert "passed" in proc.stdout

"""The wasm backend end to end: verify against onnxruntime at 1 and 2 threads, errors, fallback."""

from __future__ import annotations

import json
import os

import pytest
from onnx import helper

from webdnn_build.node import NodeWorker

from ..helpers import float_input, run_cli, save_model


@pytest.fixture(scope="module")
def models(generated_models):
    return generated_models


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", ["tiny_cnn", "mobilenetv2", "resnet50"])
def test_verify_on_wasm(models, name, threads):
    proc = run_cli("verify", str(models / f"{name}.onnx"), "--backend", "wasm", "--threads", str(threads), "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    for out in report["outputs"]:
        # the documented fp32 tolerance: max abs error <= 1e-5 + 1e-4 * max|reference|
        assert out["max_abs"] <= 1e-5 + 1e-4 * out["scale"]
    assert f"with {threads} thread" in proc.stderr


def test_missing_compiler_says_how_to_install(tmp_path):
    fake = tmp_path / "fake" / "ziglang"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('ziglang removed for this test')\n")
    model = save_model([helper.make_node("Relu", ["x"], ["y"])], [float_input("x", [1, 4])], [float_input("y", [1, 4])],
                       tmp_path / "m.onnx")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "fake"))
    proc = run_cli("build", str(model), "-o", str(tmp_path / "out"), "--backends", "wasm", env=env)
    assert proc.returncode == 2
    assert "pip install ziglang" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_bundle_without_wasm_still_loads_on_js(tmp_path):
    model = save_model([helper.make_node("Relu", ["x"], ["y"])], [float_input("x", [1, 4])], [float_input("y", [1, 4])],
                       tmp_path / "m.onnx")
    out = tmp_path / "bundle"
    assert run_cli("build", str(model), "-o", str(out), "--backends", "js").returncode == 0
    with NodeWorker() as worker:
        loaded = worker.load(out, ["wasm", "js"])
    assert loaded["backend"] == "js"
    assert any(e["backend"] == "wasm" for e in loaded["fallbackLog"])


def test_rebuild_takes_the_module_from_the_cache(models, tmp_path):
    args = ("build", str(models / "mobilenetv2.onnx"), "-o", str(tmp_path / "b"), "--backends", "wasm")
    assert run_cli(*args).returncode == 0
    again = run_cli(*args)
    assert again.returncode == 0
    assert "modules from cache" in again.stderr  # no compiler run for an unchanged model

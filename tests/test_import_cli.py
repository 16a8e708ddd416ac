"""ONNX import paths (external data, old opsets) and the inspect command."""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import helper, numpy_helper

from webdnn_build.node import NodeWorker

from .helpers import float_input, run_cli, save_model


def test_external_data_model_builds_and_runs(tmp_path):
    w = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    init = numpy_helper.from_array(w, "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "ext",
                              [float_input("x", [2, 64])], [float_input("y", [2, 32])], initializer=[init])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "ext.onnx"
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.weights", size_threshold=0)
    assert (tmp_path / "ext.weights").stat().st_size == w.nbytes

    out = tmp_path / "bundle"
    proc = run_cli("build", str(path), "-o", str(out), "--backends", "js")
    assert proc.returncode == 0, proc.stderr
    x = np.random.default_rng(1).standard_normal((2, 64)).astype(np.float32)
    with NodeWorker() as worker:
        h = worker.load(out, ["js"])["handle"]
        (name, y), = worker.run(h, {"x": x})[0]
    np.testing.assert_allclose(y, x @ w, rtol=1e-5, atol=1e-5)


def test_missing_external_data_names_the_file(tmp_path):
    init = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "ext",
                              [float_input("x", [1, 4])], [float_input("y", [1, 4])], initializer=[init])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location="gone.bin", size_threshold=0)
    (tmp_path / "gone.bin").unlink()
    proc = run_cli("build", str(path), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "m.onnx" in proc.stderr and "external data" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_old_opset_is_converted(tmp_path):
    """Opset 6 is below the importer's minimum: onnx's version converter upgrades it."""
    path = save_model([helper.make_node("Relu", ["x"], ["y"])], [float_input("x", [1, 4])], [float_input("y", [1, 4])],
                      tmp_path / "old.onnx", opset=6)
    out = tmp_path / "bundle"
    proc = run_cli("build", str(path), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    program = json.loads((out / "js" / "program.json").read_text())
    assert program["opsets"][""] >= 7


def test_inspect_reports_ops_and_backend_support(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])]
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    path = save_model(nodes, [float_input("x", [1, 3, 8, 8])], [float_input("y", [1, 4, 8, 8])], tmp_path / "c.onnx",
                      initializers=[w])
    proc = run_cli("inspect", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["inputs"] == [{"name": "x", "dtype": "float32", "shape": [1, 3, 8, 8]}]
    assert info["ops"] == {"Conv": 1}  # Relu fused into the Conv by the optimizer
    assert info["unsupportedOps"]["js"] == []
    text = run_cli("inspect", str(path))
    assert "backend js: supports every op" in text.stdout


def test_inspect_lists_dynamic_dims(tmp_path):
    path = save_model([helper.make_node("Relu", ["x"], ["y"])], [float_input("x", ["batch", 4])],
                      [float_input("y", ["batch", 4])], tmp_path / "d.onnx")
    proc = run_cli("inspect", str(path))
    assert proc.returncode == 0
    assert "'x' dim 0 (batch)" in proc.stdout

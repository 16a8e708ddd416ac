"""Bad input gets a clear error naming the file and node, and leaves no half-written bundle."""

from __future__ import annotations

from pathlib import Path

import pytest
from onnx import helper

from .helpers import float_input, run_cli, save_model


@pytest.fixture
def relu_model(tmp_path) -> Path:
    return save_model([helper.make_node("Relu", ["x"], ["y"], name="the_relu")],
                      [float_input("x", [1, 4])], [float_input("y", [1, 4])], tmp_path / "relu.onnx")


def assert_no_bundle(out: Path) -> None:
    assert not out.exists()
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    assert leftovers == []


def test_truncated_onnx_names_the_file(relu_model, tmp_path):
    broken = tmp_path / "truncated.onnx"
    broken.write_bytes(relu_model.read_bytes()[:-20])
    out = tmp_path / "out"
    proc = run_cli("build", str(broken), "-o", str(out))
    assert proc.returncode == 2
    assert str(broken) in proc.stderr
    assert "truncated or corrupt ONNX file" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert_no_bundle(out)


def test_non_onnx_file_is_refused(tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    proc = run_cli("build", str(text), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert str(text) in proc.stderr and "not an ONNX model" in proc.stderr
    assert_no_bundle(tmp_path / "out")


def test_empty_file_is_refused(tmp_path):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    proc = run_cli("build", str(empty), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2 and "file is empty" in proc.stderr


def test_unsupported_op_names_node_op_and_backends(tmp_path):
    model = save_model(
        [helper.make_node("Relu", ["x"], ["a"], name="ok_node"),
         helper.make_node("FancyOp", ["a"], ["y"], name="weird_node", domain="com.example")],
        [float_input("x", [1, 4])], [float_input("y", [1, 4])], tmp_path / "custom.onnx",
    )
    # the custom domain needs an opset import to pass the checker
    import onnx
    m = onnx.load(str(model))
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    onnx.save(m, str(model))
    out = tmp_path / "out"
    proc = run_cli("build", str(model), "-o", str(out), "--backends", "js")
    assert proc.returncode == 2
    assert "custom.onnx" in proc.stderr
    assert "node 'weird_node' (com.example.FancyOp)" in proc.stderr
    assert "asked: js" in proc.stderr
    assert_no_bundle(out)


def test_unknown_backend_lists_installed(relu_model, tmp_path):
    proc = run_cli("build", str(relu_model), "-o", str(tmp_path / "out"), "--backends", "nope")
    assert proc.returncode == 2
    assert "unknown backend(s) nope" in proc.stderr and "js" in proc.stderr


def test_dynamic_dims_are_named_with_the_flag(tmp_path):
    model = save_model([helper.make_node("Relu", ["x"], ["y"])],
                       [float_input("x", ["batch", 4])], [float_input("y", ["batch", 4])], tmp_path / "dyn.onnx")
    out = tmp_path / "out"
    proc = run_cli("build", str(model), "-o", str(out))
    assert proc.returncode == 2
    assert "'x' dim 0 (batch)" in proc.stderr and "--input-shape" in proc.stderr
    assert_no_bundle(out)
    fixed = run_cli("build", str(model), "-o", str(out), "--input-shape", "x=3,4")
    assert fixed.returncode == 0, fixed.stderr
    assert (out / "manifest.json").is_file()


def test_bad_input_shape_flag(relu_model, tmp_path):
    proc = run_cli("build", str(relu_model), "-o", str(tmp_path / "o"), "--input-shape", "x=1,four")
    assert proc.returncode == 2 and "--input-shape 'x=1,four'" in proc.stderr
    proc = run_cli("build", str(relu_model), "-o", str(tmp_path / "o"), "--input-shape", "nope=1,4")
    assert proc.returncode == 2 and "names 'nope'" in proc.stderr


def test_failed_rebuild_keeps_the_previous_bundle(relu_model, tmp_path):
    out = tmp_path / "out"
    assert run_cli("build", str(relu_model), "-o", str(out)).returncode == 0
    before = (out / "manifest.json").read_bytes()
    broken = tmp_path / "relu_broken.onnx"
    broken.write_bytes(relu_model.read_bytes()[:10])
    assert run_cli("build", str(broken), "-o", str(out)).returncode == 2
    assert (out / "manifest.json").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []

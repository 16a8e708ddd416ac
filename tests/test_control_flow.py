"""Control flow (If/Loop/Scan) and sequences end to end: onnx.helper model → bundle → Node worker, vs onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from webdnn_build.compiler import BuildOptions, compile_model
from webdnn_build.node import NodeWorker

F = TensorProto.FLOAT


@pytest.fixture(scope="module")
def worker():
    with NodeWorker() as w:
        yield w


def _save(graph: onnx.GraphProto, path: Path, opset: int = 17) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def _build_and_run(worker: NodeWorker, model_path: Path, feeds: dict[str, Any]) -> tuple[dict[str, Any], dict]:
    result = compile_model(model_path, model_path.parent / "bundle", BuildOptions(backends=["js"]), log=lambda m: None)
    loaded = worker.load(result.out_dir, ["js"])
    assert loaded["backend"] == "js", loaded["fallbackLog"]
    dtypes = {i["name"]: i["dtype"] for i in result.manifest["inputs"]}
    outputs, _ = worker.run(loaded["handle"], feeds, dtypes)
    worker.dispose(loaded["handle"])
    program = json.loads((result.out_dir / "js" / "program.json").read_text())
    return dict(outputs), program


def _onnxruntime(model_path: Path, feeds: dict[str, Any]) -> dict[str, Any]:
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def _assert_same(ours: Any, ref: Any) -> None:
    if isinstance(ref, list):
        assert isinstance(ours, list) and len(ours) == len(ref)
        for a, b in zip(ours, ref):
            _assert_same(a, b)
        return
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)


def test_if_reading_outer_values(tmp_path: Path, worker: NodeWorker) -> None:
    """The branches read outer values (one a computed intermediate, one a constant) and nothing else."""
    w = helper.make_tensor("w", F, [2, 3], np.arange(6, dtype=np.float32).tolist())
    then_branch = helper.make_graph(
        [helper.make_node("Add", ["scaled", "w"], ["t_out"])], "then", [],
        [helper.make_tensor_value_info("t_out", F, [2, 3])])
    else_branch = helper.make_graph(
        [helper.make_node("Neg", ["scaled"], ["e_out"])], "else", [],
        [helper.make_tensor_value_info("e_out", F, [2, 3])])
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "x"], ["scaled"]),
            helper.make_node("If", ["c"], ["y"], then_branch=then_branch, else_branch=else_branch),
            helper.make_node("Relu", ["y"], ["z"]),
        ],
        "if_outer", [helper.make_tensor_value_info("x", F, [2, 3]), helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("z", F, [2, 3])], initializer=[w])
    path = _save(graph, tmp_path / "if.onnx")
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    for flag in (True, False):
        feeds = {"x": x, "c": np.array(flag)}
        ours, program = _build_and_run(worker, path, feeds)
        _assert_same(ours["z"], _onnxruntime(path, feeds)["z"])
    op = next(o for o in program["ops"] if o["op"] == "If")
    then_prog = op["attrs"]["then_branch"]["$graph"]
    captured = sorted(then_prog["values"][i]["name"] for i in then_prog["captures"])
    assert captured == ["scaled", "w"]
    assert "arena" not in then_prog  # subgraph values are allocated dynamically


def test_loop_building_a_sequence(tmp_path: Path, worker: NodeWorker) -> None:
    """Loop with a carried sequence, a carried tensor, a scan output and an outer-scope read; then ConcatFromSequence."""
    i64 = TensorProto.INT64
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Cast", ["iter"], ["iter_f"], to=F),
            helper.make_node("Mul", ["x", "iter_f"], ["scaled"]),  # x: outer scope
            helper.make_node("SequenceInsert", ["seq_in", "scaled"], ["seq_out"]),
            helper.make_node("Add", ["acc_in", "scaled"], ["acc_out"]),
            helper.make_node("Identity", ["acc_out"], ["scan_out"]),
        ],
        "body",
        [helper.make_tensor_value_info("iter", i64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_sequence_value_info("seq_in", F, None), helper.make_tensor_value_info("acc_in", F, [3])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_sequence_value_info("seq_out", F, None), helper.make_tensor_value_info("acc_out", F, [3]),
         helper.make_tensor_value_info("scan_out", F, [3])])
    graph = helper.make_graph(
        [
            helper.make_node("SequenceEmpty", [], ["seq0"], dtype=F),
            helper.make_node("Loop", ["trips", "", "seq0", "acc0"], ["seq", "acc", "scans"], body=body),
            helper.make_node("ConcatFromSequence", ["seq"], ["stacked"], axis=0, new_axis=1),
        ],
        "loop_seq",
        [helper.make_tensor_value_info("x", F, [3]), helper.make_tensor_value_info("trips", i64, []),
         helper.make_tensor_value_info("acc0", F, [3])],
        [helper.make_tensor_value_info("stacked", F, ["n", 3]), helper.make_tensor_value_info("acc", F, [3]),
         helper.make_tensor_value_info("scans", F, ["n", 3]), helper.make_tensor_sequence_value_info("seq", F, None)])
    path = _save(graph, tmp_path / "loop.onnx")
    feeds = {"x": np.array([1, 2, 3], np.float32), "trips": np.array(4, np.int64), "acc0": np.zeros(3, np.float32)}
    ours, _ = _build_and_run(worker, path, feeds)
    ref = _onnxruntime(path, feeds)
    for name in ("stacked", "acc", "scans", "seq"):
        _assert_same(ours[name], ref[name])
    assert ours["scans"].shape == (4, 3)


def test_scan_and_sequence_io(tmp_path: Path, worker: NodeWorker) -> None:
    """Scan (cumulative sum, reversed scan input) next to a sequence input and output."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "row"], ["s_out"]), helper.make_node("Identity", ["s_out"], ["y_row"])],
        "scan_body",
        [helper.make_tensor_value_info("s_in", F, [2]), helper.make_tensor_value_info("row", F, [2])],
        [helper.make_tensor_value_info("s_out", F, [2]), helper.make_tensor_value_info("y_row", F, [2])])
    graph = helper.make_graph(
        [
            helper.make_node("Scan", ["s0", "xs"], ["s", "ys"], body=body, num_scan_inputs=1, scan_input_directions=[1]),
            helper.make_node("SequenceInsert", ["seq_in", "s", "pos"], ["seq_out"]),
            helper.make_node("SequenceLength", ["seq_out"], ["n"]),
        ],
        "scan_seq",
        [helper.make_tensor_value_info("s0", F, [2]), helper.make_tensor_value_info("xs", F, [4, 2]),
         helper.make_tensor_sequence_value_info("seq_in", F, None), helper.make_tensor_value_info("pos", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("ys", F, [4, 2]), helper.make_tensor_sequence_value_info("seq_out", F, None),
         helper.make_tensor_value_info("n", TensorProto.INT64, [])])
    path = _save(graph, tmp_path / "scan.onnx")
    rng = np.random.default_rng(1)
    feeds = {"s0": np.zeros(2, np.float32), "xs": rng.standard_normal((4, 2)).astype(np.float32),
             "seq_in": [np.ones(2, np.float32), np.full(5, 7, np.float32)], "pos": np.array(1, np.int64)}
    ours, _ = _build_and_run(worker, path, feeds)
    ref = _onnxruntime(path, feeds)
    for name in ("ys", "seq_out", "n"):
        _assert_same(ours[name], ref[name])

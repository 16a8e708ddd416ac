"""`webdnn-build verify --per-node`: every intermediate value compared with onnxruntime.

No backend op can be made wrong on purpose here, so the comparison is tested with a perturbed
reference (compare_per_node is a pure function), and the whole command on js with a model whose
intermediates all match.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from webdnn_build.verify import augment_model, compare_per_node, run_onnxruntime

from .helpers import run_cli


def _conv_model(path=None, evil_name: str = "") -> onnx.ModelProto:
    """x -> Conv -> Relu -> MaxPool -> Reshape (int64 shape from Shape/Gather/Concat) -> MatMul -> Softmax."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32) * 0.3
    b = rng.standard_normal(4).astype(np.float32) * 0.1
    fc = rng.standard_normal((4 * 3 * 3, 5)).astype(np.float32) * 0.2
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["conv"], name="conv0" + evil_name, pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"], name="relu0"),
        helper.make_node("MaxPool", ["relu"], ["pool"], name="pool0", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Shape", ["pool"], ["shp"], name="shape0"),
        helper.make_node("Gather", ["shp", "zero"], ["n"], name="gather0", axis=0),
        helper.make_node("Concat", ["n", "minus1"], ["newshape"], name="concat0", axis=0),
        helper.make_node("Reshape", ["pool", "newshape"], ["flat"], name="reshape0"),
        helper.make_node("MatMul", ["flat", "fc"], ["logits"], name="fc0"),
        helper.make_node("Softmax", ["logits"], ["prob"], name="softmax0", axis=-1),
    ]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"), numpy_helper.from_array(fc, "fc"),
             numpy_helper.from_array(np.array([0], np.int64), "zero"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1")]
    graph = helper.make_graph(nodes, "per_node", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
                              [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 5])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if path is not None:
        onnx.save(model, str(path))
    return model


def _reference(model: onnx.ModelProto, tmp_path) -> dict[str, np.ndarray]:
    augmented, added = augment_model(model)
    assert set(added) == {"conv", "relu", "pool", "shp", "n", "newshape", "flat", "logits"}
    onnx.save(augmented, str(tmp_path / "aug.onnx"))
    x = np.random.default_rng(1).standard_normal((1, 2, 6, 6)).astype(np.float32)
    return run_onnxruntime(tmp_path / "aug.onnx", {"x": x})


def test_identical_values_report_no_divergence(tmp_path):
    model = _conv_model()
    ref = _reference(model, tmp_path)
    report = compare_per_node(model, {k: v.copy() for k, v in ref.items()}, ref)
    assert report.ok and report.culprit is None and report.divergent_count == 0
    assert report.nodes_checked == 9 and len(report.compared) == 9 and not report.not_compared
    assert [o.name for o in report.outputs] == ["prob"]


def test_first_divergent_node_is_the_culprit(tmp_path):
    """Perturb the Relu output in "ours": Relu is the culprit (its input matched); what follows diverges too."""
    model = _conv_model()
    ref = _reference(model, tmp_path)
    ours = {k: v.copy() for k, v in ref.items()}
    ours["relu"][0, 1, 2, 3] += 0.5
    ours["pool"] = ours["pool"] + 0.25
    ours["logits"] = ours["logits"] * 1.01
    report = compare_per_node(model, ours, ref)
    assert not report.ok
    culprit = report.culprit
    assert culprit is not None and culprit.op_type == "Relu" and culprit.name == "relu0" and culprit.index == 1
    assert culprit.inputs == {"conv": "ok"} and culprit.inputs_match
    assert culprit.outputs[0].max_abs == np.float32(0.5) or abs(culprit.outputs[0].max_abs - 0.5) < 1e-6
    assert [n.name for n in report.divergent] == ["relu0", "pool0", "fc0"]
    assert report.divergent[1].inputs == {"relu": "diverged"} and not report.divergent[1].inputs_match


def test_within_tolerance_and_integer_mismatch(tmp_path):
    model = _conv_model()
    ref = _reference(model, tmp_path)
    ours = {k: v.copy() for k, v in ref.items()}
    scale = float(np.abs(ref["conv"]).max())
    ours["conv"] = ours["conv"] + 0.5e-4 * scale  # inside atol + rtol * scale
    ours["shp"] = ours["shp"] + 1  # integers must match exactly
    report = compare_per_node(model, ours, ref)
    assert report.culprit is not None and report.culprit.op_type == "Shape" and report.divergent_count == 1
    assert report.culprit.outputs[0].max_abs == float("inf")
    assert json.dumps(report.to_json())  # inf is written as null: the report stays JSON


def test_values_ours_lacks_are_not_compared_and_shape_mismatch_diverges(tmp_path):
    model = _conv_model()
    ref = _reference(model, tmp_path)
    ours = {k: v.copy() for k, v in ref.items() if k != "relu"}  # as if fused away
    ours["logits"] = ours["logits"].reshape(5, 1)
    report = compare_per_node(model, ours, ref)
    assert report.not_compared == ["relu"] and len(report.compared) == 8
    assert report.divergent_count == 1
    culprit = report.culprit
    assert culprit is not None and culprit.name == "fc0" and culprit.op_type == "MatMul"
    assert report.divergent[0].outputs[0].max_abs == float("inf")


def test_inputs_fused_away_are_reported(tmp_path):
    """A divergent node whose input ours did not keep: not "inputs match", the input is named."""
    model = _conv_model()
    ref = _reference(model, tmp_path)
    ours = {k: v.copy() for k, v in ref.items() if k != "conv"}
    ours["relu"] = ours["relu"] + 1.0
    report = compare_per_node(model, ours, ref)
    assert report.culprit is not None and report.culprit.name == "relu0"
    assert report.culprit.inputs == {"conv": "not compared"} and not report.culprit.inputs_match


def test_materialized_values_reads_the_backend_plans(tmp_path):
    from webdnn_build.compiler import BuildOptions, compile_model
    from webdnn_build.verify import materialized_values

    path = tmp_path / "conv.onnx"
    _conv_model(path)
    out = compile_model(path, tmp_path / "bundle", BuildOptions(backends=["js"]), lambda m: None).out_dir
    kept = materialized_values(out)
    assert {"x", "prob"} <= kept and "w" not in kept  # inputs/outputs in, constants out


def test_cli_per_node_on_js(tmp_path):
    path = tmp_path / "conv.onnx"
    _conv_model(path, evil_name="\x1b[2J\n*/")
    proc = run_cli("verify", str(path), "--backend", "js", "--per-node", "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["backend"] == "js" and report["culprit"] is None
    # the values the bundle keeps are compared; the Relu fused into the Conv (say) is not
    assert report["comparedCount"] + report["notComparedCount"] + report["notExposedCount"] == 9
    assert report["comparedCount"] >= 4 and report["notExposedCount"] == 0
    assert "prob" in report["compared"] and report["outputs"][0]["name"] == "prob"

    proc = run_cli("verify", str(path), "--backend", "js", "--per-node-all", "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    assert report["comparedCount"] == 9 and report["notComparedCount"] == 0  # every value, fusions off

    proc = run_cli("verify", str(path), "--per-node", "--rtol", "0", "--atol", "0")
    assert proc.returncode == 1, proc.stderr + proc.stdout
    assert "first divergent node" in proc.stdout and "FAILED" in proc.stdout
    assert "\x1b" not in proc.stdout  # the model's names reach the terminal escaped


def test_cli_per_node_text_when_all_match(tmp_path):
    path = tmp_path / "conv.onnx"
    _conv_model(path)
    proc = run_cli("verify", str(path), "--per-node")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "no node diverges" in proc.stdout and "value(s) compared" in proc.stdout

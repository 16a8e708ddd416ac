"""Shape arithmetic folded into webdnn.DimValues (webdnn_build/dim_values.py), and open dims the model computes
from others (``total = past + seq``, learnt from a KV-cache Concat; symshape.py): the graph keeps no Shape chain,
the bundle matches onnxruntime at several sizes on js and wasm, and the runtime refuses feeds whose sizes break
the learnt equation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn_build.cli import parse_input_shape
from webdnn_build.compiler import BuildOptions, compile_model
from webdnn_build.dim_values import DIM_VALUES
from webdnn_build.node import NodeWorker
from webdnn_build.symshape import as_expr
from webdnn_build.verify import run_onnxruntime

from .helpers import save_model


def _reshape_chain(path):
    """y = Reshape(x, [Shape(x)[0] * Shape(x)[1] // 2, -1]) + 1 and z = Range(0, Shape(x)[1], 1) (int64)."""
    n_ = helper.make_node
    nodes = [n_("Shape", ["x"], ["s"]), n_("Gather", ["s", "zero"], ["d0"], axis=0),
             n_("Gather", ["s", "one"], ["d1"], axis=0), n_("Mul", ["d0", "d1"], ["p"]),
             n_("Div", ["p", "two"], ["half"]), n_("Unsqueeze", ["half", "zero1"], ["h1"]),
             n_("Concat", ["h1", "minus1"], ["shape"], axis=0), n_("Reshape", ["x", "shape"], ["r"]),
             n_("Add", ["r", "onef"], ["y"]), n_("Range", ["zero", "d1", "one"], ["z"])]
    inits = [numpy_helper.from_array(np.asarray(v, np.int64), n) for n, v in
             (("zero", 0), ("one", 1), ("two", 2), ("zero1", [0]), ("minus1", [-1]))]
    inits.append(numpy_helper.from_array(np.ones((), np.float32), "onef"))
    return save_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["a", "b", 3])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None]),
                       helper.make_tensor_value_info("z", TensorProto.INT64, [None])], path, initializers=inits)


@pytest.mark.parametrize("backend", ["js", "wasm"])
def test_shape_chains_become_dim_values(tmp_path, backend):
    model = _reshape_chain(tmp_path / "m.onnx")
    result = compile_model(model, tmp_path / "b", BuildOptions(input_shapes=parse_input_shape(["x=2..8,b:1..16,3"]),
                                                               backends=[backend]), log=lambda m: None)
    ops = [(n.domain, n.op_type) for n in result.graph.nodes]
    assert ("", "Shape") not in ops and ("", "Gather") not in ops and ("", "Concat") not in ops, ops
    assert ops.count(DIM_VALUES) == 2, ops  # the Reshape's target and the Range's limit
    dim_node = next(n for n in result.graph.nodes if (n.domain, n.op_type) == DIM_VALUES and n.attrs["scalar"] == 0)
    assert dim_node.attrs["values"] == ["(a*b) // 2", "-1"] and dim_node.inputs == ["x"]
    rng = np.random.default_rng(0)
    with NodeWorker() as worker:
        handle = worker.load(result.out_dir, [backend], None)["handle"]
        for a, b in ((2, 1), (4, 3), (8, 16)):
            feeds = {"x": rng.standard_normal((a, b, 3)).astype(np.float32)}
            outputs, _ = worker.run(handle, feeds, {"x": "float32"})
            ref = run_onnxruntime(model, feeds)
            for name, ours in outputs:
                assert ours.shape == ref[name].shape, (name, ours.shape, ref[name].shape)
                np.testing.assert_array_equal(ours, ref[name])


def _kv_step(path):
    """present = Concat(past, new) along axis 2; scores = MatMul(q, presentᵀ) + mask-derived bias [1, 1, 1, total]:
    the Add broadcasts [.., seq, past + seq] with [.., 1, total], which is only a known shape once
    total = past + seq is known."""
    n_ = helper.make_node
    nodes = [n_("Concat", ["past", "new"], ["present"], axis=2),
             n_("Transpose", ["present"], ["kt"], perm=[0, 1, 3, 2]), n_("MatMul", ["new", "kt"], ["scores"]),
             n_("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT), n_("Unsqueeze", ["maskf", "axes"], ["bias"]),
             n_("Add", ["scores", "bias"], ["y"])]
    inits = [numpy_helper.from_array(np.asarray([1, 2], np.int64), "axes")]
    return save_model(nodes, [helper.make_tensor_value_info("past", TensorProto.FLOAT, [1, 2, "past", 4]),
                              helper.make_tensor_value_info("new", TensorProto.FLOAT, [1, 2, "seq", 4]),
                              helper.make_tensor_value_info("mask", TensorProto.INT64, [1, "total"])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, "seq", "total"]),
                       helper.make_tensor_value_info("present", TensorProto.FLOAT, [1, 2, "total", 4])],
                      path, initializers=inits)


def test_a_dim_the_model_computes_from_others_is_learnt_and_checked(tmp_path):
    model = _kv_step(tmp_path / "kv.onnx")
    specs = ["past=1,2,past:0..15,4", "new=1,2,seq:1..16,4", "mask=1,total:1..16"]
    result = compile_model(model, tmp_path / "b", BuildOptions(input_shapes=parse_input_shape(specs),
                                                               backends=["js", "wasm"]), log=lambda m: None)
    assert result.graph.dim_equals == {"total": as_expr("past") + as_expr("seq")}
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["dims"]["total"] == {"min": 1, "max": 16, "equals": "past + seq"}
    # with the equation, every value has a full shape (the Add's output was unknown before)
    assert all(None not in (v.shape or ()) for v in result.graph.values.values())
    rng = np.random.default_rng(1)
    with NodeWorker() as worker:
        for backend in ("js", "wasm"):
            handle = worker.load(result.out_dir, [backend], None)["handle"]
            for past, seq in ((0, 3), (5, 1)):
                feeds = {"past": rng.standard_normal((1, 2, past, 4)).astype(np.float32),
                         "new": rng.standard_normal((1, 2, seq, 4)).astype(np.float32),
                         "mask": rng.integers(0, 2, (1, past + seq)).astype(np.int64)}
                outputs, _ = worker.run(handle, feeds, {"past": "float32", "new": "float32", "mask": "int64"})
                ref = run_onnxruntime(model, feeds)
                for name, ours in outputs:
                    np.testing.assert_allclose(ours, ref[name], rtol=1e-5, atol=1e-6)
            bad = {"past": np.zeros((1, 2, 2, 4), np.float32), "new": np.zeros((1, 2, 1, 4), np.float32),
                   "mask": np.ones((1, 4), np.int64)}
            with pytest.raises(Exception, match=r"input 'mask' dim 1 \(total\) is 4, but the model computes it as "
                                                r"past \+ seq = 3"):
                worker.run(handle, bad, {"past": "float32", "new": "float32", "mask": "int64"})

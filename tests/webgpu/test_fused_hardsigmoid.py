"""Regression: a HardSigmoid fused into an op whose epilogue is a sum (Conv/Gemm bias, BatchNormalization's
shift) computed ``alpha * v + bias + beta`` instead of ``alpha * (v + bias) + beta``.

Found with ``webdnn-build verify --per-node`` on PaddleOCR's PP-OCRv4 text recognizer (the
squeeze-excitation blocks of its PP-LCNetV3 stem: GlobalAveragePool, Conv + Relu, Conv + HardSigmoid
with alpha 1/6, Mul), whose webgpu probabilities were up to 0.125 off while js and wasm matched.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conformance.test_webgpu import _adapter
from tests.helpers import requires, run_cli

from .common import build

RNG = np.random.default_rng(0)
HS = {"alpha": 1.0 / 6.0, "beta": 0.5}  # PaddlePaddle's hardsigmoid (ONNX's default alpha is 0.2)


def _model(nodes, inputs, output, out_shape, inits) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, out_shape)],
        initializer=[numpy_helper.from_array(a.astype(np.float32), n) for n, a in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def se_block() -> onnx.ModelProto:
    """PP-LCNetV3's squeeze-excitation: the bias is large next to the conv sum, as in the trained model."""
    c, r = 48, 12
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
        helper.make_node("Conv", ["pooled", "w1", "b1"], ["c1"], kernel_shape=[1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[1, 1]),
        helper.make_node("HardSigmoid", ["c2"], ["gate"], **HS),
        helper.make_node("Mul", ["x", "gate"], ["y"]),
    ]
    inits = {"w1": RNG.standard_normal((r, c, 1, 1)) * 0.3, "b1": RNG.standard_normal(r) * 0.5,
             "w2": RNG.standard_normal((c, r, 1, 1)) * 0.3, "b2": RNG.standard_normal(c) * 2.0}
    return _model(nodes, {"x": [1, c, 6, 20]}, "y", [1, c, 6, 20], inits)


def conv3x3() -> onnx.ModelProto:
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("HardSigmoid", ["c"], ["y"], **HS)]
    inits = {"w": RNG.standard_normal((8, 4, 3, 3)) * 0.3, "b": RNG.standard_normal(8) * 2.0}
    return _model(nodes, {"x": [1, 4, 9, 11]}, "y", [1, 8, 9, 11], inits)


def gemm() -> onnx.ModelProto:
    nodes = [helper.make_node("Gemm", ["x", "w", "c"], ["g"], alpha=0.5, transB=1),
             helper.make_node("HardSigmoid", ["g"], ["y"], **HS)]
    inits = {"w": RNG.standard_normal((24, 40)) * 0.3, "c": RNG.standard_normal(24) * 2.0}
    return _model(nodes, {"x": [5, 40]}, "y", [5, 24], inits)


def batchnorm() -> onnx.ModelProto:
    """A BatchNormalization on a graph input (nothing to fold it into), then HardSigmoid."""
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "t", "mean", "var"], ["bn"]),
             helper.make_node("HardSigmoid", ["bn"], ["y"], **HS)]
    inits = {"s": RNG.uniform(0.5, 2.0, 6), "t": RNG.standard_normal(6) * 2.0, "mean": RNG.standard_normal(6) * 0.1,
             "var": RNG.uniform(0.5, 1.5, 6)}
    return _model(nodes, {"x": [2, 6, 5, 7]}, "y", [2, 6, 5, 7], inits)


CASES = {"se_block": (se_block, "Conv"), "conv3x3": (conv3x3, "Conv"), "gemm": (gemm, "Gemm"),
         "batchnorm": (batchnorm, "BatchNormalization")}


@pytest.mark.parametrize("case", CASES)
def test_hardsigmoid_is_fused_into_the_op(tmp_path, case):
    """The configuration under test: no HardSigmoid kernel of its own (needs no GPU)."""
    make, op = CASES[case]
    _, plan = build(tmp_path, make())
    ops = [s["gpu"]["op"] for s in plan["steps"] if "gpu" in s]
    assert "HardSigmoid" not in ops and op in ops, ops


@requires(None if _adapter() else "no WebGPU adapter in Node (eval \"$(tools/setup-webgpu.sh)\")")
@pytest.mark.parametrize("case", CASES)
def test_fused_hardsigmoid_matches_onnxruntime_on_webgpu(tmp_path: Path, case):
    path = tmp_path / f"{case}.onnx"
    onnx.save(CASES[case][0](), str(path))
    proc = run_cli("verify", str(path), "--backend", "webgpu", "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    (out,) = json.loads(proc.stdout)["outputs"]
    assert out["ok"] and out["max_abs"] <= 1e-5 + 1e-4 * out["scale"], out

"""The wasm backend runs quantized MatMuls as integer products (qdq_matmul.py): the QDQ form
(MatMul of two DequantizeLinear outputs, int8 weights per tensor or per column) and the dynamic form
(Mul(Cast(MatMulInteger), a_scale * w_scale)) become com.microsoft MatMulIntegerToFloat, a following
constant bias Add included. Checked: the rewrite happens (build log), every op runs in wasm, and the
outputs match onnxruntime at basic optimizations (the graph as written): the dynamic form bit for bit
(the same float steps), the QDQ form within the float tolerance (the integer sum is exact, the float
product it replaces is not)."""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from onnx import helper

from tests.templates.native_op import check_native_op, one_node_model
from webdnn_build.compiler import BuildOptions, compile_model

# K not a multiple of 8, N not of 4; K * N * 4 bytes over fold_constants' DEQUANTIZE_FOLD_MAX_BYTES (64 KiB),
# so that the weights stay int8 (smaller weights are folded to float32 constants before the backend sees them)
K, N = 133, 131


def _weights(rng, per_column: bool):
    w = rng.integers(-128, 128, (K, N)).astype(np.int8)
    scale = (rng.uniform(0.01, 0.05, N) if per_column else np.array(0.02)).astype(np.float32)
    zp = np.zeros(N, np.int8) if per_column else np.int8(0)
    return w, scale, zp


def _rewrites(tmp_path, nodes, inputs, inits) -> int:
    model = one_node_model(nodes, inputs, inits, opset=17)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    logs: list[str] = []
    compile_model(path, tmp_path / "b", BuildOptions(backends=["wasm"]), logs.append)
    line = next(m for m in logs if m.startswith("wasm:"))
    found = re.search(r"(\d+) quantized MatMuls as MatMulIntegerToFloat", line)
    return int(found.group(1)) if found else 0


@pytest.mark.parametrize("per_column", [False, True], ids=["per-tensor", "per-column"])
@pytest.mark.parametrize("a_dtype", [np.uint8, np.int8])
def test_qdq_matmul_runs_as_integer_product(tmp_path, per_column, a_dtype):
    rng = np.random.default_rng(3)
    w, w_scale, w_zp = _weights(rng, per_column)
    inits = {"w": w, "w_scale": w_scale, "w_zp": w_zp, "x_scale": np.float32(0.05),
             "x_zp": np.array(128 if a_dtype == np.uint8 else 3, a_dtype), "bias": rng.standard_normal(N).astype(np.float32)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w", "w_scale", "w_zp"], ["wd"], axis=1),
             helper.make_node("MatMul", ["xd", "wd"], ["mm"]),
             helper.make_node("Add", ["mm", "bias"], ["y"])]
    x = {"x": (rng.standard_normal((2, 9, K)) * 3).astype(np.float32)}
    assert _rewrites(tmp_path / "build", nodes, x, inits) == 1
    check_native_op(tmp_path, nodes, x, "wasm", initializers=inits, reference_level="basic")


def test_dynamic_quantized_matmul_matches_onnxruntime_exactly(tmp_path):
    rng = np.random.default_rng(4)
    w, w_scale, w_zp = _weights(rng, False)
    inits = {"w": w, "w_scale": w_scale, "w_zp": w_zp, "bias": rng.standard_normal(N).astype(np.float32)}
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("MatMulInteger", ["xq", "w", "xz", "w_zp"], ["acc"]),
             helper.make_node("Cast", ["acc"], ["accf"], to=1),
             helper.make_node("Mul", ["xs", "w_scale"], ["s"]),
             helper.make_node("Mul", ["accf", "s"], ["mm"]),
             helper.make_node("Add", ["mm", "bias"], ["y"])]
    x = {"x": (rng.standard_normal((3, 11, K)) * 2).astype(np.float32)}
    assert _rewrites(tmp_path / "build", nodes, x, inits) == 1
    check_native_op(tmp_path, nodes, x, "wasm", initializers=inits, rtol=0.0, atol=0.0, reference_level="basic")

"""A native op's test, written from tests/templates/native_op.py (copy this file for a new op).

This one checks what webdnn_build.opdecl promises every backend: ops whose attributes the model leaves
to their declared defaults, and every fused-activation kind of the contract (fused into a Gemm by the
default passes, its parameters written by fuse_activation), run on each backend's own kernels (js,
wasm, webgpu) and match onnxruntime (rtol 1e-4, atol 1e-5 of the output's scale).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from webdnn_build.opdecl import ACTIVATION_KINDS

from .native_op import BACKENDS, check_native_op

RNG = np.random.default_rng(0)


def _f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ops_left_to_their_declared_defaults(tmp_path, backend):
    """No attribute given: LeakyRelu's alpha, HardSigmoid's alpha and beta, LayerNormalization's axis and
    epsilon, Softmax's axis (opset 17: -1), Gemm's alpha, beta, transA, transB come from the declaration."""
    nodes = [
        helper.make_node("LeakyRelu", ["x"], ["leaky"]),
        helper.make_node("HardSigmoid", ["x"], ["hard"]),
        helper.make_node("LayerNormalization", ["x", "scale", "bias"], ["norm"]),
        helper.make_node("Softmax", ["x"], ["soft"]),
        helper.make_node("Gemm", ["x", "w", "c"], ["gemm"]),
    ]
    inputs = {"x": _f32(4, 8)}
    consts = {"scale": _f32(8), "bias": _f32(8), "w": _f32(8, 5), "c": _f32(5)}
    check_native_op(tmp_path, nodes, inputs, backend, initializers=consts, passes=[])


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_fused_activation_kind(tmp_path, backend):
    """One Gemm per kind, each followed by its activation with the attributes left out (Clip: constant
    bounds); the default passes fuse every one into its Gemm."""
    nodes, consts = [], {"w": _f32(8, 6), "lo": np.float32(-0.25), "hi": np.float32(0.5)}
    for k, kind in enumerate(ACTIVATION_KINDS):
        nodes.append(helper.make_node("Gemm", ["x", "w"], [f"g{k}"]))
        bounds = ["lo", "hi"] if kind == "Clip" else []
        nodes.append(helper.make_node(kind, [f"g{k}", *bounds], [f"y{k}"]))
    nodes.append(helper.make_node("Identity", ["y0"], ["last"]))
    # opset 24: the newest kind, Swish, is an opset-24 op (onnxruntime runs the model as written)
    entry = check_native_op(tmp_path, nodes, {"x": _f32(3, 8)}, backend, initializers=consts, opset=24)
    if backend != "js":  # (the js backend's placement counts all its ops as native)
        assert entry["placement"]["native"] <= len(ACTIVATION_KINDS) + 1, entry["placement"]  # fused: Gemm ops only

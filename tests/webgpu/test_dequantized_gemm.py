"""A Gemm whose weight is DequantizeLinear(constant int8/uint8, per-tensor scale, zero point), as the QDQ exports
of AlexNet / ZFNet-512 / VGG-19 have it, runs as one GPU kernel that reads the 8-bit weight (split across
bindings when large) and dequantizes on load: no float copy of the weight exists, so a 151-411 MB
dequantized weight no longer exceeds the 128 MiB binding limit. Numbers match numpy (the same f32 product
of dequantized values) within 1e-4 relative."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from webdnn_build_webgpu.wgsl import base as wgsl_base

from . import wgpu_runner
from .common import build, check_plan, model, needs_gpu

RNG = np.random.default_rng(3)
NO_FOLDING = ["fuse_activation"]


def _qdq_gemm(wdtype: str, n: int = 64, k: int = 40):
    info = np.iinfo(wdtype)
    wq = RNG.integers(info.min, info.max + 1, (n, k)).astype(wdtype)
    scale, zero = np.float32(0.02), np.array(3 if wdtype == "int8" else 130, dtype=wdtype)
    bias = RNG.standard_normal(n).astype(np.float32)
    nodes = [helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"]),
             helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
             helper.make_node("Relu", ["g"], ["y"])]
    m = model(nodes, {"x": (3, k)}, {"y": (3, n)}, {"wq": wq, "ws": scale, "wz": zero, "b": bias})
    w = (wq.astype(np.float32) - np.float32(zero)) * scale
    return m, w, bias


@pytest.mark.parametrize("wdtype", ["int8", "uint8"])
def test_dequantized_weight_is_read_by_the_gemm(tmp_path, monkeypatch, wdtype):
    # a 4 KiB binding limit: the 64x40 float weight (10 KiB) would not fit one; its int8 form is split in parts
    monkeypatch.setattr(wgsl_base, "MAX_BINDING_BYTES", 4096)
    m, w, bias = _qdq_gemm(wdtype)
    # no constant folding (it would fold this small DequantizeLinear; the models' weights exceed its 16 MB limit)
    bundle, plan = build(tmp_path, m, passes=NO_FOLDING)
    check_plan(plan, max_binding=4096)
    assert "cpu" not in {k for s in plan["steps"] for k in s}, plan["steps"]
    assert [s["gpu"]["op"] for s in plan["steps"]] == ["Gemm"]
    wv = next(v for v in plan["values"] if v["name"] == "wq")
    assert len(wv["gpu"]["parts"]) >= 2
    needs_gpu()
    x = RNG.standard_normal((3, 40)).astype(np.float32)
    out = wgpu_runner.PlanRunner(bundle).run({"x": x})
    np.testing.assert_allclose(out["y"], np.maximum(x @ w.T + bias, 0), rtol=1e-4, atol=1e-5)


def test_per_channel_dequantize_stays_a_separate_op(tmp_path):
    m, _, _ = _qdq_gemm("int8")
    init = {i.name: i for i in m.graph.initializer}
    init["ws"].CopyFrom(numpy_helper.from_array(np.full(64, 0.02, np.float32), "ws"))
    init["wz"].CopyFrom(numpy_helper.from_array(np.full(64, 3, np.int8), "wz"))
    m.graph.node[0].attribute.append(helper.make_attribute("axis", 0))
    _, plan = build(tmp_path, m, passes=NO_FOLDING)
    assert [s["gpu"]["op"] for s in plan["steps"] if "gpu" in s] == ["DequantizeLinear", "Gemm"]

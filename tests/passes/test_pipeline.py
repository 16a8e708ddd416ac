"""The default pipeline end to end on a small exporter-style graph (rtol 1e-5, atol 1e-5)."""

from __future__ import annotations

import numpy as np

from webdnn_build.registry import PassContext, Registry
from webdnn_build_optimize import plugin
from webdnn_build_optimize.onnx_bridge import graph_to_model

from .graphs import GraphBuilder, assert_equivalent, check_values, op_types, random_feeds


def test_default_pipeline_reduces_conv_bn_relu_flatten_gemm() -> None:
    rng = np.random.default_rng(3)
    b = GraphBuilder(opset=17)
    x = b.input("x", (2, 3, 6, 6))
    w = b.op("Identity", [b.const(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))])
    c = b.op("Conv", [x, w], pads=[1, 1, 1, 1])
    bn = b.op("BatchNormalization", [c, *(b.const(rng.uniform(0.5, 1.5, 4).astype(np.float32)) for _ in range(4))])
    r = b.op("Relu", [bn])
    d = b.op("Dropout", [r])
    s = b.op("Shape", [d])
    n = b.op("Unsqueeze", [b.op("Gather", [s, b.const(np.array(0, np.int64))]), b.const(np.array([0], np.int64))])
    flat = b.op("Reshape", [d, b.op("Concat", [n, b.const(np.array([-1], np.int64))], axis=0)])
    gemm = b.op("Gemm", [flat, b.const(rng.standard_normal((10, 144)).astype(np.float32))], transB=1)
    y = b.op("Clip", [gemm, b.const(np.float32(0)), b.const(np.float32(6))], name="y")
    b.output(y)
    g = b.build()
    before = graph_to_model(g)

    reg = Registry()
    plugin.webdnn_register_passes(registry=reg)
    lines: list[str] = []
    ctx = PassContext(log=lines.append)
    for pass_id in reg.default_pipeline():
        reg.passes[pass_id].run(g, ctx)

    assert op_types(g) == ["Conv", "Reshape", "Gemm"]
    assert g.nodes[0].attrs["fused_activation"] == "Relu"
    assert g.nodes[2].attrs["fused_activation"] == "Clip" and g.nodes[2].outputs == ["y"]
    check_values(g)
    assert_equivalent(before, g, random_feeds(g), rtol=1e-5, atol=1e-5)

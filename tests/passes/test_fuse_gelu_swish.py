"""fuse_gelu / fuse_swish: the exporters' elementwise spellings of GELU, SiLU and QuickGELU become one op, the
graph computes the same (onnxruntime before/after, atol 1e-5), and chains with an extra reader or another
constant are left alone."""

from __future__ import annotations

import math

import numpy as np
import pytest

from webdnn_build_optimize.onnx_bridge import graph_to_model
from webdnn_build_optimize.passes import fuse_gelu, fuse_swish

from .graphs import GraphBuilder, assert_equivalent, check_values, ctx, op_types, random_feeds

# opset 24: onnxruntime runs the fused Gelu (opset 20) and Swish (opset 24) of the result
OPSET = 24


def _gelu_graph(order: str, extra_reader: bool = False, sqrt2: float = math.sqrt(2.0)):
    b = GraphBuilder(OPSET)
    x = b.input("x", (2, 3, 16))
    if order == "mul_inv_sqrt2":
        d = b.op("Mul", [x, b.const(np.float32(1 / sqrt2))])
    else:
        d = b.op("Div", [x, b.const(np.float32(sqrt2))])
    e = b.op("Erf", [d])
    a = b.op("Add", [b.const(np.float32(1.0)), e])
    if order == "dynamo":            # x * (0.5 * (1 + erf))
        y = b.op("Mul", [x, b.op("Mul", [b.const(np.float32(0.5)), a])])
    elif order == "half_first":      # (0.5 * x) * (1 + erf)
        y = b.op("Mul", [b.op("Mul", [x, b.const(np.float32(0.5))]), a])
    else:                            # (x * (1 + erf)) * 0.5
        y = b.op("Mul", [b.op("Mul", [x, a]), b.const(np.float32(0.5))])
    b.output(y)
    if extra_reader:
        b.output(e)
    return b.build()


@pytest.mark.parametrize("order", ["dynamo", "legacy", "half_first", "mul_inv_sqrt2"])
def test_gelu_chain_becomes_one_gelu(order):
    g = _gelu_graph(order)
    before = graph_to_model(g)
    feeds = random_feeds(g)
    assert fuse_gelu.run(g, ctx())
    assert op_types(g) == ["Gelu"] and g.nodes[0].attrs == {"approximate": "none"}
    check_values(g)
    assert_equivalent(before, g, feeds)


@pytest.mark.parametrize("kwargs", [{"extra_reader": True}, {"sqrt2": 1.5}])
def test_gelu_chain_with_another_reader_or_constant_stays(kwargs):
    g = _gelu_graph("dynamo", **kwargs)
    ops = op_types(g)
    assert not fuse_gelu.run(g, ctx()) and op_types(g) == ops


@pytest.mark.parametrize("alpha", [None, 1.702])
def test_silu_and_quickgelu_become_swish(alpha):
    b = GraphBuilder(OPSET)
    x = b.input("x", (2, 8, 5, 5))
    z = x if alpha is None else b.op("Mul", [b.const(np.float32(alpha)), x])
    y = b.op("Mul", [b.op("Sigmoid", [z]), x])
    b.output(b.op("Relu", [y]))
    g = b.build()
    before, feeds = graph_to_model(g), random_feeds(g)
    assert fuse_swish.run(g, ctx())
    assert op_types(g) == ["Swish", "Relu"]
    assert g.nodes[0].attrs["alpha"] == pytest.approx(alpha or 1.0, rel=1e-7)
    check_values(g)
    assert_equivalent(before, g, feeds)


def test_sigmoid_read_twice_or_gating_another_tensor_stays():
    b = GraphBuilder(OPSET)
    x, u = b.input("x", (4, 6)), b.input("u", (4, 6))
    s = b.op("Sigmoid", [x])
    b.output(b.op("Mul", [s, u]))        # a gate on another tensor (GLU-style), not SiLU
    s2 = b.op("Sigmoid", [u])
    b.output(b.op("Mul", [s2, u]), s2)   # SiLU whose sigmoid is also a graph output
    g = b.build()
    ops = op_types(g)
    assert not fuse_swish.run(g, ctx()) and op_types(g) == ops

"""fold_batchnorm: one pass applied, structure checked, outputs compared with onnxruntime (rtol 1e-5, atol 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest

from webdnn_build_optimize.onnx_bridge import graph_to_model
from webdnn_build_optimize.passes import fold_batchnorm

from .graphs import GraphBuilder, assert_equivalent, check_values, ctx, op_types, random_feeds

TOL = dict(rtol=1e-5, atol=1e-5)
rng = np.random.default_rng(42)


def _f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def _bn_params(b: GraphBuilder, c: int) -> list[str]:
    return [b.const(_f32(c)), b.const(_f32(c)), b.const(_f32(c)), b.const(rng.uniform(0.5, 2.0, c).astype(np.float32))]


@pytest.mark.parametrize("with_bias,group", [(True, 1), (False, 1), (True, 2)])
def test_folds_into_conv(with_bias: bool, group: int) -> None:
    b = GraphBuilder(opset=17)
    x = b.input("x", (2, 4, 8, 8))
    w = b.const(_f32(6, 4 // group, 3, 3), "w")
    conv_in = [x, w] + ([b.const(_f32(6), "bias")] if with_bias else [])
    c = b.op("Conv", conv_in, name="conv", pads=[1, 1, 1, 1], group=group)
    y = b.op("BatchNormalization", [c, *_bn_params(b, 6)], name="y", epsilon=1e-3)
    b.output(y)
    g = b.build()
    before = graph_to_model(g)

    assert fold_batchnorm.run(g, ctx())

    assert op_types(g) == ["Conv"]
    conv = g.nodes[0]
    assert conv.outputs == ["y"] and len(conv.inputs) == 3 and g.values["y"].shape == (2, 6, 8, 8)
    assert g.values[conv.inputs[1]].const.dtype == np.float32
    check_values(g)
    assert_equivalent(before, g, random_feeds(g), **TOL)


@pytest.mark.parametrize("trans_b,c_shape", [(0, None), (1, (5,)), (0, (3, 5)), (1, ())])
def test_folds_into_gemm(trans_b: int, c_shape: tuple[int, ...] | None) -> None:
    b = GraphBuilder(opset=17)
    a = b.input("a", (3, 7))
    w = b.const(_f32(5, 7) if trans_b else _f32(7, 5), "B")
    inputs = [a, w] + ([b.const(_f32(*c_shape), "C")] if c_shape is not None else [])
    gm = b.op("Gemm", inputs, name="gemm", transB=trans_b, alpha=0.7, beta=1.3)
    y = b.op("BatchNormalization", [gm, *_bn_params(b, 5)], name="y")
    b.output(y)
    g = b.build()
    before = graph_to_model(g)

    assert fold_batchnorm.run(g, ctx())

    assert op_types(g) == ["Gemm"] and g.nodes[0].outputs == ["y"]
    check_values(g)
    assert_equivalent(before, g, random_feeds(g), **TOL)


def test_carries_a_fused_activation_over() -> None:
    b = GraphBuilder(opset=17)
    x = b.input("x", (1, 2, 4, 4))
    c = b.op("Conv", [x, b.const(_f32(3, 2, 1, 1))], name="conv")
    y = b.op("BatchNormalization", [c, *_bn_params(b, 3)], name="y", fused_activation="Relu")
    b.output(y)
    g = b.build()
    before = graph_to_model(g)

    assert fold_batchnorm.run(g, ctx())
    assert g.nodes[0].attrs["fused_activation"] == "Relu"
    assert_equivalent(before, g, random_feeds(g), **TOL)


def test_conv_output_with_two_consumers_is_not_folded() -> None:
    """Negative: the Conv result is also read by a Relu, so its weights must stay."""
    b = GraphBuilder(opset=17)
    x = b.input("x", (1, 2, 4, 4))
    c = b.op("Conv", [x, b.const(_f32(3, 2, 1, 1))], name="conv")
    y = b.op("BatchNormalization", [c, *_bn_params(b, 3)], name="y")
    r = b.op("Relu", [c], name="r")
    b.output(y, r)
    g = b.build()
    assert not fold_batchnorm.run(g, ctx())
    assert op_types(g) == ["Conv", "BatchNormalization", "Relu"]


def test_unfoldable_cases_stay() -> None:
    """Negative: BN params from a graph input, Conv weight from a graph input, a Conv with a fused activation,
    and a standalone BN."""
    b = GraphBuilder(opset=17)
    x = b.input("x", (1, 2, 4, 4))
    mean = b.input("mean", (3,))
    wdyn = b.input("w", (3, 2, 1, 1))
    p = _bn_params(b, 3)
    c1 = b.op("Conv", [x, b.const(_f32(3, 2, 1, 1))])
    y1 = b.op("BatchNormalization", [c1, p[0], p[1], mean, p[3]], name="y1")
    c2 = b.op("Conv", [x, wdyn])
    y2 = b.op("BatchNormalization", [c2, *p], name="y2")
    c3 = b.op("Conv", [x, b.const(_f32(3, 2, 1, 1))], fused_activation="Relu")
    y3 = b.op("BatchNormalization", [c3, *p], name="y3")
    y4 = b.op("BatchNormalization", [x, *_bn_params(b, 2)], name="y4")
    b.output(y1, y2, y3, y4)
    g = b.build()
    ops = op_types(g)

    assert not fold_batchnorm.run(g, ctx())
    assert op_types(g) == ops

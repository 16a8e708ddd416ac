"""fuse_activation: one pass applied, the attribute contract checked, outputs compared with onnxruntime
(rtol 1e-6, atol 1e-6; the bridge turns the fused attributes back into an activation node)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from webdnn_build_optimize.onnx_bridge import graph_to_model
from webdnn_build_optimize.passes import fuse_activation

from .graphs import GraphBuilder, assert_equivalent, check_values, ctx, op_types, random_feeds

TOL = dict(rtol=1e-6, atol=1e-6)
rng = np.random.default_rng(7)
F32_MAX = float(np.finfo(np.float32).max)


def _conv(b: GraphBuilder) -> str:
    x = b.input("x", (1, 2, 5, 5))
    return b.op("Conv", [x, b.const(rng.standard_normal((3, 2, 3, 3)).astype(np.float32))], name="p", pads=[1, 1, 1, 1])


def _conv_transpose(b: GraphBuilder) -> str:
    x = b.input("x", (1, 2, 4, 4))
    return b.op("ConvTranspose", [x, b.const(rng.standard_normal((2, 3, 2, 2)).astype(np.float32))], name="p", strides=[2, 2])


def _gemm(b: GraphBuilder) -> str:
    a = b.input("a", (3, 4))
    return b.op("Gemm", [a, b.const(rng.standard_normal((4, 6)).astype(np.float32))], name="p")


def _matmul(b: GraphBuilder) -> str:
    a = b.input("a", (2, 3, 4))
    return b.op("MatMul", [a, b.const(rng.standard_normal((4, 5)).astype(np.float32))], name="p")


def _add(b: GraphBuilder) -> str:
    return b.op("Add", [b.input("a", (2, 6)), b.input("c", (6,))], name="p")


def _batchnorm(b: GraphBuilder) -> str:
    x = b.input("x", (2, 3, 4))
    params = [b.const(rng.uniform(0.5, 1.5, 3).astype(np.float32)) for _ in range(4)]
    return b.op("BatchNormalization", [x, *params], name="p")


PRODUCERS: dict[str, Callable[[GraphBuilder], str]] = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "Gemm": _gemm, "MatMul": _matmul,
    "Add": _add, "BatchNormalization": _batchnorm,
}

# (activation op, its attributes, extra constant inputs, expected fused attributes)
ACTIVATIONS: list[tuple[str, dict[str, Any], list[Any], dict[str, Any]]] = [
    ("Relu", {}, [], {"fused_activation": "Relu"}),
    ("LeakyRelu", {"alpha": 0.2}, [], {"fused_activation": "LeakyRelu", "fused_activation_alpha": 0.2}),
    ("LeakyRelu", {}, [], {"fused_activation": "LeakyRelu", "fused_activation_alpha": 0.01}),
    ("Clip", {}, [np.float32(0.0), np.float32(6.0)], {"fused_activation": "Clip", "fused_activation_min": 0.0, "fused_activation_max": 6.0}),
    ("Clip", {}, [np.float32(-1.0)], {"fused_activation": "Clip", "fused_activation_min": -1.0, "fused_activation_max": F32_MAX}),
    ("Clip", {}, [None, np.float32(0.5)], {"fused_activation": "Clip", "fused_activation_min": -F32_MAX, "fused_activation_max": 0.5}),
    ("Sigmoid", {}, [], {"fused_activation": "Sigmoid"}),
    ("Tanh", {}, [], {"fused_activation": "Tanh"}),
    ("HardSigmoid", {"alpha": 0.3}, [], {"fused_activation": "HardSigmoid", "fused_activation_alpha": 0.3, "fused_activation_beta": 0.5}),
]


def _fused_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if k.startswith("fused_activation")}


@pytest.mark.parametrize("producer", list(PRODUCERS))
@pytest.mark.parametrize("act,attrs,extra,expected", ACTIVATIONS, ids=lambda v: v if isinstance(v, str) else None)
def test_fuses(producer: str, act: str, attrs: dict[str, Any], extra: list[Any], expected: dict[str, Any]) -> None:
    b = GraphBuilder(opset=17)
    p = PRODUCERS[producer](b)
    inputs = [p] + ["" if e is None else b.const(np.asarray(e)) for e in extra]
    y = b.op(act, inputs, name="y", **attrs)
    b.output(y)
    g = b.build()
    before = graph_to_model(g)

    assert fuse_activation.run(g, ctx())

    assert op_types(g) == [producer]
    node = g.nodes[0]
    assert node.outputs[0] == "y"
    got = _fused_attrs(node.attrs)
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-6) if isinstance(v, float) else got[k] == v
    assert g.values["y"].dtype == "float32" and g.values["y"].shape == before_shape(before, "y")
    check_values(g)
    assert_equivalent(before, g, random_feeds(g), **TOL)


def before_shape(model: Any, name: str) -> tuple[int, ...]:
    out = next(o for o in model.graph.output if o.name == name)
    return tuple(d.dim_value for d in out.type.tensor_type.shape.dim)


def test_clip_bounds_as_attributes_before_opset_11() -> None:
    b = GraphBuilder(opset=10)
    p = b.op("Add", [b.input("a", (2, 6)), b.input("c", (2, 6))], name="p")
    b.output(b.op("Clip", [p], name="y", min=-0.5, max=0.5))
    g = b.build()
    before = graph_to_model(g)

    assert fuse_activation.run(g, ctx())
    assert _fused_attrs(g.nodes[0].attrs) == {"fused_activation": "Clip", "fused_activation_min": -0.5, "fused_activation_max": 0.5}
    assert_equivalent(before, g, random_feeds(g), **TOL)


def test_negative_cases_are_not_fused() -> None:
    """Negative: a producer with two readers, a producer writing a graph output, a producer that already has an
    activation, a Clip with a run-time bound, an integer Add, and a Relu after an unsupported producer."""
    b = GraphBuilder(opset=17)
    a = b.input("a", (2, 4))
    lo = b.input("lo", ())
    ia = b.input("ia", (2, 4), dtype="int32")
    w = b.const(rng.standard_normal((4, 4)).astype(np.float32))
    m1 = b.op("MatMul", [a, w])
    r1 = b.op("Relu", [m1], name="r1")
    s1 = b.op("Sigmoid", [m1], name="s1")              # second reader of m1
    m2 = b.op("MatMul", [a, w], name="m2")              # graph output
    r2 = b.op("Relu", [m2], name="r2")
    m3 = b.op("MatMul", [a, w], fused_activation="Tanh")      # already fused
    r3 = b.op("Relu", [m3], name="r3")
    m4 = b.op("MatMul", [a, w])
    c4 = b.op("Clip", [m4, lo], name="c4")              # bound from a graph input
    i5 = b.op("Add", [ia, ia])
    r5 = b.op("Relu", [i5], name="r5")                  # integer producer
    e6 = b.op("Exp", [a])
    r6 = b.op("Relu", [e6], name="r6")                  # Exp is no producer of fused activations
    b.output(r1, s1, m2, r2, r3, c4, r5, r6)
    g = b.build()
    ops = op_types(g)

    assert not fuse_activation.run(g, ctx())
    assert op_types(g) == ops

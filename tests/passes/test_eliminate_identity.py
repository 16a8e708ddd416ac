"""eliminate_identity: one pass applied, structure checked, outputs compared with onnxruntime (exact)."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from webdnn_build_optimize.onnx_bridge import graph_to_model
from webdnn_build_optimize.passes import eliminate_identity

from .graphs import GraphBuilder, assert_equivalent, check_values, ctx, op_types, random_feeds

TOL = dict(rtol=0, atol=0)  # nothing is recomputed: results must be identical


def test_removes_identity_dropout_and_noop_cast() -> None:
    b = GraphBuilder(opset=17)
    x = b.input("x", (2, 3))
    a = b.op("Identity", [x])
    r = b.op("Relu", [a])
    d = b.op("Dropout", [r, b.const(np.array(0.3, np.float32))])
    c = b.op("Cast", [d], to=TensorProto.FLOAT)
    y = b.op("Exp", [c], name="y")
    b.output(y)
    g = b.build()
    before = graph_to_model(g)

    assert eliminate_identity.run(g, ctx())

    assert op_types(g) == ["Relu", "Exp"]
    assert g.nodes[0].inputs == ["x"] and g.nodes[1].inputs == [g.nodes[0].outputs[0]]
    check_values(g)
    assert_equivalent(before, g, random_feeds(g), **TOL)


def test_graph_output_keeps_its_name() -> None:
    b = GraphBuilder()
    x = b.input("x", (4,))
    r = b.op("Relu", [x], name="r")
    s = b.op("Sigmoid", [r], name="s")  # a second reader of r
    y = b.op("Identity", [r], name="y")
    b.output(y, s)
    g = b.build()
    before = graph_to_model(g)

    assert eliminate_identity.run(g, ctx())

    assert op_types(g) == ["Relu", "Sigmoid"]
    assert g.outputs == ["y", "s"]
    assert g.nodes[0].outputs == ["y"] and g.nodes[1].inputs == ["y"]
    assert g.values["y"].shape == (4,) and g.values["y"].dtype == "float32"
    check_values(g)
    assert_equivalent(before, g, random_feeds(g), **TOL)


def test_dropout_with_constant_false_training_mode() -> None:
    b = GraphBuilder(opset=13)
    x = b.input("x", (3, 3))
    d = b.op("Dropout", [x, b.const(np.array(0.5, np.float32)), b.const(np.array(False))])
    y = b.op("Neg", [d], name="y")
    b.output(y)
    g = b.build()
    before = graph_to_model(g)

    assert eliminate_identity.run(g, ctx())
    assert op_types(g) == ["Neg"]
    check_values(g)
    assert_equivalent(before, g, random_feeds(g), **TOL)


def test_cast_like_same_dtype() -> None:
    b = GraphBuilder(opset=15)
    x = b.input("x", (3,))
    c = b.op("CastLike", [x, b.const(np.zeros(1, np.float32))])
    y = b.op("Abs", [c], name="y")
    b.output(y)
    g = b.build()
    before = graph_to_model(g)
    assert eliminate_identity.run(g, ctx())
    assert op_types(g) == ["Abs"]
    assert_equivalent(before, g, random_feeds(g), **TOL)


def test_keeps_what_is_not_a_passthrough() -> None:
    """Negative: a real Cast, a Dropout whose mask is read, and a non-constant training_mode stay."""
    b = GraphBuilder(opset=17)
    x = b.input("x", (2, 2))
    t = b.input("train", (), dtype="bool")
    c = b.op("Cast", [x], to=TensorProto.INT32)
    d, mask = b.op("Dropout", [x], n_out=2)
    e = b.op("Dropout", [x, "", t])
    b.output(c, d, mask, e)
    g = b.build()
    nodes = [n.op_type for n in g.nodes]

    assert not eliminate_identity.run(g, ctx())
    assert op_types(g) == nodes


def test_keeps_identity_from_graph_input_to_graph_output() -> None:
    """Negative: the graph output name cannot move onto a graph input."""
    b = GraphBuilder()
    x = b.input("x", (2,))
    y = b.op("Identity", [x], name="y")
    b.output(y)
    g = b.build()
    assert not eliminate_identity.run(g, ctx())
    assert op_types(g) == ["Identity"] and g.outputs == ["y"]

"""refine_shapes and the fold pipeline on what torch's exporters leave: dims import left open get static
once their inputs fold; outputs compared with onnxruntime (rtol 1e-6, atol 1e-6)."""

from __future__ import annotations

import numpy as np

from webdnn_build_optimize.onnx_bridge import graph_to_model
from webdnn_build_optimize.passes import fold_constants, fold_shapes_and_constants, refine_shapes

from .graphs import GraphBuilder, assert_equivalent, check_values, ctx, op_types, random_feeds

TOL = dict(rtol=1e-6, atol=1e-6)


def test_fills_open_dims_of_nodes_with_static_inputs() -> None:
    b = GraphBuilder(opset=17)
    x = b.input("x", (1, 12, 16, 32))
    s = b.const(np.float32(0.5), "s")  # a 0-d constant: inference must see it as a scalar
    y = b.op("Mul", [x, s], name="y", out_shape=(1, "unk__4", 16, 32), out_dtype="float32")
    z = b.op("Relu", [y], name="z", out_shape=(None, None, 16, 32), out_dtype="float32")
    b.output(z)
    g = b.build()

    assert refine_shapes.run(g, ctx())

    assert g.values["y"].shape == (1, 12, 16, 32)
    assert g.values["z"].shape == (1, 12, 16, 32)  # in graph order: a refined value refines its readers
    assert not refine_shapes.run(g, ctx())  # nothing left to do


def test_keeps_dims_it_cannot_settle() -> None:
    b = GraphBuilder(opset=17)
    x = b.input("x", ("n", 4))
    y = b.op("Relu", [x], name="y", out_shape=("n", 4), out_dtype="float32")
    b.output(y)
    g = b.build()
    assert not refine_shapes.run(g, ctx())
    assert g.values["y"].shape == ("n", 4)


def test_gather_elements_over_a_long_axis_folds() -> None:
    """onnx.reference fails on GatherElements along an axis longer than 64 (BERT's buffered token type ids)."""
    b = GraphBuilder(opset=17)
    data = b.const(np.arange(512, dtype=np.int64).reshape(1, 512) * 3, "buffered")
    idx = b.const(np.array([[5, 0, 511, -1]], np.int64), "idx")
    t = b.op("GatherElements", [data, idx], name="t", axis=1)
    x = b.input("x", (1, 4), "int64")
    y = b.op("Add", [x, t], name="y")
    b.output(y)
    g = b.build()
    before = graph_to_model(g)

    assert fold_constants.run(g, ctx())

    assert op_types(g) == ["Add"]
    np.testing.assert_array_equal(g.values[g.nodes[0].inputs[1]].const, [[15, 0, 1533, 1533]])
    check_values(g)
    assert_equivalent(before, g, random_feeds(g), **TOL)


def test_expand_by_a_computed_shape_becomes_static_and_downstream_follows() -> None:
    """Shape → Concat → Expand (what the legacy exporter writes for a BERT mask): the Expand output is
    open at import; after folding the chain, it and its readers get static shapes."""
    b = GraphBuilder(opset=17)
    x = b.input("x", (1, 16))
    m = b.const(np.ones((1, 1, 1, 16), np.float32), "m")
    shp = b.op("Shape", [x], name="shp")
    one = b.const(np.array([1, 1], np.int64), "one")
    target = b.op("Concat", [one, shp], name="target", axis=0)
    e = b.op("Expand", [m, target], name="e", out_shape=(None, None, 1, 16), out_dtype="float32")
    y = b.op("Add", [e, x], name="y", out_shape=(None, None, 1, 16), out_dtype="float32")
    b.output(y)
    g = b.build()
    before = graph_to_model(g)

    assert fold_shapes_and_constants.run(g, ctx())

    assert g.values["y"].shape == (1, 1, 1, 16)
    assert all(g.values[o].is_static for n in g.nodes for o in n.outputs)
    check_values(g)
    assert_equivalent(before, g, random_feeds(g), **TOL)

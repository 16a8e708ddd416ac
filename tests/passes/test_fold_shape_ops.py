"""fold_shape_ops (and the fold_shapes_and_constants fixed point): structure checked, outputs compared
with onnxruntime (exact: only integer shape data is folded)."""

from __future__ import annotations

import numpy as np

from webdnn_build_optimize.onnx_bridge import graph_to_model
from webdnn_build_optimize.passes import fold_shape_ops, fold_shapes_and_constants

from .graphs import GraphBuilder, assert_equivalent, check_values, ctx, op_types, random_feeds

TOL = dict(rtol=0, atol=0)


def _flatten_chain(b: GraphBuilder, x: str) -> str:
    """The exporter idiom x.reshape(x.shape[0], -1): Shape → Gather → Unsqueeze → Concat → Reshape."""
    s = b.op("Shape", [x])
    n = b.op("Gather", [s, b.const(np.array(0, np.int64))], axis=0)
    n1 = b.op("Unsqueeze", [n, b.const(np.array([0], np.int64))])
    shape = b.op("Concat", [n1, b.const(np.array([-1], np.int64))], axis=0)
    return b.op("Reshape", [x, shape], name="y")


def test_static_shape_and_size_become_constants() -> None:
    b = GraphBuilder(opset=17)
    x = b.input("x", (2, 3, 4))
    s = b.op("Shape", [x], name="s", start=1)
    n = b.op("Size", [x], name="n")
    y = b.op("Reshape", [x, b.op("Concat", [s, b.const(np.array([-1], np.int64))], axis=0)], name="y")
    z = b.op("Mul", [b.op("Cast", [n], to=1), x], name="z")
    b.output(y, z)
    g = b.build()
    before = graph_to_model(g)

    assert fold_shape_ops.run(g, ctx())

    assert "Shape" not in op_types(g) and "Size" not in op_types(g)
    np.testing.assert_array_equal(g.values["s"].const, [3, 4])
    assert g.values["n"].const.shape == () and int(g.values["n"].const) == 24
    check_values(g)
    assert_equivalent(before, g, random_feeds(g), **TOL)


def test_partial_shape_gather_and_static_reshape_target() -> None:
    """x is [N, 3, 4]: Gather of dim 1 folds; the Reshape target becomes a constant [-1, 12]."""
    b = GraphBuilder(opset=17)
    x = b.input("x", ("N", 3, 4))
    s = b.op("Shape", [x])
    c = b.op("Gather", [s, b.const(np.array([1, 2], np.int64))], name="c", axis=0)
    cc = b.op("ReduceProd", [c], name="cc", keepdims=1)
    y = b.op("Reshape", [x, b.op("Concat", [b.const(np.array([-1], np.int64)), cc], axis=0)],
             name="y", out_shape=("N", 12))
    b.output(y)
    g = b.build()
    before = graph_to_model(g)

    assert fold_shape_ops.run(g, ctx())

    np.testing.assert_array_equal(g.values["c"].const, [3, 4])
    reshape = next(n for n in g.nodes if n.op_type == "Reshape")
    np.testing.assert_array_equal(g.values[reshape.inputs[1]].const, [-1, 12])
    check_values(g)
    assert_equivalent(before, g, random_feeds(g, dims={"N": 5}), **TOL)


def test_fixed_point_collapses_the_flatten_idiom() -> None:
    b = GraphBuilder(opset=17)
    x = b.input("x", (2, 3, 4))
    b.output(_flatten_chain(b, x))
    g = b.build()
    before = graph_to_model(g)

    assert fold_shapes_and_constants.run(g, ctx())

    assert op_types(g) == ["Reshape"]
    np.testing.assert_array_equal(g.values[g.nodes[0].inputs[1]].const, [2, -1])
    check_values(g)
    assert_equivalent(before, g, random_feeds(g), **TOL)


def test_dynamic_dims_are_not_folded() -> None:
    """Negative: Shape of [N, 3], Gather of the symbolic dim, and a Reshape whose output has two unknown dims stay."""
    b = GraphBuilder(opset=17)
    x = b.input("x", ("N", "M"))
    b.output(_flatten_chain(b, x))
    g = b.build()
    g.values["y"].shape = ("N", "M")
    ops = op_types(g)

    assert not fold_shape_ops.run(g, ctx())
    assert op_types(g) == ops
    assert not fold_shapes_and_constants.run(g, ctx())


def test_slice_of_partial_shape_and_expand_constant_of_shape_targets() -> None:
    """x is [N, 3, 4]: Slice of dims 1..2 folds; Expand and ConstantOfShape with static outputs get constant targets."""
    b = GraphBuilder(opset=17)
    x = b.input("x", ("N", 3, 4))
    s = b.op("Shape", [x])
    tail = b.op("Slice", [s, b.const(np.array([1], np.int64)), b.const(np.array([9], np.int64))], name="tail")
    z = b.op("ConstantOfShape", [tail], name="z", value=np.array([2.0], np.float32), out_shape=(3, 4))
    e = b.op("Expand", [b.const(np.arange(4, dtype=np.float32)), b.op("Shape", [z])], name="e", out_shape=(3, 4))
    y = b.op("Add", [x, b.op("Mul", [z, e])], name="y")
    b.output(y)
    g = b.build()
    before = graph_to_model(g)

    assert fold_shape_ops.run(g, ctx())

    np.testing.assert_array_equal(g.values["tail"].const, [3, 4])
    for node in g.nodes:
        if node.op_type in ("ConstantOfShape", "Expand"):
            np.testing.assert_array_equal(g.values[node.inputs[-1]].const, [3, 4])
    check_values(g)
    assert_equivalent(before, g, random_feeds(g, dims={"N": 3}), **TOL)

"""fold_constants: one pass applied, structure checked, outputs compared with onnxruntime (rtol 1e-6, atol 1e-6)."""

from __future__ import annotations

import numpy as np

from webdnn_build_optimize.onnx_bridge import graph_to_model
from webdnn_build_optimize.passes import fold_constants
from webdnn_build.registry import PassContext

from .graphs import GraphBuilder, LogCollector, assert_equivalent, check_values, ctx, op_types, random_feeds

TOL = dict(rtol=1e-6, atol=1e-6)


def test_folds_constant_subgraph_and_constant_nodes() -> None:
    b = GraphBuilder(opset=17)
    x = b.input("x", (2, 3))
    w = b.const(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
    k = b.op("Constant", [], name="k", value=np.array([0.5, 1.5, 2.5], np.float32))
    s = b.op("Mul", [w, k], name="scaled")
    t = b.op("Transpose", [s], name="t", perm=[1, 0])
    t2 = b.op("Transpose", [t], name="t2", perm=[1, 0])
    y = b.op("Add", [x, t2], name="y")
    b.output(y)
    g = b.build()
    before = graph_to_model(g)

    assert fold_constants.run(g, ctx())

    assert op_types(g) == ["Add"]
    folded = g.values[g.nodes[0].inputs[1]]
    assert folded.is_const and folded.dtype == "float32" and folded.shape == (2, 3)
    np.testing.assert_allclose(folded.const, np.arange(6).reshape(2, 3) * [0.5, 1.5, 2.5])
    check_values(g)
    assert_equivalent(before, g, random_feeds(g), **TOL)


def test_folds_integer_shape_arithmetic_for_reshape() -> None:
    b = GraphBuilder(opset=17)
    x = b.input("x", (2, 3, 4))
    shape = b.op("Concat", [b.const(np.array([6], np.int64)), b.const(np.array([-1], np.int64))], axis=0)
    y = b.op("Reshape", [x, shape], name="y")
    b.output(y)
    g = b.build()
    before = graph_to_model(g)

    assert fold_constants.run(g, ctx())
    assert op_types(g) == ["Reshape"]
    np.testing.assert_array_equal(g.values[g.nodes[0].inputs[1]].const, [6, -1])
    assert_equivalent(before, g, random_feeds(g), **TOL)


def test_keeps_nondeterministic_nonconstant_foreign_and_output_nodes() -> None:
    """Negative: random ops, nodes reading a graph input, unknown domains and graph-output producers stay."""
    b = GraphBuilder(opset=17)
    b.graph.opsets["com.example"] = 1
    x = b.input("x", (2,))
    r = b.op("RandomUniform", [], out_shape=(2,), out_dtype="float32", shape=[2])
    custom = b.op("MyOp", [b.const(np.ones(2, np.float32))], domain="com.example", out_shape=(2,), out_dtype="float32")
    a = b.op("Add", [x, r])
    z = b.op("Add", [a, custom], name="z")
    y = b.op("Neg", [b.const(np.ones(2, np.float32))], name="y")  # constant, but a graph output
    b.output(z, y)
    g = b.graph  # no shape inference: com.example.MyOp is unknown to it

    assert not fold_constants.run(g, ctx())
    assert op_types(g) == ["RandomUniform", "MyOp", "Add", "Add", "Neg"]


def test_evaluation_failure_leaves_node_and_logs() -> None:
    """Negative: a node the evaluator rejects (Reshape 6 elements into 4) stays; the log says why."""
    b = GraphBuilder(opset=17)
    x = b.input("x", (4,))
    bad = b.op("Reshape", [b.const(np.ones(6, np.float32)), b.const(np.array([4], np.int64))], out_shape=(4,), out_dtype="float32")
    b.output(b.op("Add", [x, bad], name="y", out_shape=(4,), out_dtype="float32"))
    g = b.graph
    log = LogCollector()

    assert not fold_constants.run(g, log.ctx)
    assert op_types(g) == ["Reshape", "Add"]
    assert any("could not evaluate" in line and "Reshape" in line for line in log.lines)


def test_large_nonuniform_result_is_not_folded() -> None:
    """Negative: a Tile that would blow 16 bytes up to 64 KiB stays under a small limit; a uniform one folds."""
    b = GraphBuilder(opset=17)
    x = b.input("x", (4096, 4))
    tiled = b.op("Tile", [b.const(np.arange(4, dtype=np.float32)), b.const(np.array([4096], np.int64))])
    filled = b.op("Tile", [b.const(np.ones(4, np.float32)), b.const(np.array([4096], np.int64))])
    r1 = b.op("Reshape", [tiled, b.const(np.array([4096, 4], np.int64))])
    r2 = b.op("Reshape", [filled, b.const(np.array([4096, 4], np.int64))])
    b.output(b.op("Add", [b.op("Add", [x, r1]), r2], name="y"))
    g = b.build()
    before = graph_to_model(g)

    assert fold_constants.run(g, PassContext(options={"fold_constants.max_bytes": 1024}))
    assert op_types(g) == ["Tile", "Reshape", "Add", "Add"]
    assert_equivalent(before, g, random_feeds(g), **TOL)

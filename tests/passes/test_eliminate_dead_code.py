"""eliminate_dead_code: one pass applied, structure checked, outputs compared with onnxruntime (exact)."""

from __future__ import annotations

import numpy as np

from webdnn_build_optimize.onnx_bridge import graph_to_model
from webdnn_build_optimize.passes import eliminate_dead_code

from .graphs import GraphBuilder, assert_equivalent, check_values, ctx, op_types, random_feeds


def test_removes_unreachable_nodes_and_values() -> None:
    b = GraphBuilder()
    x = b.input("x", (2, 3))
    unused_in = b.input("unused", (1,))
    r = b.op("Relu", [x])
    dead1 = b.op("Mul", [r, b.const(np.full((2, 3), 2, np.float32), "dead_w")])
    b.op("Neg", [dead1])
    _, dead_mask = b.op("Dropout", [r], n_out=2)  # both outputs unread: the whole node goes
    y = b.op("Exp", [r], name="y")
    b.output(y)
    g = b.build()
    before = graph_to_model(g)

    assert eliminate_dead_code.run(g, ctx())

    assert op_types(g) == ["Relu", "Exp"]
    assert "dead_w" not in g.values and dead_mask not in g.values
    assert g.inputs == ["x", unused_in]  # the interface stays
    check_values(g)
    assert_equivalent(before, g, random_feeds(g), rtol=0, atol=0)


def test_keeps_node_with_one_live_output() -> None:
    """Negative: a multi-output node stays when any output is live; a clean graph is left unchanged."""
    b = GraphBuilder(opset=13)
    x = b.input("x", (4, 6))
    a, _unused = b.op("Split", [x, b.const(np.array([3, 3], np.int64))], n_out=2, axis=1)
    b.output(b.op("Abs", [a], name="y"))
    g = b.build()

    assert not eliminate_dead_code.run(g, ctx())
    assert op_types(g) == ["Split", "Abs"]


def _if_graph_reading_outer_values():
    """y = If(c, then: scaled + outer_w, else: Identity(neg)); scaled, neg and outer_w are read only inside branches."""
    from webdnn_build.ir import Graph, Node, Value

    b = GraphBuilder(opset=17)
    x = b.input("x", (2, 3))
    c = b.input("c", (), "bool")
    w = b.const(np.full((2, 3), 2, np.float32), "outer_w")
    scaled = b.op("Mul", [x, w], name="scaled")
    neg = b.op("Neg", [x], name="neg")
    b.op("Exp", [x], name="dead")
    then_branch = Graph(name="then", outputs=["t_out"], nodes=[Node("Add", [scaled, w], ["t_out"], name="t_add")],
                        values={"t_out": Value("t_out", "float32", (2, 3))})
    else_branch = Graph(name="else", outputs=["e_out"], nodes=[Node("Identity", [neg], ["e_out"], name="e_id")],
                        values={"e_out": Value("e_out", "float32", (2, 3))})
    y = b.op("If", [c], name="y", out_dtype="float32", out_shape=(2, 3),
             then_branch=then_branch, else_branch=else_branch)
    b.output(y)
    return b.build()


def test_keeps_outer_values_read_only_inside_subgraphs() -> None:
    g = _if_graph_reading_outer_values()
    before = graph_to_model(g)
    if_node = g.nodes[-1]
    assert g.consumers()["scaled"] == [if_node] and g.consumers()["outer_w"][-1] is if_node
    assert if_node.reads() == ["c", "scaled", "outer_w", "neg"]

    assert eliminate_dead_code.run(g, ctx())

    assert op_types(g) == ["Mul", "Neg", "If"]  # only the Exp goes
    assert {"scaled", "neg", "outer_w"} <= set(g.values)
    g.toposort()
    for flag in (True, False):
        feeds = random_feeds(g)
        feeds["c"] = np.array(flag)
        assert_equivalent(before, g, feeds, rtol=0, atol=0)


def test_ir_use_queries_see_subgraphs() -> None:
    """prune_values, replace_uses and the memory planner count a subgraph's outer reads as uses by its node."""
    from webdnn_build.memory import plan_memory

    g = _if_graph_reading_outer_values()
    g.prune_values()
    assert {"scaled", "neg", "outer_w"} <= set(g.values)

    plan = plan_memory(g, lambda dtype: 4)
    if_index = len(g.nodes) - 1
    assert plan.slots["scaled"].last == if_index and plan.slots["neg"].last == if_index

    g.replace_uses("neg", "scaled")
    else_branch = g.nodes[-1].attrs["else_branch"]
    assert else_branch.nodes[0].inputs == ["scaled"] and else_branch.outer_reads() == ["scaled"]
    assert g.nodes[-1].reads() == ["c", "scaled", "outer_w"]

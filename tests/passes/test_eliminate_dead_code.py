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

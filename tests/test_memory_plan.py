"""The liveness-based memory planner."""

from __future__ import annotations

import numpy as np

from webdnn_build.ir import Graph, Node, Value
from webdnn_build.memory import plan_memory


def chain(n: int, size: int = 100) -> Graph:
    """x -> Relu -> t0 -> Relu -> t1 ... -> y"""
    g = Graph()
    names = ["x"] + [f"t{i}" for i in range(n - 1)] + ["y"]
    for name in names:
        g.values[name] = Value(name, "float32", (size,))
    for a, b in zip(names, names[1:]):
        g.nodes.append(Node("Relu", [a], [b]))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def overlaps(a, b) -> bool:
    return a.offset < b.offset + b.byte_length and b.offset < a.offset + a.byte_length


def test_chain_reuses_two_buffers():
    plan = plan_memory(chain(6), lambda dt: 4)
    # t0..t4 planned (x and y cross the API boundary); a chain needs only two live buffers at a time
    assert set(plan.slots) == {"t0", "t1", "t2", "t3", "t4"}
    assert plan.size == 2 * 400
    assert plan.unshared_size == 5 * 400


def test_live_values_never_share_bytes():
    rng = np.random.default_rng(0)
    g = Graph()
    g.values["x"] = Value("x", "float32", (8,))
    g.inputs = ["x"]
    produced = ["x"]
    for i in range(40):  # random DAG: each node reads two earlier values
        a, b = rng.choice(produced, 2)
        out = f"v{i}"
        g.values[out] = Value(out, "float32", (int(rng.integers(1, 50)),))
        g.nodes.append(Node("Add", [str(a), str(b)], [out]))
        produced.append(out)
    g.outputs = [produced[-1]]
    plan = plan_memory(g, lambda dt: 4)
    for name, slot in plan.slots.items():
        assert slot.offset % 16 == 0
        for other, s2 in plan.slots.items():
            if name < other and not (slot.last < s2.first or s2.last < slot.first):
                assert not overlaps(slot, s2), (name, other)
    assert plan.size <= plan.unshared_size


def test_constants_dynamic_and_unplannable_values_are_skipped():
    g = chain(4)
    g.values["t0"].shape = (None,)
    g.values["t1"].dtype = "string"
    plan = plan_memory(g, lambda dt: None if dt == "string" else 4)
    assert set(plan.slots) == {"t2"}

"""Small graph queries the passes share."""

from __future__ import annotations

from typing import Optional

import numpy as np

from webdnn_build.ir import Graph, Node

FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16")


def const_of(graph: Graph, name: str) -> Optional[np.ndarray]:
    """The constant data of ``name``, or None when it is not a constant.

    A graph input with an initializer (ONNX lets callers override those) is not a constant.
    """
    if not name or name in graph.inputs:
        return None
    v = graph.values.get(name)
    return v.const if v is not None else None


def is_const(graph: Graph, name: str) -> bool:
    return const_of(graph, name) is not None


def optional_input(node: Node, index: int) -> str:
    """The node's ``index``-th input name, ``""`` when omitted."""
    return node.inputs[index] if index < len(node.inputs) else ""


def remove_nodes(graph: Graph, dead: list[Node]) -> None:
    """Drop ``dead`` (by identity) from the graph's node list."""
    ids = {id(n) for n in dead}
    graph.nodes = [n for n in graph.nodes if id(n) not in ids]


def rename_output(graph: Graph, node: Node, old: str, new: str) -> None:
    """Make ``node`` write ``new`` instead of ``old``; ``new`` keeps its Value (dtype, shape), ``old``'s is dropped.

    The caller makes sure nothing else reads ``old`` any more.
    """
    node.outputs = [new if o == old else o for o in node.outputs]
    if new not in graph.values and old in graph.values:
        v = graph.values[old]
        v.name = new
        graph.values[new] = v
    graph.values.pop(old, None)


def float_scalar(graph: Graph, name: str) -> Optional[float]:
    """The value of a one-element floating-point constant, else None."""
    data = const_of(graph, name)
    if data is None or data.size != 1 or data.dtype.kind != "f":
        return None
    return float(np.asarray(data, dtype=np.float64).ravel()[0])


def scalar_near(graph: Graph, name: str, want: float) -> bool:
    """Whether ``name`` is a one-element floating-point constant within 1e-6 (relative) of ``want``."""
    value = float_scalar(graph, name)
    return value is not None and abs(value - want) <= 1e-6 * abs(want)


def other_input(node: Node, name: str) -> Optional[str]:
    """The input of a two-input node that is not ``name`` (None when ``name`` is not one of them)."""
    if len(node.inputs) != 2:
        return None
    a, b = node.inputs
    return b if a == name else a if b == name else None


class Chain:
    """Producer/reader lookups for matching single-reader elementwise chains."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.producers = graph.producers()
        self.consumers = graph.consumers()
        self.outputs = set(graph.outputs)

    def only_reader(self, name: str, op_type: str) -> Optional[Node]:
        """The one node reading ``name`` when it is a standard ``op_type`` and ``name`` is no graph output."""
        readers = self.consumers.get(name, [])
        if len(readers) != 1 or name in self.outputs:
            return None
        node = readers[0]
        return node if node.op_type == op_type and node.domain in ("", "ai.onnx") else None

    def produced_by(self, name: str, op_type: str) -> Optional[Node]:
        node = self.producers.get(name)
        return node if node is not None and node.op_type == op_type and node.domain in ("", "ai.onnx") else None

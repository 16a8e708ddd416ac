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

"""The forms of ops that several native backends must agree on before they take a node.

A native kernel handles one form of an op (attributes in a range, operands of given dtypes and sizes);
the check that a node has that form is the same on every backend, so it lives here, once. Each backend
adds only what is its own (its storage types, whether an operand must be a constant). A function returns
a small description of the form, or None when the node has another one (it then runs on the js kernel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from .ir import Graph, Node


def input_at(node: Node, i: int) -> str:
    """The node's ``i``-th input name, ``""`` when omitted."""
    return node.inputs[i] if len(node.inputs) > i else ""


def _static(graph: Graph, name: str, dtypes: tuple[str, ...]) -> bool:
    v = graph.values.get(name)
    return v is not None and v.dtype in dtypes and v.is_static


@dataclass(frozen=True)
class NBitsForm:
    """com.microsoft MatMulNBits as the native kernels run it: 4-bit codes in blocks along K."""

    k: int
    n: int
    block: int
    blocks: int
    #: "" (none: zero point 8), "uint8" (packed like the codes) or "float32" (one per block)
    zero_point: str


def matmul_nbits_form(node: Node, graph: Graph) -> Optional[NBitsForm]:
    """Y = A @ dequant(B)ᵀ + bias with bits = 4, block_size a power of two >= 16, float32 A / scales / bias,
    uint8 B [N, blocks, block / 2], zero points packed uint8 or float32 or none, no g_idx, one output."""
    a, b, scales = input_at(node, 0), input_at(node, 1), input_at(node, 2)
    zp, g_idx, bias = input_at(node, 3), input_at(node, 4), input_at(node, 5)
    outs = [o for o in node.outputs if o]
    if not (a and b and scales) or g_idx or len(outs) != 1 or outs[0] != node.outputs[0]:
        return None
    k, n = node.attrs.get("K"), node.attrs.get("N")
    bits, block = node.attrs["bits"], node.attrs.get("block_size")
    if bits != 4 or not isinstance(block, int) or block < 16 or block & (block - 1):
        return None
    if not isinstance(k, int) or not isinstance(n, int) or k <= 0 or n <= 0:
        return None
    if not all(_static(graph, x, ("float32",)) for x in (a, scales, bias, outs[0]) if x) \
            or not _static(graph, b, ("uint8",)):
        return None
    blocks = -(-k // block)
    sa, sy = tuple(graph.values[a].shape), tuple(graph.values[outs[0]].shape)  # type: ignore[arg-type]
    if not sa or sa[-1] != k or sy != sa[:-1] + (n,):
        return None
    if math.prod(graph.values[b].shape) != n * blocks * block // 2 \
            or math.prod(graph.values[scales].shape) != n * blocks:  # type: ignore[arg-type]
        return None
    if bias and math.prod(graph.values[bias].shape) != n:  # type: ignore[arg-type]
        return None
    zp_kind = ""
    if zp:
        if not _static(graph, zp, ("uint8", "float32")):
            return None
        zp_kind = graph.values[zp].dtype  # type: ignore[assignment]
        want = n * -(-blocks // 2) if zp_kind == "uint8" else n * blocks
        if math.prod(graph.values[zp].shape) != want:  # type: ignore[arg-type]
            return None
    return NBitsForm(k, n, block, blocks, zp_kind)


def dynamic_quantize_form(node: Node, graph: Graph) -> bool:
    """DynamicQuantizeLinear: float32 x -> uint8 y of x's shape, one-element float32 scale and uint8 zero point."""
    if len(node.inputs) != 1 or len(node.outputs) != 3 or not all(node.outputs) or not node.inputs[0]:
        return False
    names = (node.inputs[0], *node.outputs)
    if not all(_static(graph, x, (dt,)) for x, dt in zip(names, ("float32", "uint8", "float32", "uint8"))):
        return False
    return (tuple(graph.values[node.inputs[0]].shape) == tuple(graph.values[node.outputs[0]].shape)  # type: ignore[arg-type]
            and math.prod(graph.values[node.outputs[1]].shape) == 1  # type: ignore[arg-type]
            and math.prod(graph.values[node.outputs[2]].shape) == 1)  # type: ignore[arg-type]

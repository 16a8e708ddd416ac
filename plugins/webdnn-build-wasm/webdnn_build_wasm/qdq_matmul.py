"""QDQ MatMuls as integer products (the wasm backend's own rewrite, on its copy of the graph).

A QDQ-quantized model (onnxruntime.quantization's ``quantize_static``) writes each MatMul as
``MatMul(DequantizeLinear(a_q), DequantizeLinear(w_q))`` with int8 weights: computed as written, the
weights are dequantized to float and the product runs in float32. onnxruntime turns the pair into an
integer product; so does this rewrite: ``MatMulIntegerToFloat(a_q, w_q, a_scale, w_scale, a_zp, w_zp)``
(com.microsoft's op: the int32 sum of (a - a_zp)(w - w_zp), times a_scale * w_scale), which the wasm
kernel runs with 16-bit dot products at about twice the float GEMM's rate, from int8 weights packed at load.

The float and the integer forms differ by float rounding only (the integer sum is exact); where a
QuantizeLinear follows, a value one rounding from a boundary may land one step away, which the
quantized variants' tolerance covers (docs/model-suite.md).

The dynamic-quantization form (``quantize_dynamic``: ``Mul(Cast(MatMulInteger(a_q, w_q)), a_scale *
w_scale)``) becomes the same op; there the arithmetic is onnxruntime's exactly (the int32 sum converted,
times the rounded product of the scales). In both, an ``Add`` of a constant per-column bias that follows
is taken in as the op's bias (added after the product, as the Add did).
"""

from __future__ import annotations

import math
from typing import Callable

from webdnn_build.ir import Graph, Node

Q8 = ("uint8", "int8")


def _dq_parts(node: Node, g: Graph) -> tuple[str, str, str] | None:
    """(q, scale, zero point or "") of a plain DequantizeLinear to float32 (no block_size), else None."""
    if node is None or node.op_type != "DequantizeLinear" or node.domain or node.attrs.get("block_size"):
        return None
    if node.attrs.get("output_dtype") not in (None, 0, 1) or len(node.inputs) < 2:
        return None
    q, scale = node.inputs[:2]
    zp = node.inputs[2] if len(node.inputs) > 2 else ""
    vq, vs = g.values.get(q), g.values.get(scale)
    if vq is None or vs is None or vq.dtype not in Q8 or vs.dtype != "float32" or not vs.is_static:
        return None
    return q, scale, zp


def _only_reader(g: Graph, consumers: dict, name: str) -> Node | None:
    readers = consumers.get(name, [])
    return readers[0] if len(readers) == 1 and name not in g.outputs else None


def _fold_bias(g: Graph, consumers: dict, node: Node, can_run: Callable[[Node, Graph], bool]) -> None:
    """Take a following Add of a constant float32 [N] bias into the MatMulIntegerToFloat ``node``."""
    add = _only_reader(g, consumers, node.outputs[0])
    if add is None or add.op_type != "Add" or add.domain or len(add.inputs) != 2 or "fused_activation" in add.attrs:
        return
    bias = add.inputs[1] if add.inputs[0] == node.outputs[0] else add.inputs[0]
    vb, n = g.values.get(bias), g.values[node.inputs[1]].shape[-1]
    if vb is None or not vb.is_const or vb.dtype != "float32" or tuple(vb.shape) != (n,) or bias == node.outputs[0]:
        return
    if tuple(g.values[add.outputs[0]].shape) != tuple(g.values[node.outputs[0]].shape):
        return
    merged = Node(node.op_type, (list(node.inputs) + [""] * 6)[:6] + [bias], [add.outputs[0]], {}, node.domain,
                  node.name)
    if can_run(merged, g):
        g.nodes[g.nodes.index(node)] = merged
        g.nodes.remove(add)


def _dynamic_form(g: Graph, mul: Node, producers: dict, consumers: dict) -> list[str] | None:
    """The MatMulIntegerToFloat inputs of Mul(Cast(MatMulInteger(a, w, a_zp, w_zp)), Mul(a_scale, w_scale)),
    else None."""
    if mul.op_type != "Mul" or mul.domain or len(mul.inputs) != 2 or "fused_activation" in mul.attrs:
        return None
    for x, s in (mul.inputs, mul.inputs[::-1]):
        cast, scales = producers.get(x), producers.get(s)
        if cast is None or cast.op_type != "Cast" or cast.domain or int(cast.attrs.get("to", 0)) != 1:
            continue
        mmi = producers.get(cast.inputs[0])
        if mmi is None or mmi.op_type != "MatMulInteger" or mmi.domain or _only_reader(g, consumers, cast.inputs[0]) is not cast:
            continue
        if _only_reader(g, consumers, x) is not mul or scales is None or scales.op_type != "Mul" or scales.domain:
            continue
        n = g.values[mmi.inputs[1]].shape[-1]
        sizes = [math.prod(g.values[i].shape) if g.values[i].is_static else None for i in scales.inputs]
        if len(scales.inputs) != 2 or None in sizes:
            continue
        for sa, sb in (scales.inputs, scales.inputs[::-1]):
            if math.prod(g.values[sa].shape) == 1 and math.prod(g.values[sb].shape) in (1, n) \
                    and len(g.values[sb].shape) <= 1:
                zps = (list(mmi.inputs) + ["", ""])[2:4]
                return [mmi.inputs[0], mmi.inputs[1], sa, sb, *zps]
    return None


def qdq_matmul_to_integer(g: Graph, can_run: Callable[[Node, Graph], bool]) -> int:
    """Rewrite QDQ MatMuls whose A is quantized per tensor and whose B is a constant 2-D int8/uint8 weight
    quantized per tensor or per column (``can_run(new, g)``: the backend runs the new node); the
    DequantizeLinear nodes left without readers are removed. Returns the number of MatMuls rewritten."""
    producers = g.producers()
    rewritten = 0
    for i, node in enumerate(g.nodes):
        if node.op_type != "MatMul" or node.domain or len(node.inputs) != 2 or "fused_activation" in node.attrs:
            continue
        a = _dq_parts(producers.get(node.inputs[0]), g)
        b = _dq_parts(producers.get(node.inputs[1]), g)
        if a is None or b is None:
            continue
        (a_q, a_scale, a_zp), (w_q, w_scale, w_zp) = a, b
        w = g.values[w_q]
        if not w.is_const or len(w.shape) != 2 or math.prod(g.values[a_scale].shape) != 1:
            continue
        n = w.shape[1]
        if math.prod(g.values[w_scale].shape) != 1:
            axis = int(producers[node.inputs[1]].attrs.get("axis", 1))
            if axis not in (1, -1) or tuple(g.values[w_scale].shape) != (n,):
                continue
        new = Node("MatMulIntegerToFloat", [a_q, w_q, a_scale, w_scale, a_zp, w_zp], [node.outputs[0]], {},
                   "com.microsoft", node.name)
        if not can_run(new, g):
            continue
        g.nodes[i] = new
        rewritten += 1
    # the dynamic form: the Mul takes the place of the three nodes (its inputs are all computed by then)
    # (the rewrites above replace MatMuls only: the readers of Cast, MatMulInteger and Mul outputs stay as they were)
    consumers = g.consumers()
    for i, node in enumerate(g.nodes):
        inputs = _dynamic_form(g, node, producers, consumers)
        if inputs is None:
            continue
        new = Node("MatMulIntegerToFloat", inputs, [node.outputs[0]], {}, "com.microsoft", node.name)
        if can_run(new, g):
            g.nodes[i] = new
            rewritten += 1
    consumers = g.consumers()  # (each bias fold touches only its own node and Add)
    for node in [n for n in g.nodes if n.op_type == "MatMulIntegerToFloat" and n.domain == "com.microsoft"]:
        _fold_bias(g, consumers, node, can_run)
    if rewritten:
        _remove_unread(g)
    return rewritten


def _remove_unread(g: Graph) -> None:
    """Drop the nodes whose outputs no node or graph output reads any more (the replaced DequantizeLinear,
    MatMulInteger and Cast nodes), repeatedly."""
    while True:
        read = {name for n in g.nodes for name in n.reads()} | set(g.outputs)
        keep = [n for n in g.nodes if any(o in read for o in n.outputs if o) or not any(n.outputs)]
        if len(keep) == len(g.nodes):
            break
        g.nodes = keep
    g.prune_values()

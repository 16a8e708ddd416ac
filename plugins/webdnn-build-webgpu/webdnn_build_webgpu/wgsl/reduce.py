"""ReduceMean / ReduceSum / ReduceMax / ReduceMin / ReduceProd / ReduceSumSquare / ReduceL1 / ReduceL2 /
ReduceLogSum over any constant set of axes: a workgroup per output element, the reduced elements
addressed through their baked strides. ArgMax / ArgMin: one invocation per output."""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import (Dispatch, Emitter, KernelBuilder, KernelContext, const_ints, contiguous_strides, float32_static,
                   gpu_static, linear_kernel, u)
from .pool import row_reduce

KINDS = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min", "ReduceProd": "prod",
         "ReduceSumSquare": "sumsquare", "ReduceL1": "l1", "ReduceL2": "l2", "ReduceLogSum": "logsum"}


def reduce_axes(node: Node, graph: Graph) -> list[int] | None:
    shape = graph.values[node.inputs[0]].shape
    rank = len(shape)
    opset = graph.opset_for(node.domain)
    takes_input = opset >= 18 or (node.op_type == "ReduceSum" and opset >= 13)
    if takes_input:
        axes = const_ints(graph, node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1] else []
        if axes is None:
            return None
    else:
        axes = list(node.attrs.get("axes", []))
    if not axes:
        if node.attrs.get("noop_with_empty_axes", 0):
            return []
        axes = list(range(rank))
    return sorted({a + rank if a < 0 else a for a in axes})


class ReduceEmitter(Emitter):
    ops = tuple(KINDS)

    def supports(self, node: Node, graph: Graph) -> bool:
        if not float32_static(graph, node.inputs[:1] + node.outputs):
            return False
        axes = reduce_axes(node, graph)
        return axes is not None and len(graph.values[node.inputs[0]].shape) >= 1

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        shape = ctx.shape(node.inputs[0])
        axes = reduce_axes(node, ctx.graph) or []
        strides = contiguous_strides(shape)
        kept = [d for d in range(len(shape)) if d not in axes]
        red = [d for d in axes]
        rows = math.prod(shape[d] for d in kept)
        cols = math.prod(shape[d] for d in red)
        kind = KINDS[node.op_type]
        if not axes:  # noop_with_empty_axes: the reduction of one element
            red, cols = [], 1
        if red == list(range(len(shape) - len(red), len(shape))):
            return [row_reduce(ctx, node.inputs[0], node.outputs[0], rows, cols, kind)]
        # general axes: split row and j into coordinates (WGSL in one expression per term)
        kdims = [shape[d] for d in kept]
        rdims = [shape[d] for d in red]
        row_terms = _coord_terms("row", kdims, [strides[d] for d in kept])
        col_terms = _coord_terms("j", rdims, [strides[d] for d in red])
        return [row_reduce(ctx, node.inputs[0], node.outputs[0], rows, cols, kind,
                           offset_expr=f"({row_terms}) + ({col_terms})")]


def _coord_terms(var: str, dims: list[int], strides: list[int]) -> str:
    """sum_d ((var / inner_d) % dims[d]) * strides[d] as a WGSL expression (no statements needed)."""
    terms = []
    inner = 1
    for d in range(len(dims) - 1, -1, -1):
        t = var if inner == 1 else f"({var} / {u(inner)})"
        if d > 0:
            t = f"({t} % {u(dims[d])})"
        terms.append(f"{t} * {u(strides[d])}")
        inner *= dims[d]
    return " + ".join(terms) if terms else "0u"


class ArgExtremeEmitter(Emitter):
    """ArgMax / ArgMin over one axis of float32 or int32/int64 data (int64 indices, stored as i32): one invocation
    per output scans the axis; ties give the first index, or the last with ``select_last_index``."""

    ops = ("ArgMax", "ArgMin")

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.outputs) != 1 or not gpu_static(graph, node.inputs[:1], ("float32", "int32", "int64")) \
                or not gpu_static(graph, node.outputs, ("int64",)):
            return False
        shape = graph.values[node.inputs[0]].shape
        axis = int(node.attrs.get("axis", 0))
        return len(shape) >= 1 and -len(shape) <= axis < len(shape) and shape[axis] > 0

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        shape = ctx.shape(node.inputs[0])
        axis = int(node.attrs.get("axis", 0)) % len(shape)
        outer, n, inner = math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])
        cmp = ">" if node.op_type == "ArgMax" else "<"
        if node.attrs.get("select_last_index", 0):
            cmp += "="
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        body = f"""
let base = (i / {u(inner)}) * {u(n * inner)} + i % {u(inner)};
var best = {lx}(base);
var k = 0i;
for (var j = 1u; j < {u(n)}; j = j + 1u) {{
  let v = {lx}(base + j * {u(inner)});
  if (v {cmp} best) {{ best = v; k = i32(j); }}
}}
{st}(i, k);
"""
        return [linear_kernel(kb, outer * inner, body)]

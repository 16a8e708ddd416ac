"""Softmax / LogSoftmax: over the innermost axis (rows) or, from opset 13, any axis ([outer, n, inner],
f32x4 over inner)."""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_float32_static


class SoftmaxEmitter(Emitter):
    ops = ("Softmax", "LogSoftmax")
    symbolic = True  # rows and row length may be known at run time only

    def _layout(self, node: Node, graph: Graph):
        """(outer, n, inner): the softmax runs along n."""
        shape = tuple(graph.values[node.inputs[0]].shape)
        rank = max(len(shape), 1)
        opset = graph.opset_for(node.domain)
        axis = node.attrs["axis"]  # the declared default: 1 before opset 13, then -1
        axis = axis + rank if axis < 0 else axis
        if not 0 <= axis < rank:
            return None
        if opset < 13:  # coerced to 2-D at `axis`
            return math.prod(shape[:axis]), math.prod(shape[axis:]), 1
        if not shape:
            return 1, 1, 1
        return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])

    def supports(self, node: Node, graph: Graph) -> bool:
        if "fused_activation" in node.attrs:
            return False
        return all_float32_static(graph, node.inputs + node.outputs) and self._layout(node, graph) is not None

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        outer, n, inner = self._layout(node, ctx.graph)
        log = int(node.op_type == "LogSoftmax")
        x, y = ctx.ptr(node.inputs[0]), ctx.ptr(node.outputs[0])
        if inner == 1:
            return [f"wdn_softmax_f32({outer}, {n}, {x}, {y}, {log}, tid, nth);"]
        return [f"wdn_softmax_axis_f32({outer}, {n}, {inner}, {x}, {y}, {log}, tid, nth);"]

"""Softmax / LogSoftmax over the innermost axes."""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_float32_static


class SoftmaxEmitter(Emitter):
    ops = ("Softmax", "LogSoftmax")

    def _rows_cols(self, node: Node, graph: Graph):
        shape = tuple(graph.values[node.inputs[0]].shape)
        rank = max(len(shape), 1)
        opset = graph.opset_for(node.domain)
        axis = node.attrs.get("axis", 1 if opset < 13 else -1)
        axis = axis + rank if axis < 0 else axis
        if opset < 13:  # coerced to 2-D at `axis`
            return math.prod(shape[:axis]), math.prod(shape[axis:])
        if axis != rank - 1:
            return None
        return math.prod(shape[:-1]), shape[-1] if shape else 1

    def supports(self, node: Node, graph: Graph) -> bool:
        return all_float32_static(graph, node.inputs + node.outputs) and self._rows_cols(node, graph) is not None

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        rows, cols = self._rows_cols(node, ctx.graph)
        log = int(node.op_type == "LogSoftmax")
        return [f"wdn_softmax_f32({rows}, {cols}, {ctx.ptr(node.inputs[0])}, {ctx.ptr(node.outputs[0])}, {log}, tid, nth);"]

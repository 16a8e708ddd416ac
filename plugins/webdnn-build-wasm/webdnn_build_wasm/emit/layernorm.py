"""LayerNormalization (opset 17, stash_type 1) over the axes [axis, rank), Scale/B of exactly that many elements;
the optional Mean / InvStdDev outputs too."""

from __future__ import annotations

import math
from typing import Optional

from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_float32_static, cfloat


class LayerNormEmitter(Emitter):
    ops = ("LayerNormalization",)
    symbolic = True  # the row count may be known at run time only

    def _rows_cols(self, node: Node, graph: Graph) -> Optional[tuple[int, int]]:
        shape = tuple(graph.values[node.inputs[0]].shape)
        rank = len(shape)
        if rank == 0:
            return None
        axis = node.attrs["axis"]
        axis = axis + rank if axis < 0 else axis
        if not 0 <= axis < rank:
            return None
        return math.prod(shape[:axis]), math.prod(shape[axis:])

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) < 2 or not node.inputs[0] or not node.inputs[1]:  # (the backend asks for domain "" only)
            return False
        if not node.outputs or not node.outputs[0] or len(node.outputs) > 3:
            return False
        if node.attrs["stash_type"] != 1:
            return False
        params = [n for n in node.inputs[1:3] if n]
        if not all_float32_static(graph, node.inputs[:1] + params + node.outputs[:1]):
            return False
        rc = self._rows_cols(node, graph)
        if rc is None:
            return False
        stats = [o for o in node.outputs[1:] if o]  # Mean, InvStdDev: one value per normalized row
        if not all_float32_static(graph, stats) or any(math.prod(graph.values[o].shape) != rc[0] for o in stats):
            return False
        return all(math.prod(graph.values[n].shape) == rc[1] for n in params)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        rows, cols = self._rows_cols(node, ctx.graph)
        eps = node.attrs["epsilon"]
        bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
        b = ctx.ptr(bias) if bias else "(const float*)0"
        stats = [ctx.ptr(o) if o else "(float*)0" for o in (list(node.outputs[1:3]) + ["", ""])[:2]]
        if stats == ["(float*)0"] * 2:
            return [f"wdn_layernorm_f32({rows}, {cols}, {ctx.ptr(node.inputs[0])}, {ctx.ptr(node.inputs[1])}, {b}, "
                    f"{ctx.ptr(node.outputs[0])}, {cfloat(eps)}, tid, nth);"]
        return [f"wdn_layernorm_stats_f32({rows}, {cols}, {ctx.ptr(node.inputs[0])}, {ctx.ptr(node.inputs[1])}, {b}, "
                f"{ctx.ptr(node.outputs[0])}, {cfloat(eps)}, {stats[0]}, {stats[1]}, tid, nth);"]


class InstanceNormEmitter(Emitter):
    """InstanceNormalization: x [N, C, *spatial], scale and B of C elements, normalized over the spatial axes."""

    ops = ("InstanceNormalization",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) != 3 or not all(node.inputs) or len(node.outputs) != 1 or "fused_activation" in node.attrs:
            return False
        if not all_float32_static(graph, node.inputs + node.outputs):
            return False
        x = tuple(graph.values[node.inputs[0]].shape)
        if len(x) < 2 or tuple(graph.values[node.outputs[0]].shape) != x:
            return False
        return all(math.prod(graph.values[n].shape) == x[1] for n in node.inputs[1:])

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x = ctx.shape(node.inputs[0])
        eps = node.attrs["epsilon"]
        return [f"wdn_instancenorm_f32({x[0]}, {x[1]}, {math.prod(x[2:])}, {ctx.ptr(node.inputs[0])}, "
                f"{ctx.ptr(node.inputs[1])}, {ctx.ptr(node.inputs[2])}, {ctx.ptr(node.outputs[0])}, {cfloat(eps)}, tid, nth);"]

"""GridSample (opset 16+; N-d from 20) of float32 tensors: csrc/gridsample.c."""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_float32_static, c_array, struct_init
from .movement import str_attr

MODES = {"nearest": 0, "linear": 1, "bilinear": 1, "cubic": 2, "bicubic": 2}
PADDINGS = {"zeros": 0, "border": 1, "reflection": 2}


class GridSampleEmitter(Emitter):
    ops = ("GridSample",)

    def _mode(self, node: Node, graph: Graph) -> str:
        return str_attr(node, "mode")

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) != 2 or len(node.outputs) != 1 or not all(node.inputs) or "fused_activation" in node.attrs:
            return False
        if not all_float32_static(graph, [*node.inputs, node.outputs[0]]):
            return False
        x, g, y = (tuple(graph.values[n].shape) for n in (*node.inputs, node.outputs[0]))
        r = len(x) - 2
        if not 1 <= r <= 3 or len(g) != r + 2 or g[-1] != r or g[0] != x[0] or y != x[:2] + g[1:-1]:
            return False
        mode = self._mode(node, graph)
        if mode not in MODES or str_attr(node, "padding_mode") not in PADDINGS:
            return False
        return 0 not in x[2:]

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x, g = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
        r = len(x) - 2
        var = ctx.fresh("gridsample")
        ctx.decls.append(struct_init("wdn_gridsample_params", var, {
            "r": r, "n": x[0], "c": x[1], "mode": MODES[self._mode(node, ctx.graph)],
            "padding": PADDINGS[str_attr(node, "padding_mode")],
            "align": int(bool(node.attrs["align_corners"])),
            "dims": c_array(list(x[2:]) + [1] * (3 - r)), "points": math.prod(g[1:-1]),
            "x": ctx.ptr(node.inputs[0]), "grid": ctx.ptr(node.inputs[1]), "y": ctx.ptr(node.outputs[0]),
        }))
        return [f"wdn_gridsample_f32(&{var}, tid, nth);"]

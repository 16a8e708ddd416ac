"""NonMaxSuppression of float32 boxes / scores (csrc/nms.c).

The number of selected boxes depends on the data: the op runs in wasm only where the model plans a static
output shape, and the kernel checks that the selection has that many rows (a run-time error otherwise).
"""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_static, struct_init

#: the kernel's per-box scratch is bounded by this many boxes
MAX_BOXES = 1 << 16


class NonMaxSuppressionEmitter(Emitter):
    ops = ("NonMaxSuppression",)

    def _optional(self, node: Node, graph: Graph, i: int, dtype: str) -> str | None:
        """The name of optional input i when given (a static one-element tensor of dtype), "" when absent
        (or empty), None when unusable."""
        if len(node.inputs) <= i or not node.inputs[i]:
            return ""
        v = graph.values.get(node.inputs[i])
        if v is None or not v.is_static or v.dtype != dtype:
            return None
        n = math.prod(v.shape)
        return "" if n == 0 else node.inputs[i] if n == 1 else None

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) < 2 or len(node.outputs) != 1 or not all(node.inputs[:2]):
            return False
        if not all_static(graph, node.inputs[:2], ("float32",)) or not all_static(graph, node.outputs, ("int64",)):
            return False
        b, s, y = (tuple(graph.values[n].shape) for n in (*node.inputs[:2], node.outputs[0]))
        if len(b) != 3 or b[2] != 4 or len(s) != 3 or s[0] != b[0] or s[2] != b[1] or b[1] > MAX_BOXES:
            return False
        if len(y) != 2 or y[1] != 3:
            return False
        opts = [self._optional(node, graph, 2, "int64"), self._optional(node, graph, 3, "float32"),
                self._optional(node, graph, 4, "float32")]
        return all(o is not None for o in opts)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        b, s = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
        max_out, iou, score = (self._optional(node, ctx.graph, i, dt)
                               for i, dt in ((2, "int64"), (3, "float32"), (4, "float32")))
        var = ctx.fresh("nms")
        ctx.scratch.append(f"WDN_NMS_SCRATCH_BYTES({b[1]})")
        ctx.decls.append(struct_init("wdn_nms_params", var, {
            "batches": b[0], "boxes_n": b[1], "classes": s[1],
            "center_point_box": int(bool(node.attrs["center_point_box"])), "op_index": ctx.op_index,
            "rows": ctx.shape(node.outputs[0])[0], "boxes": ctx.ptr(node.inputs[0]), "scores": ctx.ptr(node.inputs[1]),
            "max_out": ctx.ptr(max_out) if max_out else "0", "iou": ctx.ptr(iou) if iou else "0",
            "score": ctx.ptr(score) if score else "0", "y": ctx.ptr(node.outputs[0]),
            "scratch": "wdn_scratch", "scratch_stride": "WDN_SCRATCH_STRIDE",
        }))
        return [f"wdn_nms(&{var}, tid, nth);"]

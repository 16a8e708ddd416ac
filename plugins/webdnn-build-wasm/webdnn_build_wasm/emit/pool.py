"""MaxPool / AveragePool (1-D, 2-D) and the global pools."""

from __future__ import annotations

import math

from webdnn_build.codegen import spatial_params
from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_float32_static, struct_init


class PoolEmitter(Emitter):
    ops = ("MaxPool", "AveragePool")

    def supports(self, node: Node, graph: Graph) -> bool:
        if len([o for o in node.outputs if o]) != 1 or not all_float32_static(graph, node.inputs + node.outputs[:1]):
            return False
        if node.attrs.get("storage_order", 0):
            return False
        return len(graph.values[node.inputs[0]].shape) in (3, 4)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x, y = ctx.shape(node.inputs[0]), ctx.shape(node.outputs[0])
        kernel = tuple(node.attrs["kernel_shape"])
        h, w, oh, ow, k, s, d, (pt, pl, pb, pr) = spatial_params(node, x, kernel, y)
        var = ctx.fresh("pool")
        ctx.decls.append(struct_init("wdn_pool2d_params", var, {
            "n": x[0], "c": x[1], "h": h, "w": w, "oh": oh, "ow": ow, "kh": k[0], "kw": k[1], "sh": s[0], "sw": s[1],
            "dh": d[0], "dw": d[1], "pad_t": pt, "pad_l": pl, "pad_b": pb, "pad_r": pr,
            "count_include_pad": int(node.attrs.get("count_include_pad", 0)),
            "x": ctx.ptr(node.inputs[0]), "y": ctx.ptr(node.outputs[0]),
        }))
        fn = "wdn_maxpool2d_f32" if node.op_type == "MaxPool" else "wdn_avgpool2d_f32"
        return [f"{fn}(&{var}, tid, nth);"]


class GlobalPoolEmitter(Emitter):
    ops = ("GlobalAveragePool", "GlobalMaxPool")

    def supports(self, node: Node, graph: Graph) -> bool:
        return all_float32_static(graph, node.inputs + node.outputs) and len(graph.values[node.inputs[0]].shape) >= 3

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x = ctx.shape(node.inputs[0])
        fn = "wdn_global_avgpool_f32" if node.op_type == "GlobalAveragePool" else "wdn_global_maxpool_f32"
        return [f"{fn}({x[0] * x[1]}, {math.prod(x[2:])}, {ctx.ptr(node.inputs[0])}, {ctx.ptr(node.outputs[0])}, tid, nth);"]

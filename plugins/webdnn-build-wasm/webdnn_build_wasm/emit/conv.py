"""Conv (1-D and 2-D, any group) → wdn_conv2d_f32, with an optional fused residual input.

The residual form is produced by ``fuse_residual`` in the backend: Conv followed by an Add of a
same-shape tensor becomes one Conv whose 4th input is that tensor (added before the activation).
"""

from __future__ import annotations

from webdnn_build.codegen import spatial_params
from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, act_struct, all_float32_static, struct_init, supported_activation


class ConvEmitter(Emitter):
    ops = ("Conv",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if not all_float32_static(graph, node.inputs + node.outputs) or not supported_activation(node.attrs):
            return False
        x = graph.values[node.inputs[0]].shape
        return x is not None and len(x) in (3, 4)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x_shape, w_shape, y_shape = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1]), ctx.shape(node.outputs[0])
        h, w, oh, ow, k, s, d, (pt, pl, pb, pr) = spatial_params(node, x_shape, w_shape, y_shape)
        group = int(node.attrs["group"])
        bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
        residual = node.inputs[3] if len(node.inputs) > 3 and node.inputs[3] else None
        cin_g = x_shape[1] // group
        scratch = f"WDN_CONV2D_SCRATCH_BYTES({cin_g}, {k[0]}, {k[1]}, {oh}, {ow})"
        ctx.scratch.append(scratch)
        var = ctx.fresh("conv")
        ctx.decls.append(struct_init("wdn_conv2d_params", var, {
            "n": x_shape[0], "cin": x_shape[1], "h": h, "w": w, "cout": y_shape[1], "oh": oh, "ow": ow,
            "kh": k[0], "kw": k[1], "sh": s[0], "sw": s[1], "dh": d[0], "dw": d[1],
            "pad_t": pt, "pad_l": pl, "pad_b": pb, "pad_r": pr, "group": group,
            "x": ctx.ptr(node.inputs[0]), "weight": ctx.ptr(node.inputs[1]),
            "bias": ctx.ptr(bias) if bias else "0", "residual": ctx.ptr(residual) if residual else "0",
            "y": ctx.ptr(node.outputs[0]), "scratch": "wdn_scratch", "scratch_stride": "WDN_SCRATCH_STRIDE",
            "act": act_struct(node.attrs),
        }))
        return [f"wdn_conv2d_f32(&{var}, tid, nth);"]

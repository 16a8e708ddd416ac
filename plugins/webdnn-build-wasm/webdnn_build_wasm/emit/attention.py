"""webdnn.FusedAttention (made by webdnn_build.codegen.fuse_attention) → wdn_attention_f32 (csrc/attention.c)."""

from __future__ import annotations

from webdnn_build.codegen import FUSED_ATTENTION, broadcast_strides
from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_float32_static, cfloat, struct_init


class AttentionEmitter(Emitter):
    ops = (FUSED_ATTENTION[1],)
    domain = FUSED_ATTENTION[0]

    def supports(self, node: Node, graph: Graph) -> bool:
        return node.domain == FUSED_ATTENTION[0] and all_float32_static(graph, node.inputs + node.outputs)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        q, kt, v, bias = node.inputs
        b, h, s, d = ctx.shape(q)
        seq_k, dv = ctx.shape(kt)[3], ctx.shape(v)[3]
        strides = "{0, 0, 0, 0}"
        if bias:
            strides = "{" + ", ".join(map(str, broadcast_strides(ctx.shape(bias), (b, h, s, seq_k)))) + "}"
        var = ctx.fresh("attn")
        ctx.scratch.append(f"WDN_ATTENTION_SCRATCH_BYTES({seq_k})")
        ctx.decls.append(struct_init("wdn_attention_params", var, {
            "batch": b, "heads": h, "seq_q": s, "seq_k": seq_k, "head_q": d, "head_v": dv,
            "q": ctx.ptr(q), "kt": ctx.ptr(kt), "v": ctx.ptr(v), "bias": ctx.ptr(bias) if bias else "0",
            "bias_stride": strides, "scale": cfloat(node.attrs["scale"]),
            "nan_to_zero": int(node.attrs["nan_to_zero"]), "y": ctx.ptr(node.outputs[0]),
            "scratch": "wdn_scratch", "scratch_stride": "WDN_SCRATCH_STRIDE",
        }))
        return [f"wdn_attention_f32(&{var}, tid, nth);"]

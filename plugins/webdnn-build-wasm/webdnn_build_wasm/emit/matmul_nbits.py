"""com.microsoft MatMulNBits with 4-bit weights (csrc/matmul_nbits.c): a block-dequantizing GEMM that reads
the packed weights directly. Supported: bits = 4, block_size a power of two >= 16, float32 A / scales / bias,
zero points packed uint8 or float32 (or none: 8), no g_idx. Other nodes run as js steps (contrib.js)."""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node
from webdnn_build.opforms import input_at as _inp, matmul_nbits_form

from .base import EmitContext, Emitter, struct_init


class MatMulNBitsEmitter(Emitter):
    ops = ("MatMulNBits",)
    domain = "com.microsoft"

    def supports(self, node: Node, graph: Graph) -> bool:
        return matmul_nbits_form(node, graph) is not None  # (webdnn_build.opforms: the form both backends take)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        a, b, scales, zp, bias = _inp(node, 0), _inp(node, 1), _inp(node, 2), _inp(node, 3), _inp(node, 5)
        k, n, block = node.attrs["K"], node.attrs["N"], node.attrs["block_size"]
        m = math.prod(ctx.shape(a)[:-1])
        zp_u8 = bool(zp) and ctx.graph.values[zp].dtype == "uint8"
        ctx.scratch.append(f"WDN_MATMUL_NBITS_SCRATCH_BYTES({m}, {block})")
        var = ctx.fresh("mnb")
        ctx.decls.append(struct_init("wdn_matmul_nbits_params", var, {
            "m": m, "n": n, "k": k, "block": block, "a": ctx.ptr(a), "b": ctx.ptr(b), "scales": ctx.ptr(scales),
            "zp_packed": ctx.ptr(zp) if zp_u8 else "0", "zp_float": ctx.ptr(zp) if zp and not zp_u8 else "0",
            "bias": ctx.ptr(bias) if bias else "0", "y": ctx.ptr(node.outputs[0]),
            "scratch": "wdn_scratch", "scratch_stride": "WDN_SCRATCH_STRIDE"}))
        return [f"wdn_matmul_nbits(&{var}, tid, nth);"]

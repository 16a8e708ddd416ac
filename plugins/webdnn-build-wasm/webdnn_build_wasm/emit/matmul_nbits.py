"""com.microsoft MatMulNBits with 4-bit weights (csrc/matmul_nbits.c): a block-dequantizing GEMM that reads
the packed weights directly. Supported: bits = 4, block_size a power of two >= 16, float32 A / scales / bias,
zero points packed uint8 or float32 (or none: 8), no g_idx. Other nodes run as js steps (contrib.js)."""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_static, struct_init


def _inp(node: Node, i: int) -> str:
    return node.inputs[i] if len(node.inputs) > i else ""


class MatMulNBitsEmitter(Emitter):
    ops = ("MatMulNBits",)
    domain = "com.microsoft"

    def supports(self, node: Node, graph: Graph) -> bool:
        a, b, scales = _inp(node, 0), _inp(node, 1), _inp(node, 2)
        zp, g_idx, bias = _inp(node, 3), _inp(node, 4), _inp(node, 5)
        outs = [o for o in node.outputs if o]
        if not (a and b and scales) or g_idx or len(outs) != 1 or outs[0] != node.outputs[0]:
            return False
        k, n = node.attrs.get("K"), node.attrs.get("N")
        bits, block = node.attrs.get("bits", 4), node.attrs.get("block_size")
        if bits != 4 or not isinstance(block, int) or block < 16 or block & (block - 1):
            return False
        if not isinstance(k, int) or not isinstance(n, int) or k <= 0 or n <= 0:
            return False
        if not all_static(graph, [a, scales, bias, outs[0]], ("float32",)) or not all_static(graph, [b], ("uint8",)):
            return False
        blocks = -(-k // block)
        sa, sy = tuple(graph.values[a].shape), tuple(graph.values[outs[0]].shape)
        if not sa or sa[-1] != k or sy != sa[:-1] + (n,):
            return False
        if math.prod(graph.values[b].shape) != n * blocks * block // 2 or math.prod(graph.values[scales].shape) != n * blocks:
            return False
        if bias and math.prod(graph.values[bias].shape) != n:
            return False
        if zp:
            if not all_static(graph, [zp], ("uint8", "float32")):
                return False
            want = n * -(-blocks // 2) if graph.values[zp].dtype == "uint8" else n * blocks
            if math.prod(graph.values[zp].shape) != want:
                return False
        return True

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

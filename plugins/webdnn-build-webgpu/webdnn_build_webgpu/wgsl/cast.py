"""BitCast between float32 and int32 / uint32: the bits of an f32 as is.

Not part of the fused elementwise chains: with ``precision f16`` float32 values are stored as f16, whose
bits are not the model's, so emit() refuses there and the op runs on the CPU. The integer-only forms
(int8 <-> uint8, int16 <-> uint16, int32 <-> uint32, bool -> 8-bit) are elementwise (wgsl/elementwise.py).
"""

from __future__ import annotations

from webdnn_build.ir import Graph, Node

from .base import Dispatch, Emitter, KernelBuilder, KernelContext, gpu_static, linear_kernel


class BitCastFloatEmitter(Emitter):
    ops = ("BitCast",)
    rank = 1

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) != 1 or len(node.outputs) != 1:
            return False
        x, y = node.inputs[0], node.outputs[0]
        if not gpu_static(graph, [x, y], ("float32", "int32", "uint32")):
            return False
        dx, dy = graph.values[x].dtype, graph.values[y].dtype
        return "float32" in (dx, dy) and dx != dy and tuple(graph.values[x].shape) == tuple(graph.values[y].shape)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        if ctx.precision != "f32":
            raise ValueError("BitCast of float32 bits needs precision f32 (f16 storage changes the bits)")
        x, y = node.inputs[0], node.outputs[0]
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", x), kb.store("y", y)
        to = kb.ctx.compute_type(ctx.graph.values[y].dtype)
        return [linear_kernel(kb, ctx.numel(y), f"{st}(i, bitcast<{to}>({lx}(i)));", wg=256)]

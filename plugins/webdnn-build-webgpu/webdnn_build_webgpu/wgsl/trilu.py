"""Trilu (upper / lower triangle of the last two dims, diagonal offset k) and Hardmax (one-hot of the first
maximum along an axis)."""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import Dispatch, Emitter, KernelBuilder, KernelContext, const_ints, gpu_static, linear_kernel, literal, u
from .softmax import softmax_geometry


class TriluEmitter(Emitter):
    """y = x inside the triangle, 0 outside; k is baked when constant, else read (int64 stored as i32)."""

    ops = ("Trilu",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.outputs) != 1 or not node.inputs or not node.inputs[0]:
            return False
        if not gpu_static(graph, node.inputs[:1] + node.outputs):
            return False
        x, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
        if x.dtype != y.dtype or len(x.shape) < 2 or literal(x.dtype, 0) is None:
            return False
        if len(node.inputs) > 1 and node.inputs[1]:
            k = node.inputs[1]
            if not gpu_static(graph, [k], ("int32", "int64")) or graph.values[k].numel() != 1:
                return False
        return True

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        shape = ctx.shape(node.inputs[0])
        rows, cols = shape[-2], shape[-1]
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        kname = node.inputs[1] if len(node.inputs) > 1 and node.inputs[1] else ""
        kc = const_ints(ctx, kname) if kname else [0]
        if kc is not None:
            kk = max(min(kc[0], cols + 1), -rows - 1)  # beyond the matrix every offset acts the same
            kexpr = f"({kk}i)"
        else:
            kexpr = f"{kb.load('k', kname)}(0u)"
        cmp = ">=" if node.attrs["upper"] else "<="
        body = (f"let c = i32(i % {u(cols)});\n"
                f"let r = i32((i / {u(cols)}) % {u(rows)});\n"
                f"let keep = (c - r) {cmp} {kexpr};\n"
                f"{st}(i, select({literal(ctx.graph.values[node.inputs[0]].dtype, 0)}, {lx}(i), keep));")
        return [linear_kernel(kb, math.prod(shape), body, wg=256)]


class HardmaxEmitter(Emitter):
    """One invocation per lane: the index of the first maximum (NaN never wins over the first element,
    like the js kernel's ``<`` scan), then the lane's one-hot row."""

    ops = ("Hardmax",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.outputs) != 1 or not gpu_static(graph, node.inputs[:1] + node.outputs, ("float32",)):
            return False
        shape = graph.values[node.inputs[0]].shape
        if not shape:
            return False
        axis = int(node.attrs["axis"])  # the declared default: 1 before opset 13, then -1
        return -len(shape) <= axis < len(shape)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        outer, n, inner = softmax_geometry(node, ctx.graph)
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        body = f"""
let base = (i / {u(inner)}) * {u(n * inner)} + i % {u(inner)};
var best = 0u;
var bv = {lx}(base);
for (var j = 1u; j < {u(n)}; j = j + 1u) {{
  let v = {lx}(base + j * {u(inner)});
  if (bv < v) {{ best = j; bv = v; }}
}}
for (var j = 0u; j < {u(n)}; j = j + 1u) {{
  {st}(base + j * {u(inner)}, select(0.0f, 1.0f, j == best));
}}
"""
        return [linear_kernel(kb, outer * inner, body)]

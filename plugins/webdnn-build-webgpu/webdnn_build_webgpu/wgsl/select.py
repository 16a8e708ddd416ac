"""Selection ops with run-time parameters: OneHot, Compress, ReverseSequence, MaxUnpool.

The output shapes are static (the build needs them); what the parameters select is read at run time:
OneHot's indices and on/off values (its depth is the output's dim), Compress's condition (the k-th true
entry found by a scan, bounded by ``MAX_SCAN``), ReverseSequence's lengths, MaxUnpool's indices.
"""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import (COPY_DTYPES, Dispatch, Emitter, KernelBuilder, KernelContext, contiguous_strides, decompose, dot, gpu_static,
                   linear_kernel, literal, u)

INDEX_DTYPES = ("int32", "int64")
#: Compress: output elements × condition length at most
MAX_SCAN = 1 << 26


class OneHotEmitter(Emitter):
    ops = ("OneHot",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) != 3 or not all(node.inputs) or len(node.outputs) != 1:
            return False
        idx, _, vals = node.inputs
        out = node.outputs[0]
        if not gpu_static(graph, [idx], ("float32", *INDEX_DTYPES)) or not gpu_static(graph, [vals, out], COPY_DTYPES):
            return False
        iv, vv, ov = graph.values[idx], graph.values[vals], graph.values[out]
        if vv.dtype != ov.dtype or vv.numel() != 2:
            return False
        r = len(iv.shape) + 1
        axis = int(node.attrs["axis"])
        if not -r <= axis < r or len(ov.shape) != r:
            return False
        axis %= r
        return tuple(ov.shape[:axis]) + tuple(ov.shape[axis + 1:]) == tuple(iv.shape)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        idx, _, vals = node.inputs
        out = node.outputs[0]
        oshape = ctx.shape(out)
        axis = int(node.attrs["axis"]) % len(oshape)
        depth, inner = oshape[axis], math.prod(oshape[axis + 1:])
        kb = KernelBuilder(ctx)
        li, lv, st = kb.load("idx", idx), kb.load("v", vals), kb.store("y", out)
        lines = [f"let o = i / {u(depth * inner)};", f"let t = (i / {u(inner)}) % {u(depth)};",
                 f"let q = o * {u(inner)} + i % {u(inner)};"]
        if ctx.graph.values[idx].dtype == "float32":
            lines += [f"var k = {li}(q);", f"if (k < 0.0f) {{ k = k + {float(depth)!r}f; }}",
                      f"{st}(i, select({lv}(0u), {lv}(1u), k == f32(t)));"]
        else:
            lines += [f"var k = {li}(q);", f"if (k < 0i) {{ k = k + {depth}i; }}",
                      f"{st}(i, select({lv}(0u), {lv}(1u), k == i32(t)));"]
        return [linear_kernel(kb, math.prod(oshape), "\n".join(lines), wg=256)]


class CompressEmitter(Emitter):
    ops = ("Compress",)

    def _geometry(self, node: Node, graph: Graph):
        x = tuple(graph.values[node.inputs[0]].shape)
        if "axis" not in node.attrs or node.attrs["axis"] is None:
            return (math.prod(x),), 0
        axis = int(node.attrs["axis"])
        if not -len(x) <= axis < len(x):
            return None
        return x, axis % len(x)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) != 2 or not all(node.inputs) or len(node.outputs) != 1:
            return False
        x, cond, out = node.inputs[0], node.inputs[1], node.outputs[0]
        if not gpu_static(graph, [x, out], COPY_DTYPES) or not gpu_static(graph, [cond], ("bool",)):
            return False
        if graph.values[x].dtype != graph.values[out].dtype or len(graph.values[cond].shape) != 1:
            return False
        geo = self._geometry(node, graph)
        if geo is None:
            return False
        shape, axis = geo
        oshape = tuple(graph.values[out].shape)
        if len(oshape) != len(shape) or any(a != b for d, (a, b) in enumerate(zip(shape, oshape)) if d != axis):
            return False
        return graph.values[out].numel() * graph.values[cond].numel() <= MAX_SCAN

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x, cond, out = node.inputs[0], node.inputs[1], node.outputs[0]
        shape, axis = self._geometry(node, ctx.graph)
        oshape = ctx.shape(out)
        n_cond = min(ctx.numel(cond), shape[axis])
        inner, kept = math.prod(shape[axis + 1:]), oshape[axis]
        kb = KernelBuilder(ctx)
        lx, lc, st = kb.load("x", x), kb.load("c", cond), kb.store("y", out)
        lines = [f"let o = i / {u(kept * inner)};", f"let k = (i / {u(inner)}) % {u(kept)};", f"let r = i % {u(inner)};",
                 "var seen = 0u;", "var at = 0u;", "var found = false;",
                 f"for (var j = 0u; j < {u(n_cond)}; j = j + 1u) {{",
                 f"  if ({lc}(j)) {{",
                 "    if (seen == k) { at = j; found = true; break; }",
                 "    seen = seen + 1u;",
                 "  }",
                 "}",
                 f"{st}(i, select({literal(ctx.graph.values[x].dtype, 0)}, "
                 f"{lx}((o * {u(shape[axis])} + at) * {u(inner)} + r), found));"]
        return [linear_kernel(kb, math.prod(oshape), "\n".join(lines), wg=256)]


class ReverseSequenceEmitter(Emitter):
    ops = ("ReverseSequence",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) != 2 or not all(node.inputs) or len(node.outputs) != 1:
            return False
        x, lens, out = node.inputs[0], node.inputs[1], node.outputs[0]
        if not gpu_static(graph, [x, out], COPY_DTYPES) or not gpu_static(graph, [lens], INDEX_DTYPES):
            return False
        xs = tuple(graph.values[x].shape)
        b, t = int(node.attrs["batch_axis"]), int(node.attrs["time_axis"])
        return (len(xs) >= 2 and {b, t} <= {0, 1} and b != t and xs == tuple(graph.values[out].shape)
                and tuple(graph.values[lens].shape) == (xs[b],))

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x, lens, out = node.inputs[0], node.inputs[1], node.outputs[0]
        xs = list(ctx.shape(x))
        b, t = int(node.attrs["batch_axis"]), int(node.attrs["time_axis"])
        strides = contiguous_strides(xs)
        kb = KernelBuilder(ctx)
        lx, ll, st = kb.load("x", x), kb.load("len", lens), kb.store("y", out)
        lines = decompose("i", xs) + [f"let n = {ll}(c{b});", f"var s = i32(c{t});",
                                       f"if (s < n && n <= {xs[t]}i) {{ s = n - 1i - s; }}",
                                       f"{st}(i, {lx}(i - c{t} * {u(strides[t])} + u32(s) * {u(strides[t])}));"]
        return [linear_kernel(kb, math.prod(xs), "\n".join(lines), wg=256)]


class MaxUnpoolEmitter(Emitter):
    """Zeros, then each input element written at its index (a flat offset into the unpooled shape MaxPool
    saw; an explicit larger ``output_shape`` pads that shape at the end of each axis)."""

    ops = ("MaxUnpool",)

    def _inferred(self, node: Node, graph: Graph):
        xs = graph.values[node.inputs[0]].shape
        rank = len(xs) - 2
        kernel = node.attrs.get("kernel_shape")
        if kernel is None or len(kernel) != rank:
            return None
        strides = node.attrs.get("strides") or [1] * rank
        pads = node.attrs.get("pads") or [0] * (2 * rank)
        return [xs[0], xs[1]] + [(n - 1) * strides[i] - pads[i] - pads[i + rank] + kernel[i] for i, n in enumerate(xs[2:])]

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) < 2 or not all(node.inputs[:2]) or len(node.outputs) != 1:
            return False
        x, idx, out = node.inputs[0], node.inputs[1], node.outputs[0]
        if not gpu_static(graph, [x, out], ("float32",)) or not gpu_static(graph, [idx], INDEX_DTYPES):
            return False
        if tuple(graph.values[idx].shape) != tuple(graph.values[x].shape) or len(graph.values[x].shape) < 3:
            return False
        inf = self._inferred(node, graph)
        oshape = graph.values[out].shape
        return inf is not None and len(oshape) == len(inf) and all(o >= n > 0 for o, n in zip(oshape, inf))

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x, idx, out = node.inputs[0], node.inputs[1], node.outputs[0]
        inf = self._inferred(node, ctx.graph)
        oshape = list(ctx.shape(out))
        kb = KernelBuilder(ctx)
        st = kb.store("y", out)
        zero = linear_kernel(kb, math.prod(oshape), f"{st}(i, 0.0f);", wg=256)
        kb = KernelBuilder(ctx)
        lx, li, st = kb.load("x", x), kb.load("idx", idx), kb.store("y", out)
        lines = [f"let k = {li}(i);", f"if (k < 0i || k >= {math.prod(inf)}i) {{ return; }}"]
        if inf == oshape:
            lines.append(f"{st}(u32(k), {lx}(i));")
        else:
            lines += decompose("u32(k)", inf, "p")
            lines.append(f"{st}({dot([f'p{d}' for d in range(len(inf))], contiguous_strides(oshape))}, {lx}(i));")
        return [zero, linear_kernel(kb, ctx.numel(x), "\n".join(lines), wg=256)]


class NonZeroEmitter(Emitter):
    """NonZero with a static output shape (rank, count): output (d, k) is coordinate d of the k-th nonzero
    element in row-major order, found by a scan (bounded by ``MAX_SCAN``)."""

    ops = ("NonZero",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) != 1 or len(node.outputs) != 1:
            return False
        x, y = node.inputs[0], node.outputs[0]
        if not gpu_static(graph, [x], COPY_DTYPES) or not gpu_static(graph, [y], ("int64",)):
            return False
        xs, ys = graph.values[x].shape, graph.values[y].shape
        return (len(xs) >= 1 and len(ys) == 2 and ys[0] == len(xs)
                and graph.values[x].numel() * graph.values[y].numel() <= MAX_SCAN)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x, y = node.inputs[0], node.outputs[0]
        xs = list(ctx.shape(x))
        rank, count = ctx.shape(y)
        dt = ctx.graph.values[x].dtype
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", x), kb.store("y", y)
        zero = literal(dt, 0) if dt != "bool" else None
        test = f"{lx}(j)" if zero is None else f"{lx}(j) != {zero}"
        strides = contiguous_strides(xs)
        lines = [f"let d = i / {u(count)};", f"let k = i % {u(count)};", "var seen = 0u;", "var at = 0u;",
                 f"for (var j = 0u; j < {u(ctx.numel(x))}; j = j + 1u) {{",
                 f"  if ({test}) {{",
                 "    if (seen == k) { at = j; break; }",
                 "    seen = seen + 1u;",
                 "  }",
                 "}",
                 f"var stride = {u(strides[0])};"]
        for a in range(1, rank):
            lines.append(f"if (d == {u(a)}) {{ stride = {u(strides[a])}; }}")
        dims = ", ".join(u(n) for n in xs)
        lines += [f"var dims = array<u32, {rank}>({dims});",
                  f"{st}(i, i32((at / stride) % dims[d]));"]
        return [linear_kernel(kb, rank * count, "\n".join(lines), wg=256)]

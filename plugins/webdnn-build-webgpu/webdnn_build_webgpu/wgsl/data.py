"""Data movement: Concat, Split, Transpose, Reshape family (copies), Slice, Expand, Tile, Pad.

Shape/axes/pads inputs are build-time constants (folded by the optimizer). The data may be of any
dtype that lives on the GPU (float32, integers as i32/u32, bool as u32): the kernels only move
elements. Gather/GatherND are in ``indexing.py``.
"""

from __future__ import annotations

import math

import numpy as np

from webdnn_build.ir import Graph, Node

from .base import (Dispatch, Emitter, KernelBuilder, KernelContext, broadcast_strides, collapse, const_ints,
                   contiguous_strides, decompose, gpu_static, linear_kernel, literal, u)


def _copy(ctx: KernelContext, x: str, y: str) -> Dispatch:
    kb = KernelBuilder(ctx)
    lx, st = kb.load("x", x), kb.store("y", y)
    return linear_kernel(kb, ctx.numel(y), f"{st}(i, {lx}(i));", wg=256)


class CopyEmitter(Emitter):
    """Ops that only change the shape: the data is copied as is."""

    ops = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")

    def supports(self, node: Node, graph: Graph) -> bool:
        return (len(node.outputs) == 1 and gpu_static(graph, node.inputs[:1] + node.outputs)
                and graph.values[node.inputs[0]].dtype == graph.values[node.outputs[0]].dtype)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        return [_copy(ctx, node.inputs[0], node.outputs[0])]


class ConcatEmitter(Emitter):
    ops = ("Concat",)

    def supports(self, node: Node, graph: Graph) -> bool:
        return gpu_static(graph, node.inputs + node.outputs) and all(node.inputs) \
            and len({graph.values[n].dtype for n in node.inputs + node.outputs}) == 1

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        out = ctx.shape(node.outputs[0])
        axis = node.attrs.get("axis", 1)
        axis = axis + len(out) if axis < 0 else axis
        inner = math.prod(out[axis + 1:])
        dispatches, offset = [], 0
        for name in node.inputs:
            a = ctx.shape(name)[axis]
            total = ctx.numel(name)
            if total:
                kb = KernelBuilder(ctx)
                lx, st = kb.load("x", name), kb.store("y", node.outputs[0])
                body = (f"let q = i % {u(a * inner)};\n"
                        f"{st}((i / {u(a * inner)}) * {u(out[axis] * inner)} + {u(offset * inner)} + q, {lx}(i));")
                dispatches.append(linear_kernel(kb, total, body, wg=256))
            offset += a
        return dispatches


def _gather_index_kernel(ctx: KernelContext, x: str, y: str, out_shape: tuple[int, ...],
                         in_offset: list[str], pre: list[str] = (), kb: KernelBuilder | None = None) -> Dispatch:
    """y[i] = x[in_offset(coords of i in out_shape)]; ``in_offset`` built from coords c0..."""
    kb = kb or KernelBuilder(ctx)
    lx, st = kb.load("x", x), kb.store("y", y)
    lines = decompose("i", list(out_shape)) + list(pre) + [f"{st}(i, {lx}({' + '.join(in_offset) or '0u'}));"]
    return linear_kernel(kb, math.prod(out_shape), "\n".join(lines), wg=256)


class TransposeEmitter(Emitter):
    ops = ("Transpose",)

    def supports(self, node: Node, graph: Graph) -> bool:
        return gpu_static(graph, node.inputs + node.outputs)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x = ctx.shape(node.inputs[0])
        rank = len(x)
        perm = list(node.attrs.get("perm", list(range(rank))[::-1]))
        strides = contiguous_strides(x)
        out_shape = [x[p] for p in perm]
        dims, (ins,) = collapse(tuple(out_shape), [[strides[p] for p in perm]])
        if not dims:
            return [_copy(ctx, node.inputs[0], node.outputs[0])]
        terms = [f"c{d} * {u(s)}" for d, s in enumerate(ins)]
        return [_gather_index_kernel(ctx, node.inputs[0], node.outputs[0], tuple(dims), terms)]


class SliceEmitter(Emitter):
    ops = ("Slice",)

    def _params(self, node: Node, graph: Graph):
        x = graph.values[node.inputs[0]].shape
        opset = graph.opset_for(node.domain)
        if opset < 10:
            starts, ends = node.attrs.get("starts"), node.attrs.get("ends")
            axes = node.attrs.get("axes", list(range(len(starts))))
            steps = [1] * len(starts)
        else:
            starts, ends = const_ints(graph, node.inputs[1]), const_ints(graph, node.inputs[2])
            axes = const_ints(graph, node.inputs[3]) if len(node.inputs) > 3 and node.inputs[3] else None
            steps = const_ints(graph, node.inputs[4]) if len(node.inputs) > 4 and node.inputs[4] else None
            if starts is None or ends is None or (len(node.inputs) > 3 and node.inputs[3] and axes is None) \
                    or (len(node.inputs) > 4 and node.inputs[4] and steps is None):
                return None
            axes = axes if axes is not None else list(range(len(starts)))
            steps = steps if steps is not None else [1] * len(starts)
        begin = [0] * len(x)
        step = [1] * len(x)
        for s, e, a, st in zip(starts, ends, axes, steps):
            a = a + len(x) if a < 0 else a
            r = range(*slice(s, e, st).indices(x[a]))
            begin[a], step[a] = (r.start if len(r) else 0), st
        return begin, step

    def supports(self, node: Node, graph: Graph) -> bool:
        return gpu_static(graph, node.inputs[:1] + node.outputs) and self._params(node, graph) is not None

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        begin, step = self._params(node, ctx.graph)
        x, y = ctx.shape(node.inputs[0]), ctx.shape(node.outputs[0])
        strides = contiguous_strides(x)
        base = sum(b * s for b, s in zip(begin, strides))
        terms = [f"{u(base)}"] + [f"c{d} * {u(step[d] * strides[d])}" for d in range(len(x)) if step[d] > 0 and y[d] > 1]
        neg = [(d, -step[d] * strides[d]) for d in range(len(x)) if step[d] < 0 and y[d] > 1]
        offset = " + ".join(terms)
        for d, s in neg:
            offset = f"({offset}) - c{d} * {u(s)}"
        return [_gather_index_kernel(ctx, node.inputs[0], node.outputs[0], y, [offset])]


class ExpandEmitter(Emitter):
    ops = ("Expand", "Tile")

    def supports(self, node: Node, graph: Graph) -> bool:
        if not gpu_static(graph, node.inputs[:1] + node.outputs):
            return False
        return node.op_type == "Expand" or const_ints(graph, node.inputs[1]) is not None

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x, y = ctx.shape(node.inputs[0]), ctx.shape(node.outputs[0])
        if node.op_type == "Expand":
            dims, (_, s) = collapse(y, [contiguous_strides(y), broadcast_strides(x, y)])
            terms = [f"c{d} * {u(st)}" for d, st in enumerate(s) if st]
            return [_gather_index_kernel(ctx, node.inputs[0], node.outputs[0], tuple(dims) or (1,), terms)]
        strides = contiguous_strides(x)
        terms = [f"(c{d} % {u(x[d])}) * {u(strides[d])}" for d in range(len(x))]
        return [_gather_index_kernel(ctx, node.inputs[0], node.outputs[0], y, terms)]


class PadEmitter(Emitter):
    ops = ("Pad",)

    def _params(self, node: Node, graph: Graph):
        rank = len(graph.values[node.inputs[0]].shape)
        if graph.opset_for(node.domain) < 11:
            pads, value, axes = list(node.attrs.get("pads", [])), node.attrs.get("value", 0.0), None
        else:
            pads = const_ints(graph, node.inputs[1])
            value = 0
            if len(node.inputs) > 2 and node.inputs[2]:
                v = graph.values[node.inputs[2]]
                if v.const is None:
                    return None
                value = np.asarray(v.const).ravel()[0].item() if np.asarray(v.const).size else 0
            axes = const_ints(graph, node.inputs[3]) if len(node.inputs) > 3 and node.inputs[3] else None
            if pads is None or (len(node.inputs) > 3 and node.inputs[3] and axes is None):
                return None
        if axes is not None:
            full = [0] * (2 * rank)
            for j, a in enumerate(axes):
                a = a + rank if a < 0 else a
                full[a], full[a + rank] = pads[j], pads[j + len(axes)]
            pads = full
        return pads, value

    def supports(self, node: Node, graph: Graph) -> bool:
        mode = node.attrs.get("mode", "constant")
        if mode not in ("constant", "edge", "reflect"):
            return False
        params = self._params(node, graph) if gpu_static(graph, node.inputs[:1] + node.outputs) else None
        return params is not None and literal(graph.values[node.inputs[0]].dtype, params[1]) is not None

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        pads, value = self._params(node, ctx.graph)
        x, y = ctx.shape(node.inputs[0]), ctx.shape(node.outputs[0])
        rank = len(x)
        mode = node.attrs.get("mode", "constant")
        strides = contiguous_strides(x)
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        lines = decompose("i", list(y)) + ["var inside = true;", "var off = 0i;"]
        for d in range(rank):
            lines.append(f"var p{d} = i32(c{d}) - {pads[d]}i;")
            if mode == "constant":
                lines.append(f"if (p{d} < 0i || p{d} >= {x[d]}i) {{ inside = false; }}")
            elif mode == "edge":
                lines.append(f"p{d} = clamp(p{d}, 0i, {x[d] - 1}i);")
            else:  # reflect (pads smaller than the dim)
                lines.append(f"if (p{d} < 0i) {{ p{d} = -p{d}; }}")
                lines.append(f"if (p{d} >= {x[d]}i) {{ p{d} = {2 * x[d] - 2}i - p{d}; }}")
            lines.append(f"off = off + p{d} * {strides[d]}i;")
        lines.append(f"if (inside) {{ {st}(i, {lx}(u32(off))); }} else {{ {st}(i, {literal(ctx.graph.values[node.inputs[0]].dtype, value)}); }}")
        return [linear_kernel(kb, math.prod(y), "\n".join(lines), wg=256)]


class SplitEmitter(Emitter):
    """Split along one axis (sizes from the ``split`` input or attribute, else ``num_outputs`` / equal parts,
    as the output shapes say): one copy dispatch per output."""

    ops = ("Split",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if not all(node.outputs) or not gpu_static(graph, node.inputs[:1] + node.outputs):
            return False
        x = graph.values[node.inputs[0]].shape
        axis = int(node.attrs.get("axis", 0))
        if not -len(x) <= axis < len(x):
            return False
        axis %= len(x)
        ys = [graph.values[o].shape for o in node.outputs]
        return (sum(y[axis] for y in ys) == x[axis]
                and all(len(y) == len(x) and all(a == b for d, (a, b) in enumerate(zip(x, y)) if d != axis) for y in ys)
                and len({graph.values[n].dtype for n in node.inputs[:1] + node.outputs}) == 1)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x = ctx.shape(node.inputs[0])
        axis = int(node.attrs.get("axis", 0)) % len(x)
        inner = math.prod(x[axis + 1:])
        dispatches, offset = [], 0
        for name in node.outputs:
            a = ctx.shape(name)[axis]
            total = ctx.numel(name)
            if total:
                kb = KernelBuilder(ctx)
                lx, st = kb.load("x", node.inputs[0]), kb.store("y", name)
                body = (f"let q = i % {u(a * inner)};\n"
                        f"{st}(i, {lx}((i / {u(a * inner)}) * {u(x[axis] * inner)} + {u(offset * inner)} + q));")
                dispatches.append(linear_kernel(kb, total, body, wg=256))
            offset += a
        return dispatches

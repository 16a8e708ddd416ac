"""Gather and GatherND with constant or computed indices, data of any GPU dtype.

Indices (int32 or int64, both stored as i32 on the GPU) are read through a binding, or baked in
as a literal when Gather has one constant scalar index. Negative indices wrap (ONNX); an index
still outside ``[0, dim)`` after wrapping is an error in ONNX (the js kernels throw): the GPU has
no way to report it, so kernels clamp it into range (a constant one keeps the node on the CPU,
where the error is raised).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from webdnn_build.ir import Graph, Node

from webdnn_build.symshape import bounds

from .base import (Dispatch, Emitter, KernelBuilder, KernelContext, RuntimeSize, decompose, gpu_static, i32_of,
                   linear_kernel, u)

INDEX_DTYPES = ("int32", "int64")


def const_indices_ok(graph: Graph, name: str, dims: list[int]) -> bool:
    """A constant index tensor whose last axis indexes ``dims`` (one dim for Gather) is in range."""
    v = graph.values[name]
    if v.const is None:
        return True
    a = np.asarray(v.const).astype(np.int64).reshape(-1, len(dims))
    lim = np.asarray(dims, np.int64)
    return bool(a.size == 0 or ((a >= -lim) & (a < lim)).all())


def _pick(var: str, raw: str, dim: int) -> list[str]:
    """WGSL statements: ``let var: u32`` = index ``raw`` (an i32) wrapped and clamped into [0, dim)."""
    return [f"var {var}_s = {raw};",
            f"if ({var}_s < 0i) {{ {var}_s = {var}_s + {i32_of(dim)}; }}",
            f"let {var} = u32(clamp({var}_s, 0i, {i32_of(dim)} - 1i));"]


def _scalar_index(graph: Graph, name: str, dim: int) -> Optional[int]:
    v = graph.values[name]
    if v.const is None or np.asarray(v.const).ndim != 0:
        return None
    k = int(np.asarray(v.const))
    return k + dim if k < 0 else k


class GatherEmitter(Emitter):
    ops = ("Gather",)
    symbolic = True  # the indices' count (and the data's other axes) may be known at run time only

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) < 2 or not node.inputs[1]:
            return False
        if not gpu_static(graph, node.inputs[:1] + node.outputs) or not gpu_static(graph, node.inputs[1:2], INDEX_DTYPES):
            return False
        x = graph.values[node.inputs[0]].shape
        axis = node.attrs["axis"]
        if not -len(x) <= axis < len(x):
            return False
        d = x[axis % len(x)]
        if isinstance(d, RuntimeSize):  # never empty (its range), and the indices are read at run time
            return bounds(d.e, graph.dims)[0] >= 1 and graph.values[node.inputs[1]].const is None
        return d > 0 and const_indices_ok(graph, node.inputs[1], [d])

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x = ctx.shape(node.inputs[0])
        axis = node.attrs["axis"] % len(x)
        n_idx = ctx.numel(node.inputs[1])
        outer, inner, d = math.prod(x[:axis]), math.prod(x[axis + 1:]), x[axis]
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        lines = decompose("i", [outer, n_idx, inner])
        k = _scalar_index(ctx.graph, node.inputs[1], d)
        if k is not None:
            lines.append(f"let sel = {u(k)};")
        else:
            li = kb.load("idx", node.inputs[1])
            lines += _pick("sel", f"{li}(c1)", d)
        lines.append(f"{st}(i, {lx}((c0 * {u(d)} + sel) * {u(inner)} + c2));")
        return [linear_kernel(kb, outer * n_idx * inner, "\n".join(lines), wg=256)]


class GatherNDEmitter(Emitter):
    ops = ("GatherND",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) < 2 or not all(node.inputs[:2]):
            return False
        if not gpu_static(graph, node.inputs[:1] + node.outputs) or not gpu_static(graph, node.inputs[1:2], INDEX_DTYPES):
            return False
        data, idx = graph.values[node.inputs[0]].shape, graph.values[node.inputs[1]].shape
        b = int(node.attrs.get("batch_dims", 0))  # opset 12+
        if not idx or b < 0 or b >= min(len(data), len(idx)):
            return False
        k = idx[-1]
        if not 1 <= k <= len(data) - b or any(d == 0 for d in data):
            return False
        return const_indices_ok(graph, node.inputs[1], list(data[b:b + k]))

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        data, idx = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
        b = int(node.attrs.get("batch_dims", 0))  # opset 12+
        k = idx[-1]
        tuples = math.prod(idx[:-1])                 # index tuples (batch dims included)
        per_batch = math.prod(idx[b:-1])             # tuples per batch entry
        inner = math.prod(data[b + k:])              # elements each tuple selects
        batch_stride = math.prod(data[b:])
        kb = KernelBuilder(ctx)
        lx, st, li = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0]), kb.load("idx", node.inputs[1])
        lines = [f"let o = i / {u(inner)};", f"let c = i - o * {u(inner)};",
                 f"var off = (o / {u(per_batch)}) * {u(batch_stride)} + c;"]
        for j in range(k):
            dim, stride = data[b + j], math.prod(data[b + j + 1:])
            lines += _pick(f"k{j}", f"{li}(o * {u(k)} + {u(j)})", dim)
            lines.append(f"off = off + k{j} * {u(stride)};")
        lines.append(f"{st}(i, {lx}(off));")
        return [linear_kernel(kb, tuples * inner, "\n".join(lines), wg=256)]


class GatherElementsEmitter(Emitter):
    """GatherElements: y[..., j, ...] = x[..., idx[..., j, ...], ...] along ``axis``; one invocation per output
    (the output has the index tensor's shape). Indices wrap and are clamped like Gather's."""

    ops = ("GatherElements",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) < 2 or not all(node.inputs[:2]) or len(node.outputs) != 1:
            return False
        if not gpu_static(graph, node.inputs[:1] + node.outputs) or not gpu_static(graph, node.inputs[1:2], INDEX_DTYPES):
            return False
        x, idx = graph.values[node.inputs[0]].shape, graph.values[node.inputs[1]].shape
        if graph.values[node.inputs[0]].dtype != graph.values[node.outputs[0]].dtype:
            return False
        if len(x) == 0 or len(idx) != len(x) or tuple(graph.values[node.outputs[0]].shape) != tuple(idx):
            return False
        axis = int(node.attrs["axis"])
        if not -len(x) <= axis < len(x):
            return False
        axis %= len(x)
        if any(i > d for a, (i, d) in enumerate(zip(idx, x)) if a != axis) or x[axis] == 0:
            return False
        return const_indices_ok(graph, node.inputs[1], [x[axis]])

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x, idx = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
        axis = int(node.attrs["axis"]) % len(x)
        xs = [math.prod(x[d + 1:]) for d in range(len(x))]
        kb = KernelBuilder(ctx)
        lx, li, st = kb.load("x", node.inputs[0]), kb.load("idx", node.inputs[1]), kb.store("y", node.outputs[0])
        lines = decompose("i", list(idx))
        lines += _pick("sel", f"{li}(i)", x[axis])
        terms = [("sel" if d == axis else f"c{d}") + (f" * {u(xs[d])}" if xs[d] != 1 else "") for d in range(len(x))]
        lines.append(f"{st}(i, {lx}({' + '.join(terms)}));")
        return [linear_kernel(kb, math.prod(idx), "\n".join(lines), wg=256)]

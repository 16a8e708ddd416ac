"""ScatterElements (and the deprecated Scatter), ScatterND and TensorScatter, data of any GPU dtype.

Results are deterministic and follow ONNX's sequential order where it matters:

- ScatterElements: one thread per output element walks the updates that share its coordinates off the
  axis (``indices.shape[axis]`` of them) in order, applying each whose index hits it (the reduction, or
  the last one wins without a reduction).
- ScatterND without a reduction: a copy of the data, then one thread per update element (ONNX leaves
  duplicate indices undefined there). With a reduction: one thread per output element walks every index
  tuple in order (bounded: see ``MAX_SEARCH``).
- TensorScatter: each output element computes the one update position that can land on it.

Indices are int32 or int64 (i32 on the GPU); negative ones wrap. An index still out of range is an
error in ONNX: constant indices are checked here (such a node stays on the CPU, which raises);
run-time ones out of range never match, so they update nothing.
"""

from __future__ import annotations

import math
from typing import Optional

from webdnn_build.ir import Graph, Node

from .base import (COPY_DTYPES, Dispatch, Emitter, KernelBuilder, KernelContext, contiguous_strides, decompose, dot, gpu_static,
                   linear_kernel, u)
from .indexing import const_indices_ok

INDEX_DTYPES = ("int32", "int64")
NUMERIC = ("float32", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")
#: add/mul wrap at the storage width, so only dtypes computed at their own width
ARITH = ("float32", "int32", "int64", "uint32")
#: ScatterND with a reduction: output elements × index tuples at most
MAX_SEARCH = 1 << 26


def _reduction(node: Node) -> str:
    r = node.attrs.get("reduction", "none")  # opset 16+
    return r.decode() if isinstance(r, bytes) else str(r)


def _reduction_ok(node: Node, dtype: str) -> bool:
    r = _reduction(node)
    if r == "none":
        return True
    if r in ("add", "mul"):
        return dtype in ARITH
    return r in ("max", "min") and dtype in NUMERIC


def _combine(red: str, acc: str, val: str) -> str:
    if red == "add":
        return f"{acc} + {val}"
    if red == "mul":
        return f"{acc} * {val}"
    if red in ("max", "min"):
        return f"{red}({acc}, {val})"
    return val


def _wrapped(var: str, raw: str, dim: int) -> list[str]:
    """``var``: index ``raw`` (i32) with negatives wrapped, still an i32 (out of range stays out of range)."""
    return [f"var {var} = {raw};", f"if ({var} < 0i) {{ {var} = {var} + {dim}i; }}"]


def _data_idx_upd(node: Node, graph: Graph) -> Optional[tuple]:
    """The shared ``supports`` checks of ScatterElements and ScatterND (data, indices, updates -> one output
    like the data): the data, indices and updates values, or ``None`` when the node does not qualify."""
    if len(node.inputs) < 3 or not all(node.inputs[:3]) or len(node.outputs) != 1:
        return None
    data, idx, upd, out = node.inputs[0], node.inputs[1], node.inputs[2], node.outputs[0]
    if not gpu_static(graph, [data, upd, out], COPY_DTYPES) or not gpu_static(graph, [idx], INDEX_DTYPES):
        return None
    dv, iv, uv, ov = (graph.values[n] for n in (data, idx, upd, out))
    if not (dv.dtype == uv.dtype == ov.dtype) or tuple(dv.shape) != tuple(ov.shape):
        return None
    return dv, iv, uv


class ScatterElementsEmitter(Emitter):
    ops = ("ScatterElements", "Scatter")

    def supports(self, node: Node, graph: Graph) -> bool:
        vals = _data_idx_upd(node, graph)
        if vals is None:
            return False
        dv, iv, uv = vals
        r = len(dv.shape)
        if r == 0 or tuple(iv.shape) != tuple(uv.shape) or len(iv.shape) != r:
            return False
        axis = int(node.attrs["axis"])
        if not -r <= axis < r:
            return False
        axis %= r
        if any(i > d for k, (i, d) in enumerate(zip(iv.shape, dv.shape)) if k != axis):
            return False
        return _reduction_ok(node, dv.dtype) and const_indices_ok(graph, node.inputs[1], [dv.shape[axis]])

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        data, idx, upd, out = node.inputs[0], node.inputs[1], node.inputs[2], node.outputs[0]
        dshape, ishape = list(ctx.shape(data)), list(ctx.shape(idx))
        r = len(dshape)
        axis = int(node.attrs["axis"]) % r
        red = _reduction(node)
        kb = KernelBuilder(ctx)
        lx, li, lu, st = kb.load("x", data), kb.load("idx", idx), kb.load("u", upd), kb.store("y", out)
        istr = contiguous_strides(ishape)
        lines = decompose("i", dshape) + [f"var v = {lx}(i);"]
        conds = [f"c{d} < {u(ishape[d])}" for d in range(r) if d != axis and ishape[d] < dshape[d]]
        base = dot([f"c{d}" for d in range(r) if d != axis], [istr[d] for d in range(r) if d != axis])
        loop = [f"for (var j = 0u; j < {u(ishape[axis])}; j = j + 1u) {{",
                f"  let q = {base} + j * {u(istr[axis])};"]
        loop += ["  " + s for s in _wrapped("k", f"{li}(q)", dshape[axis])]
        loop += [f"  if (k == i32(c{axis})) {{ v = {_combine(red, 'v', f'{lu}(q)')}; }}", "}"]
        if conds:
            lines.append(f"if ({' && '.join(conds)}) {{")
            lines += ["  " + s for s in loop]
            lines.append("}")
        else:
            lines += loop
        lines.append(f"{st}(i, v);")
        return [linear_kernel(kb, math.prod(dshape), "\n".join(lines), wg=256)]


class ScatterNDEmitter(Emitter):
    ops = ("ScatterND",)

    def supports(self, node: Node, graph: Graph) -> bool:
        vals = _data_idx_upd(node, graph)
        if vals is None:
            return False
        dv, iv, uv = vals
        ishape, dshape = tuple(iv.shape), tuple(dv.shape)
        if not ishape or not 1 <= ishape[-1] <= len(dshape):
            return False
        k = ishape[-1]
        if tuple(uv.shape) != ishape[:-1] + dshape[k:]:
            return False
        if not _reduction_ok(node, dv.dtype) or not const_indices_ok(graph, node.inputs[1], list(dshape[:k])):
            return False
        if _reduction(node) != "none" and dv.numel() * math.prod(ishape[:-1]) > MAX_SEARCH:
            return False
        return True

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        data, idx, upd, out = node.inputs[0], node.inputs[1], node.inputs[2], node.outputs[0]
        dshape, ishape = list(ctx.shape(data)), list(ctx.shape(idx))
        k = ishape[-1]
        tuples = math.prod(ishape[:-1])
        inner = math.prod(dshape[k:])
        dstr = contiguous_strides(dshape)
        red = _reduction(node)
        total = math.prod(dshape)
        if red == "none":
            kb = KernelBuilder(ctx)
            lx, st = kb.load("x", data), kb.store("y", out)
            copy = linear_kernel(kb, total, f"{st}(i, {lx}(i));", wg=256)
            kb = KernelBuilder(ctx)
            li, lu, st = kb.load("idx", idx), kb.load("u", upd), kb.store("y", out)
            lines = [f"let t = i / {u(inner)};", f"let r = i - t * {u(inner)};", "var off = i32(r);", "var ok = true;"]
            for j in range(k):
                lines += _wrapped(f"k{j}", f"{li}(t * {u(k)} + {u(j)})", dshape[j])
                lines.append(f"if (k{j} < 0i || k{j} >= {dshape[j]}i) {{ ok = false; }}")
                lines.append(f"off = off + k{j} * {dstr[j]}i;")
            lines.append(f"if (ok) {{ {st}(u32(off), {lu}(i)); }}")
            return [copy, linear_kernel(kb, tuples * inner, "\n".join(lines), wg=256)]
        kb = KernelBuilder(ctx)
        lx, li, lu, st = kb.load("x", data), kb.load("idx", idx), kb.load("u", upd), kb.store("y", out)
        lines = [f"let o = i / {u(inner)};", f"let r = i - o * {u(inner)};"] + decompose("o", dshape[:k], "c")
        lines += [f"var v = {lx}(i);",
                  f"for (var t = 0u; t < {u(tuples)}; t = t + 1u) {{",
                  "  var hit = true;"]
        for j in range(k):
            lines += ["  " + s for s in _wrapped(f"k{j}", f"{li}(t * {u(k)} + {u(j)})", dshape[j])]
            lines.append(f"  if (k{j} != i32(c{j})) {{ hit = false; }}")
        lines += [f"  if (hit) {{ v = {_combine(red, 'v', f'{lu}(t * {u(inner)} + r)')}; }}", "}", f"{st}(i, v);"]
        return [linear_kernel(kb, total, "\n".join(lines), wg=256)]


class TensorScatterEmitter(Emitter):
    ops = ("TensorScatter",)

    def _axis(self, node: Node, rank: int) -> Optional[int]:
        a = int(node.attrs["axis"])
        if not -rank <= a < rank:
            return None
        a %= rank
        return a if a > 0 else None

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) < 2 or not all(node.inputs[:2]) or len(node.outputs) != 1:
            return False
        cache, upd, out = node.inputs[0], node.inputs[1], node.outputs[0]
        if not gpu_static(graph, [cache, upd, out], COPY_DTYPES):
            return False
        w = node.inputs[2] if len(node.inputs) > 2 else ""
        if w and not gpu_static(graph, [w], INDEX_DTYPES):
            return False
        cv, uv, ov = (graph.values[n] for n in (cache, upd, out))
        if not (cv.dtype == uv.dtype == ov.dtype) or tuple(cv.shape) != tuple(ov.shape):
            return False
        r = len(cv.shape)
        axis = self._axis(node, r)
        mode = node.attrs["mode"]
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        if axis is None or mode not in ("linear", "circular") or len(uv.shape) != r:
            return False
        if any((a != b) if d != axis else (b > a) for d, (a, b) in enumerate(zip(cv.shape, uv.shape))):
            return False
        return not w or tuple(graph.values[w].shape) == (cv.shape[0],)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        cache, upd, out = node.inputs[0], node.inputs[1], node.outputs[0]
        w = node.inputs[2] if len(node.inputs) > 2 else ""
        cshape, ushape = list(ctx.shape(cache)), list(ctx.shape(upd))
        r = len(cshape)
        axis = self._axis(node, r)
        mode = node.attrs["mode"]
        circular = (mode.decode() if isinstance(mode, bytes) else str(mode)) == "circular"
        L, S = cshape[axis], ushape[axis]
        kb = KernelBuilder(ctx)
        lx, lu, st = kb.load("x", cache), kb.load("u", upd), kb.store("y", out)
        lines = decompose("i", cshape)
        lines.append(f"let w = {kb.load('w', w)}(c0);" if w else "let w = 0i;")
        lines.append(f"var s = i32(c{axis}) - w;")
        if circular:
            lines.append(f"s = s % {L}i; if (s < 0i) {{ s = s + {L}i; }}")
        ustr = contiguous_strides(ushape)
        uoff = dot([f"c{d}" for d in range(r) if d != axis], [ustr[d] for d in range(r) if d != axis])
        lines.append(f"if (s >= 0i && s < {S}i) {{ {st}(i, {lu}({uoff} + u32(s) * {u(ustr[axis])})); }}"
                     f" else {{ {st}(i, {lx}(i)); }}")
        return [linear_kernel(kb, math.prod(cshape), "\n".join(lines), wg=256)]

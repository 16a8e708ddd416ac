"""Data movement: Concat, Split, Transpose, Reshape family (copies), Slice, Expand, Tile, Pad.

Shape/axes/pads inputs are build-time constants (folded by the optimizer). The data may be of any
dtype that lives on the GPU (float32, integers as i32/u32, bool as u32): the kernels only move
elements. Gather/GatherND are in ``indexing.py``.
"""

from __future__ import annotations

import math

import numpy as np

from webdnn_build.ir import Graph, Node

from .base import (COPY_DTYPES, Dispatch, Emitter, KernelBuilder, KernelContext, RuntimeSize, SymbolicSizeError,
                   broadcast_strides, collapse, const_ints, contiguous_strides, decompose, gpu_static, linear_kernel,
                   literal, u)

INDEX_DTYPES = ("int32", "int64")


def _copy(ctx: KernelContext, x: str, y: str) -> Dispatch:
    kb = KernelBuilder(ctx)
    lx, st = kb.load("x", x), kb.store("y", y)
    return linear_kernel(kb, ctx.numel(y), f"{st}(i, {lx}(i));", wg=256)


class CopyEmitter(Emitter):
    """Ops that only change the shape: the data is copied as is."""

    ops = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")
    symbolic = True

    def supports(self, node: Node, graph: Graph) -> bool:
        return (len(node.outputs) == 1 and gpu_static(graph, node.inputs[:1] + node.outputs, COPY_DTYPES)
                and graph.values[node.inputs[0]].dtype == graph.values[node.outputs[0]].dtype)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        return [_copy(ctx, node.inputs[0], node.outputs[0])]


class ConcatEmitter(Emitter):
    """One copy dispatch per non-empty input (an empty input is never bound: it needs no GPU buffer)."""

    ops = ("Concat",)
    accepts_empty = True
    symbolic = True  # (an input sized at run time is dispatched even when empty: 0 threads, skipped)

    def supports(self, node: Node, graph: Graph) -> bool:
        out = graph.values[node.outputs[0]]
        return gpu_static(graph, node.inputs + node.outputs, COPY_DTYPES) and all(node.inputs) \
            and len({graph.values[n].dtype for n in node.inputs + node.outputs}) == 1 \
            and (not out.is_static or out.numel() > 0)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        out = ctx.shape(node.outputs[0])
        axis = node.attrs.get("axis", 1)
        axis = axis + len(out) if axis < 0 else axis
        inner = math.prod(out[axis + 1:])
        dispatches, offset = [], 0
        for name in node.inputs:
            a = ctx.shape(name)[axis]
            total = ctx.numel(name)
            if isinstance(total, RuntimeSize) or total:
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
    symbolic = True

    def supports(self, node: Node, graph: Graph) -> bool:
        return gpu_static(graph, node.inputs + node.outputs, COPY_DTYPES)

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
    symbolic = True  # slices of axes whose size is fixed; the others need the sizes at build time

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

    def _dynamic_ok(self, node: Node, graph: Graph) -> bool:
        """Starts/axes/steps computed at run time (ends are not needed: the output shape is static)."""
        if graph.opset_for(node.domain) < 10 or len(node.inputs) < 3 or not all(node.inputs[1:3]):
            return False
        if not graph.values[node.inputs[0]].shape:
            return False
        params = [n for n in node.inputs[1:5] if n]
        if not gpu_static(graph, params, INDEX_DTYPES):
            return False
        m = graph.values[node.inputs[1]].numel()
        return all(len(graph.values[n].shape) == 1 and graph.values[n].numel() == m for n in params)

    def supports(self, node: Node, graph: Graph) -> bool:
        if not gpu_static(graph, node.inputs[:1] + node.outputs, COPY_DTYPES):
            return False
        return self._params(node, graph) is not None or self._dynamic_ok(node, graph)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        params = self._params(node, ctx.graph)
        if params is None:
            return [self._emit_dynamic(node, ctx)]
        begin, step = params
        x, y = ctx.shape(node.inputs[0]), ctx.shape(node.outputs[0])
        strides = contiguous_strides(x)
        base = sum(b * s for b, s in zip(begin, strides))
        terms = [f"{u(base)}"] + [f"c{d} * {u(step[d] * strides[d])}" for d in range(len(x)) if step[d] > 0 and y[d] != 1]
        neg = [(d, -step[d] * strides[d]) for d in range(len(x)) if step[d] < 0 and y[d] != 1]
        offset = " + ".join(terms)
        for d, s in neg:
            offset = f"({offset}) - c{d} * {u(s)}"
        return [_gather_index_kernel(ctx, node.inputs[0], node.outputs[0], y, [offset])]

    def _emit_dynamic(self, node: Node, ctx: KernelContext) -> Dispatch:
        x, y = ctx.shape(node.inputs[0]), ctx.shape(node.outputs[0])
        if any(isinstance(d, RuntimeSize) for d in x):
            raise SymbolicSizeError("Slice with starts read at run time of a shape known at run time")
        r = len(x)
        m = ctx.numel(node.inputs[1])
        kb = KernelBuilder(ctx)
        ls = kb.load("st", node.inputs[1])
        la = kb.load("ax", node.inputs[3]) if len(node.inputs) > 3 and node.inputs[3] else None
        lp = kb.load("sp", node.inputs[4]) if len(node.inputs) > 4 and node.inputs[4] else None
        strides = contiguous_strides(x)
        lines = decompose("i", list(y)) + [
            f"var dims = array<i32, {r}>({', '.join(f'{d}i' for d in x)});",
            f"var bg = array<i32, {r}>({', '.join('0i' for _ in x)});",
            f"var sp = array<i32, {r}>({', '.join('1i' for _ in x)});",
            f"for (var j = 0u; j < {u(m)}; j = j + 1u) {{",
            f"  var a = {f'{la}(j)' if la else 'i32(j)'};",
            f"  if (a < 0i) {{ a = a + {r}i; }}",
            f"  if (a < 0i || a >= {r}i) {{ continue; }}",
            "  let dim = dims[a];",
            f"  let st = {f'{lp}(j)' if lp else '1i'};",
            f"  var s = {ls}(j);",
            "  if (s < 0i) { s = s + dim; }",
            "  s = select(clamp(s, 0i, dim - 1i), clamp(s, 0i, dim), st > 0i);",
            "  bg[a] = s;",
            "  sp[a] = st;",
            "}"]
        terms = [f"(bg[{d}] + i32(c{d}) * sp[{d}]) * {strides[d]}i" for d in range(r)]
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        lines.append(f"{st}(i, {lx}(u32({' + '.join(terms) or '0i'})));")
        return linear_kernel(kb, math.prod(y), "\n".join(lines), wg=256)


class ExpandEmitter(Emitter):
    ops = ("Expand", "Tile")
    symbolic = True

    def supports(self, node: Node, graph: Graph) -> bool:
        if not gpu_static(graph, node.inputs[:1] + node.outputs, COPY_DTYPES):
            return False
        if node.op_type == "Expand":
            return True
        x, y = graph.values[node.inputs[0]].shape, graph.values[node.outputs[0]].shape
        # each axis repeated a whole number of times (a run-time size: once, y's dim being x's)
        return len(x) == len(y) and all(a == b if isinstance(a, RuntimeSize) or isinstance(b, RuntimeSize)
                                        else a > 0 and b % a == 0 for a, b in zip(x, y))

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
    """Pad in every mode (constant, edge, reflect, wrap; negative pads crop). ``pads``, ``constant_value``
    and ``axes`` may be constants (baked in) or values read at run time (the output shape is static)."""

    ops = ("Pad",)

    def _inputs(self, node: Node) -> tuple[str, str, str]:
        get = lambda k: node.inputs[k] if len(node.inputs) > k else ""  # noqa: E731
        return get(1), get(2), get(3)

    def _params(self, node: Node, graph: Graph):
        """(begin pads per axis or None: read at run time, constant value or None: read at run time)."""
        rank = len(graph.values[node.inputs[0]].shape)
        if graph.opset_for(node.domain) < 11:
            pads, value, axes = list(node.attrs.get("pads", [])), node.attrs["value"], None
            return (pads[:rank] if len(pads) == 2 * rank else None), value
        p, c, a = self._inputs(node)
        pads, axes = const_ints(graph, p), const_ints(graph, a) if a else None
        value = 0
        if c:
            v = graph.values[c]
            value = None if v.const is None else (np.asarray(v.const).ravel()[0].item() if np.asarray(v.const).size else 0)
        if pads is None or (a and axes is None):
            return None, value
        if axes is None:
            return (pads[:rank] if len(pads) == 2 * rank else None), value
        begin = [0] * rank
        for j, ax in enumerate(axes):
            begin[ax + rank if ax < 0 else ax] = pads[j]
        return begin, value

    def supports(self, node: Node, graph: Graph) -> bool:
        mode = node.attrs["mode"]
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode not in ("constant", "edge", "reflect", "wrap"):
            return False
        if not gpu_static(graph, node.inputs[:1] + node.outputs, COPY_DTYPES):
            return False
        x, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
        if x.dtype != y.dtype or len(x.shape) != len(y.shape) or x.numel() == 0:
            return False
        begin, value = self._params(node, graph)
        if graph.opset_for(node.domain) < 11:
            return begin is not None and literal(x.dtype, value) is not None
        p, c, a = self._inputs(node)
        rank = len(x.shape)
        if begin is None:
            if not p or not gpu_static(graph, [p], INDEX_DTYPES) or (a and not gpu_static(graph, [a], INDEX_DTYPES)):
                return False
            n_axes = graph.values[a].numel() if a else rank
            if graph.values[p].numel() != 2 * n_axes:
                return False
        if c and value is None:
            return mode != "constant" or (gpu_static(graph, [c], COPY_DTYPES) and graph.values[c].dtype == x.dtype
                                          and graph.values[c].numel() == 1)
        return value is None or literal(x.dtype, value) is not None

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        g = ctx.graph
        begin, value = self._params(node, g)
        x, y = ctx.shape(node.inputs[0]), ctx.shape(node.outputs[0])
        rank = len(x)
        mode = node.attrs["mode"]
        mode = mode.decode() if isinstance(mode, bytes) else mode
        dtype = g.values[node.inputs[0]].dtype
        strides = contiguous_strides(x)
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        lines = decompose("i", list(y)) + ["var inside = true;", "var off = 0i;"]
        if begin is None:
            p, _, a = self._inputs(node)
            lp = kb.load("pads", p)
            la = kb.load("axes", a) if a else None
            n_axes = ctx.numel(a) if a else rank
            lines += [f"var bg = array<i32, {rank}>({', '.join('0i' for _ in x)});",
                      f"for (var j = 0u; j < {u(n_axes)}; j = j + 1u) {{",
                      f"  var ax = {f'{la}(j)' if la else 'i32(j)'};",
                      f"  if (ax < 0i) {{ ax = ax + {rank}i; }}",
                      f"  if (ax >= 0i && ax < {rank}i) {{ bg[ax] = {lp}(j); }}",
                      "}"]
            pad_of = lambda d: f"bg[{d}]"  # noqa: E731
        else:
            pad_of = lambda d: f"({begin[d]}i)"  # noqa: E731
        for d in range(rank):
            n = x[d]
            lines.append(f"var p{d} = i32(c{d}) - {pad_of(d)};")
            if mode == "constant":
                lines.append(f"if (p{d} < 0i || p{d} >= {n}i) {{ inside = false; }}")
            elif mode == "edge":
                lines.append(f"p{d} = clamp(p{d}, 0i, {n - 1}i);")
            elif mode == "wrap":
                lines.append(f"p{d} = p{d} % {n}i; if (p{d} < 0i) {{ p{d} = p{d} + {n}i; }}")
            elif n == 1:  # reflect
                lines.append(f"p{d} = 0i;")
            else:  # reflect: the pattern repeats every 2 (n - 1)
                period = 2 * (n - 1)
                lines.append(f"p{d} = p{d} % {period}i; if (p{d} < 0i) {{ p{d} = p{d} + {period}i; }}")
                lines.append(f"if (p{d} >= {n}i) {{ p{d} = {period}i - p{d}; }}")
            lines.append(f"off = off + p{d} * {strides[d]}i;")
        if mode == "constant":
            _, c, _ = self._inputs(node)
            fill = literal(dtype, value) if value is not None else f"{kb.load('cv', c)}(0u)"
            lines.append(f"if (inside) {{ {st}(i, {lx}(u32(off))); }} else {{ {st}(i, {fill}); }}")
        else:
            lines.append(f"{st}(i, {lx}(u32(off)));")
        return [linear_kernel(kb, math.prod(y), "\n".join(lines), wg=256)]


class SplitEmitter(Emitter):
    """Split along one axis (sizes from the ``split`` input or attribute, else ``num_outputs`` / equal parts,
    as the output shapes say): one copy dispatch per output."""

    ops = ("Split",)
    #: an empty output is never written (it has no GPU buffer): only Concats, which skip it, may read it
    accepts_empty = True
    symbolic = True

    def supports(self, node: Node, graph: Graph) -> bool:
        if not all(node.outputs) or not gpu_static(graph, node.inputs[:1] + node.outputs, COPY_DTYPES):
            return False
        if graph.values[node.inputs[0]].numel() == 0:
            return False
        empty = [o for o in node.outputs if graph.values[o].numel() == 0]
        if empty:
            if any(o in graph.outputs for o in empty):
                return False
            consumers = graph.consumers()
            if not all(c.op_type == "Concat" and not c.domain and c.outputs and graph.values[c.outputs[0]].is_static
                       and graph.values[c.outputs[0]].numel() > 0 for o in empty for c in consumers.get(o, [])):
                return False
        x = graph.values[node.inputs[0]].shape
        axis = int(node.attrs["axis"])
        if not -len(x) <= axis < len(x):
            return False
        axis %= len(x)
        ys = [graph.values[o].shape for o in node.outputs]
        return (sum(y[axis] for y in ys) == x[axis]
                and all(len(y) == len(x) and all(a == b for d, (a, b) in enumerate(zip(x, y)) if d != axis) for y in ys)
                and len({graph.values[n].dtype for n in node.inputs[:1] + node.outputs}) == 1)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x = ctx.shape(node.inputs[0])
        axis = int(node.attrs["axis"]) % len(x)
        inner = math.prod(x[axis + 1:])
        dispatches, offset = [], 0
        for name in node.outputs:
            a = ctx.shape(name)[axis]
            total = ctx.numel(name)
            if isinstance(total, RuntimeSize) or total:
                kb = KernelBuilder(ctx)
                lx, st = kb.load("x", node.inputs[0]), kb.store("y", name)
                body = (f"let q = i % {u(a * inner)};\n"
                        f"{st}(i, {lx}((i / {u(a * inner)}) * {u(x[axis] * inner)} + {u(offset * inner)} + q));")
                dispatches.append(linear_kernel(kb, total, body, wg=256))
            offset += a
        return dispatches

"""Scatter family and selection ops of any numeric dtype (csrc/numeric.c, kernels_num.h): ScatterElements / Scatter
and ScatterND (reductions none / add / mul / max / min), TensorScatter, OneHot, Compress. Updates apply in the js
kernels' order (indexing.js, extra.js); out-of-range indices are a run-time error. Compress's kept count and
OneHot's depth must equal the planned shapes (checked at run time)."""

from __future__ import annotations

import math
from typing import Optional

from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_static, storage_bytes, struct_init, c_array
from .movement import str_attr
from .numeric import NUM_CODES

INDEX = ("int32", "int64")
REDUCTIONS = {"none": "WDN_SCR_NONE", "add": "WDN_SCR_ADD", "mul": "WDN_SCR_MUL", "max": "WDN_SCR_MAX",
              "min": "WDN_SCR_MIN"}


def _one_output(node: Node) -> Optional[str]:
    outs = [o for o in node.outputs if o]
    return outs[0] if len(outs) == 1 and outs[0] == node.outputs[0] else None


def _shape(graph: Graph, name: str) -> tuple[int, ...]:
    return tuple(graph.values[name].shape)  # type: ignore[arg-type]


def _reduction(node: Node, dtype: str) -> Optional[str]:
    red = str_attr(node, "reduction", before="none") if node.op_type != "Scatter" else "none"  # opset 16+
    if red not in REDUCTIONS or (red != "none" and dtype == "bool"):
        return None
    return REDUCTIONS[red]


def _scatter_common(node: Node, graph: Graph) -> Optional[str]:
    """data / updates / output of one numeric dtype, indices int32 / int64, all static: the output name."""
    y = _one_output(node)
    if y is None or len(node.inputs) != 3 or not all(node.inputs):
        return None
    data, idx, upd = node.inputs
    if not all_static(graph, [data, upd, y], tuple(NUM_CODES)) or not all_static(graph, [idx], INDEX):
        return None
    dt = graph.values[data].dtype
    if graph.values[upd].dtype != dt or graph.values[y].dtype != dt or _shape(graph, data) != _shape(graph, y):
        return None
    return y if _reduction(node, dt) is not None else None


class ScatterElementsEmitter(Emitter):
    ops = ("ScatterElements", "Scatter")

    def supports(self, node: Node, graph: Graph) -> bool:
        if _scatter_common(node, graph) is None:
            return False
        data, idx, upd = node.inputs
        ds, ish = _shape(graph, data), _shape(graph, idx)
        if not 1 <= len(ds) <= 6 or ish != _shape(graph, upd) or len(ish) != len(ds):
            return False
        axis = int(node.attrs["axis"])
        if not -len(ds) <= axis < len(ds):
            return False
        a = axis % len(ds)
        return all(i <= d for k, (i, d) in enumerate(zip(ish, ds)) if k != a)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        data, idx, upd = node.inputs
        g = ctx.graph
        ds, ish = list(_shape(g, data)), list(_shape(g, idx))
        pad = 6 - len(ds)
        dt = g.values[data].dtype
        var = ctx.fresh("scel")
        ctx.decls.append(struct_init("wdn_scatter_elements_params", var, {
            "rank": len(ds), "axis": int(node.attrs["axis"]) % len(ds), "dt": NUM_CODES[dt],
            "idx_i64": int(g.values[idx].dtype == "int64"), "reduction": _reduction(node, dt), "op": ctx.op_index,
            "shape": c_array(ds + [1] * pad), "ishape": c_array(ish + [1] * pad), "data": ctx.ptr(data),
            "indices": ctx.ptr(idx), "updates": ctx.ptr(upd), "y": ctx.ptr(node.outputs[0])}))
        return [f"wdn_scatter_elements(&{var}, tid, nth);"]


class ScatterNDEmitter(Emitter):
    ops = ("ScatterND",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if _scatter_common(node, graph) is None:
            return False
        data, idx, upd = node.inputs
        ds, ish, us = _shape(graph, data), _shape(graph, idx), _shape(graph, upd)
        if not ish:
            return False
        k = ish[-1]
        return 1 <= k <= min(8, len(ds)) and us == ish[:-1] + ds[k:]

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        data, idx, upd = node.inputs
        g = ctx.graph
        ds, ish = list(_shape(g, data)), list(_shape(g, idx))
        k = ish[-1]
        dt = g.values[data].dtype
        var = ctx.fresh("scnd")
        ctx.decls.append(struct_init("wdn_scatter_nd_params", var, {
            "k": k, "dt": NUM_CODES[dt], "idx_i64": int(g.values[idx].dtype == "int64"),
            "reduction": _reduction(node, dt), "op": ctx.op_index, "tuples": math.prod(ish[:-1]),
            "slice": math.prod(ds[k:]), "total": math.prod(ds), "dims": c_array(ds[:k] + [1] * (8 - k)),
            "data": ctx.ptr(data), "indices": ctx.ptr(idx), "updates": ctx.ptr(upd), "y": ctx.ptr(node.outputs[0])}))
        return [f"wdn_scatter_nd(&{var}, tid, nth);"]


class TensorScatterEmitter(Emitter):
    ops = ("TensorScatter",)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or not 2 <= len(node.inputs) <= 3 or not node.inputs[0] or not node.inputs[1]:
            return False
        past, upd = node.inputs[:2]
        wi = node.inputs[2] if len(node.inputs) > 2 else ""
        if not all_static(graph, [past, upd, y]) or (wi and not all_static(graph, [wi], ("int64",))):
            return False
        dt = graph.values[past].dtype
        if graph.values[upd].dtype != dt or graph.values[y].dtype != dt:
            return False
        ps, us = _shape(graph, past), _shape(graph, upd)
        if _shape(graph, y) != ps or len(us) != len(ps) or len(ps) < 2:
            return False
        axis = int(node.attrs["axis"])
        if not -len(ps) <= axis < len(ps) or axis % len(ps) == 0:
            return False
        a = axis % len(ps)
        if any((u > p) if i == a else (u != p) for i, (u, p) in enumerate(zip(us, ps))):
            return False
        if wi and _shape(graph, wi) != (ps[0],):
            return False
        return str_attr(node, "mode") in ("linear", "circular")

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        g = ctx.graph
        past, upd = node.inputs[:2]
        wi = node.inputs[2] if len(node.inputs) > 2 else ""
        ps, us = _shape(g, past), _shape(g, upd)
        a = int(node.attrs["axis"]) % len(ps)
        var = ctx.fresh("tsc")
        ctx.decls.append(struct_init("wdn_tensor_scatter_params", var, {
            "batch": ps[0], "rows_per_batch": math.prod(ps[1:a]), "max_len": ps[a], "seq_len": us[a],
            "inner_bytes": math.prod(ps[a + 1:]) * storage_bytes(g.values[past].dtype),
            "circular": int(str_attr(node, "mode") == "circular"), "op": ctx.op_index,
            "past": ctx.ptr(past), "update": ctx.ptr(upd), "write_indices": ctx.ptr(wi) if wi else "0",
            "y": ctx.ptr(node.outputs[0])}))
        return [f"wdn_tensor_scatter(&{var}, tid, nth);"]


class OneHotEmitter(Emitter):
    """OneHot with the planned depth (the depth tensor is checked at run time); numeric indices and values."""

    ops = ("OneHot",)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 3 or not all(node.inputs):
            return False
        idx, depth, values = node.inputs
        num = tuple(k for k in NUM_CODES if k != "bool")
        if not all_static(graph, [idx, depth], num) or not all_static(graph, [values, y]):
            return False
        if math.prod(_shape(graph, depth)) != 1 or _shape(graph, values) != (2,):
            return False
        if graph.values[values].dtype != graph.values[y].dtype:
            return False
        ish, ys = _shape(graph, idx), _shape(graph, y)
        axis = int(node.attrs["axis"])
        r = len(ish) + 1
        if not -r <= axis < r or len(ys) != r:
            return False
        a = axis % r
        return ys[:a] + ys[a + 1:] == ish

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        g = ctx.graph
        idx, depth, values = node.inputs
        ys = _shape(g, node.outputs[0])
        a = int(node.attrs["axis"]) % len(ys)
        var = ctx.fresh("onehot")
        ctx.decls.append(struct_init("wdn_onehot_params", var, {
            "outer": math.prod(ys[:a]), "depth": ys[a], "inner": math.prod(ys[a + 1:]),
            "elem": storage_bytes(g.values[values].dtype), "idx_dt": NUM_CODES[g.values[idx].dtype],
            "depth_dt": NUM_CODES[g.values[depth].dtype], "op": ctx.op_index, "indices": ctx.ptr(idx),
            "depth_ptr": ctx.ptr(depth), "values": ctx.ptr(values), "y": ctx.ptr(node.outputs[0])}))
        return [f"wdn_onehot(&{var}, tid, nth);"]


class CompressEmitter(Emitter):
    """Compress of any dtype with the planned output size (the kept count is checked at run time)."""

    ops = ("Compress",)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 2 or not all(node.inputs):
            return False
        x, cond = node.inputs
        if not all_static(graph, [x, y]) or not all_static(graph, [cond], ("bool",)):
            return False
        if graph.values[x].dtype != graph.values[y].dtype or len(_shape(graph, cond)) != 1:
            return False
        xs, ys = _shape(graph, x), _shape(graph, y)
        if "axis" not in node.attrs:
            return len(ys) == 1
        axis = int(node.attrs["axis"])
        if not -len(xs) <= axis < len(xs) or len(ys) != len(xs):
            return False
        a = axis % len(xs)
        return ys[:a] + ys[a + 1:] == xs[:a] + xs[a + 1:]

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        g = ctx.graph
        x, cond = node.inputs
        xs, ys = _shape(g, x), _shape(g, node.outputs[0])
        if "axis" not in node.attrs:
            xs, a = (math.prod(xs),), 0
        else:
            a = int(node.attrs["axis"]) % len(xs)
        var = ctx.fresh("compress")
        ctx.decls.append(struct_init("wdn_compress_params", var, {
            "outer": math.prod(xs[:a]), "dim": xs[a], "inner_bytes": math.prod(xs[a + 1:]) * storage_bytes(g.values[x].dtype),
            "ncond": _shape(g, cond)[0], "kept": ys[a], "op": ctx.op_index, "x": ctx.ptr(x), "cond": ctx.ptr(cond),
            "y": ctx.ptr(node.outputs[0])}))
        return [f"wdn_compress(&{var}, tid, nth);"]


class UniqueEmitter(Emitter):
    """Unique of a numeric tensor with the planned number of unique slices (checked at run time); one thread,
    quadratic in the axis length (so at most 4096 slices)."""

    ops = ("Unique",)

    @staticmethod
    def _layout(node: Node, graph: Graph) -> Optional[tuple[int, int, int, int]]:
        xs = _shape(graph, node.inputs[0])
        if "axis" not in node.attrs:
            return 1, math.prod(xs), 1, 0
        r = len(xs)
        axis = int(node.attrs["axis"])
        if not -r <= axis < r:
            return None
        a = axis % r
        return math.prod(xs[:a]), xs[a], math.prod(xs[a + 1:]), a

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) != 1 or not node.inputs[0] or not 1 <= len(node.outputs) <= 4 or not any(node.outputs):
            return False
        x = node.inputs[0]
        outs = list(node.outputs) + [""] * (4 - len(node.outputs))
        if not all_static(graph, [x], tuple(NUM_CODES)) or not all_static(graph, [o for o in outs[1:] if o], ("int64",)):
            return False
        lay = self._layout(node, graph)
        if lay is None or not 0 < lay[1] <= 4096:
            return False
        outer, dim, inner, a = lay
        n = self._count(node, graph)
        if n is None:
            return False
        if outs[0]:
            if not all_static(graph, [outs[0]]) or graph.values[outs[0]].dtype != graph.values[x].dtype:
                return False
            xs = _shape(graph, x) if "axis" in node.attrs else (dim,)
            if _shape(graph, outs[0]) != xs[:a] + (n,) + xs[a + 1:]:
                return False
        return all(not o or _shape(graph, o) == s for o, s in zip(outs[1:], [(n,), (dim,), (n,)]))

    @staticmethod
    def _count(node: Node, graph: Graph) -> Optional[int]:
        outs = list(node.outputs) + [""] * (4 - len(node.outputs))
        for k, o in enumerate(outs):
            if o and k != 2 and graph.values.get(o) is not None and graph.values[o].is_static:
                s = _shape(graph, o)
                if k == 0:
                    a = UniqueEmitter._layout(node, graph)[3] if "axis" in node.attrs else 0
                    return s[a] if len(s) > a else None
                return s[0] if len(s) == 1 else None
        return None

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        g = ctx.graph
        outer, dim, inner, _ = self._layout(node, g)
        outs = list(node.outputs) + [""] * (4 - len(node.outputs))
        ctx.scratch.append(f"WDN_UNIQUE_SCRATCH_BYTES({dim})")
        var = ctx.fresh("uniq")
        ctx.decls.append(struct_init("wdn_unique_params", var, {
            "dt": NUM_CODES[g.values[node.inputs[0]].dtype], "sorted": int(node.attrs["sorted"] != 0),
            "op": ctx.op_index, "outer": outer, "dim": dim, "inner": inner, "n": self._count(node, g),
            "x": ctx.ptr(node.inputs[0]), "y": ctx.ptr(outs[0]) if outs[0] else "0",
            "indices": ctx.ptr(outs[1]) if outs[1] else "0", "inverse": ctx.ptr(outs[2]) if outs[2] else "0",
            "counts": ctx.ptr(outs[3]) if outs[3] else "0", "scratch": "wdn_scratch"}))
        return [f"wdn_unique(&{var}, tid, nth);"]

"""CumSum / CumProd, Hardmax and TopK (csrc/scan_ops.c).

CumSum / CumProd: the axis input may be computed at run time (an int32 / int64 scalar read by the kernel).
TopK: k may be computed at run time; the planned output shape fixes it and the kernel checks the input.
"""

from __future__ import annotations

import math
from typing import Optional

from webdnn_build.ir import Graph, Node

from .base import DT_CODES, EmitContext, Emitter, all_static, c_array, struct_init
from .movement import const_ints

#: dtype -> kernel code, for the kernels of this file
CODES = {**DT_CODES, "float64": "WDN_DT_F64", "uint64": "WDN_DT_U64"}
ELEM = {"float32": 4, "float64": 8, "int32": 4, "int64": 8, "uint64": 8, "uint8": 1}


def _axis(axis: int, rank: int) -> Optional[int]:
    axis = axis + rank if axis < 0 else axis
    return axis if 0 <= axis < rank else None


class CumulativeEmitter(Emitter):
    ops = ("CumSum", "CumProd")

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) != 2 or len(node.outputs) != 1 or not node.inputs[1]:
            return False
        dtypes = ("float32", "float64", "int32", "int64", "uint64")
        if not all_static(graph, [node.inputs[0], node.outputs[0]], dtypes):
            return False
        x, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
        if x.dtype != y.dtype or tuple(x.shape) != tuple(y.shape) or not 1 <= len(x.shape) <= 6:
            return False
        a = graph.values.get(node.inputs[1])
        if a is None or a.dtype not in ("int32", "int64") or not a.is_static or math.prod(a.shape) != 1:
            return False
        c = const_ints(graph, node.inputs[1])
        return c is None or _axis(c[0], len(x.shape)) is not None

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x = ctx.shape(node.inputs[0])
        dtype = ctx.graph.values[node.inputs[0]].dtype
        c = const_ints(ctx.graph, node.inputs[1])
        var = ctx.fresh("cum")
        ctx.decls.append(struct_init("wdn_cumulative_params", var, {
            "prod": int(node.op_type == "CumProd"), "dtype": CODES[dtype], "rank": len(x),
            "exclusive": int(bool(node.attrs["exclusive"])), "reverse": int(bool(node.attrs["reverse"])),
            "axis_i64": int(ctx.graph.values[node.inputs[1]].dtype == "int64"), "op_index": ctx.op_index,
            "axis": c[0] if c is not None else 0, "shape": c_array(list(x) + [1] * (6 - len(x))),
            "axis_ptr": "0" if c is not None else ctx.ptr(node.inputs[1]),
            "x": ctx.ptr(node.inputs[0]), "y": ctx.ptr(node.outputs[0]),
        }))
        return [f"wdn_cumulative(&{var}, tid, nth);"]


class HardmaxEmitter(Emitter):
    """Hardmax of float32: opset 13+ along `axis` (default -1); before, over the 2-D coercion at `axis`
    (default 1)."""

    ops = ("Hardmax",)

    def _layout(self, node: Node, graph: Graph):
        x = tuple(graph.values[node.inputs[0]].shape)
        new = graph.opset_for(node.domain) >= 13
        axis = _axis(int(node.attrs["axis"]), len(x))
        if axis is None:
            return None
        if new:
            return math.prod(x[:axis]), x[axis], math.prod(x[axis + 1:])
        return math.prod(x[:axis]), math.prod(x[axis:]), 1

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) != 1 or len(node.outputs) != 1:
            return False
        if not all_static(graph, [node.inputs[0], node.outputs[0]], ("float32",)):
            return False
        return len(graph.values[node.inputs[0]].shape) >= 1 and self._layout(node, graph) is not None

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        outer, dim, inner = self._layout(node, ctx.graph)
        x, y = ctx.ptr(node.inputs[0]), ctx.ptr(node.outputs[0])
        return [f"wdn_hardmax_f32({outer}, {dim}, {inner}, {x}, {y}, tid, nth);"]


class TopKEmitter(Emitter):
    """TopK (opset 10+: k an int64 input; 1: the `k` attribute) of float32/float64/int32/int64/uint64/uint8."""

    ops = ("TopK",)

    def _layout(self, node: Node, graph: Graph):
        x = tuple(graph.values[node.inputs[0]].shape)
        axis = _axis(int(node.attrs["axis"]), len(x))
        if axis is None:
            return None
        k = tuple(graph.values[node.outputs[0]].shape)[axis]
        return math.prod(x[:axis]), x[axis], math.prod(x[axis + 1:]), k, axis

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.outputs) != 2 or not all(node.outputs) or not node.inputs or not node.inputs[0]:
            return False
        if not all_static(graph, [node.inputs[0], node.outputs[0]], tuple(ELEM)):
            return False
        if not all_static(graph, [node.outputs[1]], ("int64",)):
            return False
        xv, yv, iv = (graph.values[n] for n in (node.inputs[0], node.outputs[0], node.outputs[1]))
        if xv.dtype != yv.dtype or len(xv.shape) < 1 or tuple(yv.shape) != tuple(iv.shape):
            return False
        lay = self._layout(node, graph)
        if lay is None:
            return False
        _, dim, _, k, axis = lay
        expect = list(xv.shape)
        expect[axis] = k
        if tuple(expect) != tuple(yv.shape) or k > dim or 8 * k > (1 << 20):
            return False
        if len(node.inputs) > 1 and node.inputs[1]:
            kv = graph.values.get(node.inputs[1])
            if kv is None or kv.dtype != "int64" or not kv.is_static or math.prod(kv.shape) != 1:
                return False
            c = const_ints(graph, node.inputs[1])
            return c is None or c[0] == k
        return int(node.attrs.get("k", -1)) == k

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        outer, dim, inner, k, _ = self._layout(node, ctx.graph)
        dtype = ctx.graph.values[node.inputs[0]].dtype
        has_k = len(node.inputs) > 1 and node.inputs[1] and const_ints(ctx.graph, node.inputs[1]) is None
        var = ctx.fresh("topk")
        ctx.scratch.append(f"WDN_TOPK_SCRATCH_BYTES({k})")
        ctx.decls.append(struct_init("wdn_topk_params", var, {
            # largest: opset 11+ (TopK 1 and 10 take the largest)
            "dtype": CODES[dtype], "elem": ELEM[dtype], "largest": int(bool(node.attrs.get("largest", 1))),
            "op_index": ctx.op_index, "outer": outer, "dim": dim, "inner": inner, "k": k,
            "k_ptr": ctx.ptr(node.inputs[1]) if has_k else "0",
            "x": ctx.ptr(node.inputs[0]), "values": ctx.ptr(node.outputs[0]), "indices": ctx.ptr(node.outputs[1]),
            "scratch": "wdn_scratch", "scratch_stride": "WDN_SCRATCH_STRIDE",
        }))
        return [f"wdn_topk(&{var}, tid, nth);"]

"""Comparisons, logical ops, Where, IsNaN/IsInf/Not (csrc/logical.c, csrc/indexing.c for Where).

Binary ops broadcast like numpy (rank <= 6 after merging contiguous axes); the typed binary kernel
(wdn_binary_typed) also runs the integer arithmetic of emit/integer.py.
"""

from __future__ import annotations

import math
from typing import Optional

from webdnn_build.codegen import broadcast_strides, collapse_axes
from webdnn_build.errors import ShapeError
from webdnn_build.ir import Graph, Node

from .base import DT_CODES, EmitContext, Emitter, all_static, c_array, storage_bytes, struct_init

COMPARE = {"Equal": "WDN_CMP_EQ", "Less": "WDN_CMP_LT", "Greater": "WDN_CMP_GT", "LessOrEqual": "WDN_CMP_LE",
           "GreaterOrEqual": "WDN_CMP_GE"}
LOGICAL = {"And": "WDN_CMP_AND", "Or": "WDN_CMP_OR", "Xor": "WDN_CMP_XOR"}
COMPARE_DTYPES = ("float32", "int32", "int64", "uint8", "int8", "bool")


def broadcast_layout(graph: Graph, inputs: list[str], output: str) -> Optional[tuple[list[int], list[list[int]]]]:
    """Collapsed output dims and per-input element strides, or None (does not broadcast, rank > 6)."""
    out = tuple(graph.values[output].shape)
    try:
        strides = [broadcast_strides(tuple(graph.values[n].shape), out) for n in inputs]
    except ShapeError:
        return None  # the declared shapes contradict the op: the js kernel computes its own
    dims, strides = collapse_axes(out, strides, keep_one=True)
    return (dims, strides) if len(dims) <= 6 else None


def typed_binary(node: Node, ctx: EmitContext, op: str, dtype: str) -> list[str]:
    """A wdn_binary_typed call: ``op`` a WDN_BIN_* / WDN_CMP_* name, ``dtype`` the inputs' dtype."""
    a, b = node.inputs
    dims, (sa, sb) = broadcast_layout(ctx.graph, [a, b], node.outputs[0])
    pad = 6 - len(dims)
    var = ctx.fresh("tbin")
    ctx.decls.append(struct_init("wdn_typed_binary_params", var, {
        "op": op, "dtype": DT_CODES[dtype], "rank": len(dims),
        "shape": c_array(dims + [1] * pad), "stride_a": c_array(sa + [0] * pad), "stride_b": c_array(sb + [0] * pad),
        "a": ctx.ptr(a), "b": ctx.ptr(b), "y": ctx.ptr(node.outputs[0]),
    }))
    return [f"wdn_binary_typed(&{var}, tid, nth);"]


def binary_supports(node: Node, graph: Graph, in_dtypes: tuple[str, ...], out_dtype: Optional[str]) -> bool:
    """Two inputs of one dtype in ``in_dtypes``, one output of ``out_dtype`` (None: the inputs'), broadcastable."""
    outs = [o for o in node.outputs if o]
    if len(node.inputs) != 2 or not all(node.inputs) or len(outs) != 1 or outs[0] != node.outputs[0]:
        return False
    if not all_static(graph, node.inputs, in_dtypes) or not all_static(graph, outs):
        return False
    a, b, y = (graph.values[n] for n in (*node.inputs, outs[0]))
    if a.dtype != b.dtype or y.dtype != (out_dtype or a.dtype):
        return False
    return broadcast_layout(graph, node.inputs, outs[0]) is not None


class CompareEmitter(Emitter):
    """Equal, Less, Greater, LessOrEqual, GreaterOrEqual (float32, int32, int64, uint8, int8, bool -> bool)
    and And, Or, Xor (bool -> bool)."""

    ops = (*COMPARE, *LOGICAL)
    symbolic = True

    def supports(self, node: Node, graph: Graph) -> bool:
        dtypes = ("bool",) if node.op_type in LOGICAL else COMPARE_DTYPES
        return binary_supports(node, graph, dtypes, "bool")

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        op = LOGICAL.get(node.op_type) or COMPARE[node.op_type]
        return typed_binary(node, ctx, op, ctx.graph.values[node.inputs[0]].dtype)


class WhereEmitter(Emitter):
    """Where(bool cond, x, y) for x/y of any dtype, with broadcasting of all three."""

    ops = ("Where",)
    symbolic = True

    def supports(self, node: Node, graph: Graph) -> bool:
        outs = [o for o in node.outputs if o]
        if len(node.inputs) != 3 or not all(node.inputs) or len(outs) != 1 or outs[0] != node.outputs[0]:
            return False
        if not all_static(graph, node.inputs[:1], ("bool",)) or not all_static(graph, node.inputs[1:] + outs):
            return False
        x, y, out = (graph.values[n] for n in (*node.inputs[1:], outs[0]))
        if not x.dtype == y.dtype == out.dtype:
            return False
        return broadcast_layout(graph, node.inputs, outs[0]) is not None

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        dims, (sc, sx, sy) = broadcast_layout(ctx.graph, node.inputs, node.outputs[0])
        pad = 6 - len(dims)
        var = ctx.fresh("where")
        ctx.decls.append(struct_init("wdn_where_params", var, {
            "rank": len(dims), "elem": storage_bytes(ctx.graph.values[node.outputs[0]].dtype),
            "shape": c_array(dims + [1] * pad), "stride_c": c_array(sc + [0] * pad),
            "stride_x": c_array(sx + [0] * pad), "stride_y": c_array(sy + [0] * pad),
            "cond": ctx.ptr(node.inputs[0]), "x": ctx.ptr(node.inputs[1]), "y": ctx.ptr(node.inputs[2]),
            "out": ctx.ptr(node.outputs[0]),
        }))
        return [f"wdn_where(&{var}, tid, nth);"]


class PredicateEmitter(Emitter):
    """IsNaN, IsInf (float32 -> bool; detect_positive / detect_negative), Not (bool -> bool)."""

    ops = ("IsNaN", "IsInf", "Not")
    symbolic = True

    @staticmethod
    def _op(node: Node) -> Optional[str]:
        if node.op_type == "IsNaN":
            return "WDN_UT_ISNAN"
        if node.op_type == "Not":
            return "WDN_UT_NOT"
        pos = int(node.attrs["detect_positive"]) != 0
        neg = int(node.attrs["detect_negative"]) != 0
        return {(True, True): "WDN_UT_ISINF", (True, False): "WDN_UT_ISPOSINF",
                (False, True): "WDN_UT_ISNEGINF"}.get((pos, neg))  # neither: left to the js kernel

    def supports(self, node: Node, graph: Graph) -> bool:
        outs = [o for o in node.outputs if o]
        if len(node.inputs) != 1 or not node.inputs[0] or len(outs) != 1 or outs[0] != node.outputs[0]:
            return False
        in_dtype = "bool" if node.op_type == "Not" else "float32"
        if not all_static(graph, node.inputs, (in_dtype,)) or not all_static(graph, outs, ("bool",)):
            return False
        return self._op(node) is not None and tuple(graph.values[node.inputs[0]].shape) == tuple(graph.values[outs[0]].shape)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        dtype = ctx.graph.values[node.inputs[0]].dtype
        count = math.prod(ctx.shape(node.outputs[0]))
        return [f"wdn_unary_typed({self._op(node)}, {DT_CODES[dtype]}, {count}, {ctx.ptr(node.inputs[0])}, "
                f"{ctx.ptr(node.outputs[0])}, tid, nth);"]

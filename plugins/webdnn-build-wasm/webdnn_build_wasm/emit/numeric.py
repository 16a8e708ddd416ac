"""Ops on every numeric dtype the wasm memory stores (csrc/numeric.c, kernels_num.h), with the js kernels' results:
Cast and BitCast between any of them, broadcasting Add/Sub/Mul/Div/Max/Min/Mod/Pow and Equal/Greater/Less on
the dtypes the faster float32 / int32 / int64 kernels leave (int8..uint64, float16, bfloat16, float64, mixed-dtype
Pow), variadic Sum/Max/Min/Mean, trigonometric / hyperbolic functions and IsNaN/IsInf on float16 / bfloat16 /
float64.

float16 / bfloat16 values are stored as float32 (like the js backend); results are rounded to their precision
exactly as the js kernels round them (after a float32 store for arithmetic, from the exact value for Cast).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_static, c_array, storage_bytes, struct_init
from .logical import broadcast_layout

#: dtype -> WDN_DT_* code of the kernels in kernels_num.h (string is not a numeric dtype)
NUM_CODES = {"float32": "WDN_DT_F32", "int32": "WDN_DT_I32", "int64": "WDN_DT_I64", "uint8": "WDN_DT_U8",
             "int8": "WDN_DT_I8", "bool": "WDN_DT_BOOL", "int16": "WDN_DT_I16", "uint16": "WDN_DT_U16",
             "uint32": "WDN_DT_U32", "uint64": "WDN_DT_U64", "float64": "WDN_DT_F64", "float16": "WDN_DT_F16",
             "bfloat16": "WDN_DT_BF16"}
FLOATS = ("float32", "float64", "float16", "bfloat16")
INTS = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")
#: ONNX TensorProto data types of NUM_CODES' dtypes
ONNX_TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
              10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}

BIN_OPS = {"Add": "WDN_BIN_ADD", "Sub": "WDN_BIN_SUB", "Mul": "WDN_BIN_MUL", "Div": "WDN_BIN_DIV",
           "Max": "WDN_BIN_MAX", "Min": "WDN_BIN_MIN", "Sum": "WDN_BIN_ADD", "Mean": "WDN_BIN_ADD",
           "Pow": "WDN_BIN_POW", "Equal": "WDN_CMP_EQ", "Greater": "WDN_CMP_GT", "Less": "WDN_CMP_LT"}
COMPARES = ("Equal", "Greater", "Less")
VARIADIC = ("Sum", "Max", "Min", "Mean")


def _one_output(node: Node) -> Optional[str]:
    outs = [o for o in node.outputs if o]
    return outs[0] if len(outs) == 1 and outs[0] == node.outputs[0] else None


def _dtype(graph: Graph, name: str) -> Optional[str]:
    v = graph.values.get(name)
    return None if v is None else v.dtype


class CastAnyEmitter(Emitter):
    """Cast between any two numeric dtypes (the pairs emit/cast.py's faster kernel does not take)."""

    rank = 1  # after CastEmitter
    ops = ("Cast",)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 1 or not node.inputs[0]:
            return False
        if not all_static(graph, [node.inputs[0], y], tuple(NUM_CODES)):
            return False
        to = node.attrs.get("to")
        x, out = graph.values[node.inputs[0]], graph.values[y]
        return isinstance(to, int) and ONNX_TYPES.get(to) == out.dtype and tuple(x.shape) == tuple(out.shape)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x, y = node.inputs[0], node.outputs[0]
        count = math.prod(ctx.shape(y))
        return [f"wdn_cast_any({NUM_CODES[_dtype(ctx.graph, x)]}, {NUM_CODES[_dtype(ctx.graph, y)]}, {count}, "
                f"{ctx.ptr(x)}, {ctx.ptr(y)}, tid, nth);"]


class BitCastEmitter(Emitter):
    """BitCast between dtypes stored with the same bytes (not float16 / bfloat16, which the js backend stores
    widened; to bool only from bool): a byte copy."""

    ops = ("BitCast",)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 1 or not node.inputs[0]:
            return False
        ok = ("float32", "float64", "bool", *INTS)
        if not all_static(graph, [node.inputs[0], y], ok):
            return False
        x, out = graph.values[node.inputs[0]], graph.values[y]
        to = node.attrs.get("to")
        if not isinstance(to, int) or ONNX_TYPES.get(to) != out.dtype or tuple(x.shape) != tuple(out.shape):
            return False
        if out.dtype == "bool" and x.dtype != "bool":
            return False  # bytes other than 0/1 become 1
        return storage_bytes(x.dtype) == storage_bytes(out.dtype)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x = node.inputs[0]
        nbytes = math.prod(ctx.shape(x)) * storage_bytes(_dtype(ctx.graph, x))
        return [f"wdn_copy_bytes({nbytes}, {ctx.ptr(x)}, {ctx.ptr(node.outputs[0])}, tid, nth);"]


def _binary_call(ctx: EmitContext, op: str, a: str, b: str, y: str, dt_a: str, dt_b: str, dt_y: str) -> str:
    dims, (sa, sb) = broadcast_layout(ctx.graph, [a, b], y)
    pad = 6 - len(dims)
    var = ctx.fresh("nbin")
    ctx.decls.append(struct_init("wdn_any_binary_params", var, {
        "op": op, "dt_a": NUM_CODES[dt_a], "dt_b": NUM_CODES[dt_b], "dt_y": NUM_CODES[dt_y], "rank": len(dims),
        "shape": c_array(dims + [1] * pad), "stride_a": c_array(sa + [0] * pad), "stride_b": c_array(sb + [0] * pad),
        "a": ctx.ptr(a), "b": ctx.ptr(b), "y": ctx.ptr(y)}))
    return f"wdn_binary_any(&{var}, tid, nth);"


class AnyBinaryEmitter(Emitter):
    """Binary and variadic elementwise ops on any numeric dtype; the last resort after the float32 (elementwise.py),
    int32/int64 (integer.py), integer Mod (intops.py) and comparison (logical.py) kernels."""

    rank = 3
    ops = (*BIN_OPS, "Mod")

    @staticmethod
    def _op(node: Node) -> Optional[str]:
        if node.op_type == "Mod":
            return "WDN_NB_FMOD" if node.attrs["fmod"] else "WDN_NB_MOD"
        return BIN_OPS.get(node.op_type)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or self._op(node) is None or not node.inputs or not all(node.inputs):
            return False
        if node.attrs.get("fused_activation"):
            return False
        if not all_static(graph, node.inputs + [y], tuple(NUM_CODES)):
            return False
        n_in = len(node.inputs)
        if node.op_type in VARIADIC:
            if n_in < 1:
                return False
        elif n_in != 2:
            return False
        dts = [_dtype(graph, n) for n in node.inputs]
        dy = _dtype(graph, y)
        if node.op_type == "Pow":
            a, b = dts
            if a not in FLOATS + INTS or b not in FLOATS + INTS or dy != a:
                return False
            if a in FLOATS and b in FLOATS and a != b:
                return False
        else:
            if len(set(dts)) != 1 or "bool" in dts:
                return False
            if dy != ("bool" if node.op_type in COMPARES else dts[0]):
                return False
            if node.op_type == "Mean" and dts[0] not in FLOATS:
                return False
        if n_in == 1:
            return tuple(graph.values[node.inputs[0]].shape) == tuple(graph.values[y].shape)
        return all(broadcast_layout(graph, [node.inputs[0], n], y) is not None for n in node.inputs[1:])

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        g = ctx.graph
        y = node.outputs[0]
        dy = _dtype(g, y)
        if len(node.inputs) == 1:  # Sum / Max / Min / Mean of one tensor
            nbytes = math.prod(ctx.shape(y)) * storage_bytes(dy)
            return [f"wdn_copy_bytes({nbytes}, {ctx.ptr(node.inputs[0])}, {ctx.ptr(y)}, tid, nth);"]
        op = self._op(node)
        if node.op_type not in VARIADIC:
            a, b = node.inputs
            return [_binary_call(ctx, op, a, b, y, _dtype(g, a), _dtype(g, b), dy)]
        # variadic: y = ((x0 op x1) op x2) ...; the js kernel keeps float16 / bfloat16 partial results in float32
        # and rounds once at the end (and divides by n first for Mean)
        mean = node.op_type == "Mean"
        low = dy in ("float16", "bfloat16")
        calls, acc = [], node.inputs[0]
        for i, b in enumerate(node.inputs[1:]):
            last = i == len(node.inputs) - 2 and not mean
            calls.append(_binary_call(ctx, op, acc, b, y, _dtype(g, acc), dy, dy if last or not low else "float32"))
            calls.append("wdn_barrier(nth);")
            acc = y
        if mean:
            n = ctx.add_const(np.asarray([len(node.inputs)], np.float64 if dy == "float64" else np.float32), "mean_n")
            ndt = "float64" if dy == "float64" else "float32"
            calls.append(_binary_call(ctx, "WDN_BIN_DIV", y, n, y, "float32" if low else dy, ndt, dy))
        else:
            calls.pop()  # no barrier after the last step (the backend adds one per op)
        return calls


#: unary math ops on float16 / bfloat16 / float32 (computed in double, then stored as the js kernels do)
UNARY_ANY = {"Sin": "WDN_NU_SIN", "Cos": "WDN_NU_COS", "Tan": "WDN_NU_TAN", "Asin": "WDN_NU_ASIN",
             "Acos": "WDN_NU_ACOS", "Atan": "WDN_NU_ATAN", "Sinh": "WDN_NU_SINH", "Cosh": "WDN_NU_COSH",
             "Asinh": "WDN_NU_ASINH", "Acosh": "WDN_NU_ACOSH", "Atanh": "WDN_NU_ATANH", "Elu": "WDN_NU_ELU"}


#: unary ops on the float dtypes the float32 kernels leave (float16, bfloat16, float64); Neg / Abs / Sign also on
#: integers (int32 / int64 Neg / Abs: integer.py)
UNARY_MORE = {"Neg": "WDN_NU_NEG", "Abs": "WDN_NU_ABS", "Sign": "WDN_NU_SIGN", "Sqrt": "WDN_NU_SQRT",
              "Exp": "WDN_NU_EXP", "Log": "WDN_NU_LOG", "Reciprocal": "WDN_NU_RECIPROCAL", "Floor": "WDN_NU_FLOOR",
              "Ceil": "WDN_NU_CEIL", "Round": "WDN_NU_ROUND"}


class AnyUnaryEmitter(Emitter):
    """Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh on float32 / float16 / bfloat16 (double
    precision inside, so results round like the js kernels' Math functions); Elu, Sqrt, Exp, Log, Reciprocal, Floor,
    Ceil, Round on float16 / bfloat16 / float64, Neg / Abs / Sign on those and the integers (float32: elementwise.py,
    int32 / int64 Neg / Abs: integer.py); IsNaN / IsInf on float16 / bfloat16 / float64 (float32: logical.py)."""

    rank = 2  # after the float32 (elementwise.py) and int32 / int64 (integer.py) kernels
    ops = (*UNARY_ANY, *UNARY_MORE, "IsNaN", "IsInf")

    @staticmethod
    def _op(node: Node) -> Optional[str]:
        if node.op_type == "IsNaN":
            return "WDN_NU_ISNAN"
        if node.op_type == "IsInf":
            pos = int(node.attrs["detect_positive"]) != 0
            neg = int(node.attrs["detect_negative"]) != 0
            return {(True, True): "WDN_NU_ISINF", (True, False): "WDN_NU_ISPOSINF",
                    (False, True): "WDN_NU_ISNEGINF"}.get((pos, neg))
        return UNARY_ANY.get(node.op_type) or UNARY_MORE.get(node.op_type)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 1 or not node.inputs[0] or self._op(node) is None:
            return False
        if node.attrs.get("fused_activation"):
            return False
        pred = node.op_type in ("IsNaN", "IsInf")
        if node.op_type in ("Neg", "Abs", "Sign"):
            dts = FLOATS + INTS
        elif pred or node.op_type in ("Elu", *UNARY_MORE):
            dts = FLOATS
        else:
            dts = ("float32", "float16", "bfloat16")
        if node.op_type == "Elu" and (node.attrs.get("fused_activation")
                                      or not math.isfinite(float(node.attrs["alpha"]))):
            return False
        if not all_static(graph, node.inputs, dts):
            return False
        if not all_static(graph, [y], ("bool",) if pred else (_dtype(graph, node.inputs[0]),)):
            return False
        return tuple(graph.values[node.inputs[0]].shape) == tuple(graph.values[y].shape)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x = node.inputs[0]
        count = math.prod(ctx.shape(node.outputs[0]))
        alpha = float(np.float32(node.attrs["alpha"])) if node.op_type == "Elu" else 0.0
        return [f"wdn_unary_any({self._op(node)}, {NUM_CODES[_dtype(ctx.graph, x)]}, {count}, {ctx.ptr(x)}, "
                f"{ctx.ptr(node.outputs[0])}, {alpha!r}, tid, nth);"]

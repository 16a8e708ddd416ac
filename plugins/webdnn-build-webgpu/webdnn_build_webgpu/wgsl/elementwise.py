"""Elementwise ops: unary, binary/variadic with broadcasting, and fused chains of them.

Every elementwise node is a chain of length one; the backend's ``fuse_elementwise`` merges a
node into its only consumer, so ``Add → Relu → Mul(0.5)`` becomes one kernel that computes the
whole expression per output element. Broadcasting composes (an input broadcast into an
intermediate that is broadcast into the output is the input broadcast into the output), so each
external input is read at its own broadcast index of the final output. Constant scalars (and
Clip's bounds) become literals in the source.

Values are typed by their dtype's compute type (f32, i32 for int32/int64, bool; see
``KernelBuilder.load``), so integer arithmetic, comparisons, logical ops, IsNaN/IsInf, Where and
Cast fuse with the float ops: ``IsNaN → Where`` or ``And → Where`` is one kernel.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from webdnn_build.ir import Graph, Node

from .base import (COPY_DTYPES, EXTRA_DTYPES, FLOAT_DTYPES, HELPERS, ROUNDING, STORABLE_DTYPES, Dispatch, Emitter,
                   KernelBuilder, KernelContext, activation_expr, broadcast_strides,
                   collapse, compute_type, contiguous_strides, decompose, dot, f32lit, gpu_static, linear_kernel, literal,
                   supported_activation, with_helpers)

FUSED_OP = "__webgpu_elementwise"

F = Callable[[list[str], dict], str]

UNARY: dict[str, F] = {
    "Relu": lambda a, at: f"max({a[0]}, 0.0f)",
    "Sigmoid": lambda a, at: f"sigm({a[0]})",
    "Tanh": lambda a, at: f"tanh_({a[0]})",
    "Exp": lambda a, at: f"exp({a[0]})",
    "Log": lambda a, at: f"log({a[0]})",
    "Sqrt": lambda a, at: f"sqrt({a[0]})",
    "Abs": lambda a, at: f"abs({a[0]})",
    "Neg": lambda a, at: f"(-{a[0]})",
    "Reciprocal": lambda a, at: f"(1.0f / {a[0]})",
    "Floor": lambda a, at: f"floor({a[0]})",
    "Ceil": lambda a, at: f"ceil({a[0]})",
    "Round": lambda a, at: f"round({a[0]})",
    "Sign": lambda a, at: f"sign({a[0]})",
    "Sin": lambda a, at: f"sin({a[0]})",
    "Cos": lambda a, at: f"cos({a[0]})",
    "Tan": lambda a, at: f"tan({a[0]})",
    "Asin": lambda a, at: f"asin_({a[0]})",
    "Acos": lambda a, at: f"acos_({a[0]})",
    "Atan": lambda a, at: f"atan_({a[0]})",
    "Sinh": lambda a, at: f"sinh_({a[0]})",
    "Cosh": lambda a, at: f"cosh_({a[0]})",
    "Asinh": lambda a, at: f"asinh_({a[0]})",
    "Acosh": lambda a, at: f"acosh_({a[0]})",
    "Atanh": lambda a, at: f"atanh_({a[0]})",
    "Erf": lambda a, at: f"erf_({a[0]})",
    "Softplus": lambda a, at: f"softplus_({a[0]})",
    "Softsign": lambda a, at: f"({a[0]} / (1.0f + abs({a[0]})))",
    "LeakyRelu": lambda a, at: f"leaky({a[0]}, {f32lit(at['alpha'])})",
    "Elu": lambda a, at: f"select({f32lit(at['alpha'])} * (exp({a[0]}) - 1.0f), {a[0]}, {a[0]} > 0.0f)",
    "Selu": lambda a, at: (f"({f32lit(at['gamma'])} * select({f32lit(at['alpha'])}"
                           f" * (exp({a[0]}) - 1.0f), {a[0]}, {a[0]} > 0.0f))"),
    "Celu": lambda a, at: (f"(max({a[0]}, 0.0f) + min(0.0f, {f32lit(at['alpha'])} * "
                           f"(exp({a[0]} / {f32lit(at['alpha'])}) - 1.0f)))"),
    "ThresholdedRelu": lambda a, at: f"select(0.0f, {a[0]}, {a[0]} > {f32lit(at['alpha'])})",
    "HardSigmoid": lambda a, at: f"clamp({f32lit(at['alpha'])} * {a[0]} + {f32lit(at['beta'])}, 0.0f, 1.0f)",
    "HardSwish": lambda a, at: f"({a[0]} * clamp({a[0]} / 6.0f + 0.5f, 0.0f, 1.0f))",
    "Swish": lambda a, at: f"({a[0]} * sigm({f32lit(at['alpha'])} * {a[0]}))",
    "Gelu": lambda a, at: (f"(0.5f * {a[0]} * (1.0f + tanh_(0.7978845608028654f * ({a[0]} + 0.044715f * {a[0]} * {a[0]} * {a[0]}))))"
                           if _approx(at) == "tanh" else f"(0.5f * {a[0]} * (1.0f + erf_({a[0]} * 0.7071067811865476f)))"),
    "Mish": lambda a, at: f"({a[0]} * tanh_(softplus_({a[0]})))",
    "Identity": lambda a, at: a[0],
    "Dropout": lambda a, at: a[0],
    "Clip": lambda a, at: f"min(max({a[0]}, {a[1]}), {a[2]})",
}

BINARY: dict[str, F] = {
    "Add": lambda a, at: f"({a[0]} + {a[1]})",
    "Sub": lambda a, at: f"({a[0]} - {a[1]})",
    "Mul": lambda a, at: f"({a[0]} * {a[1]})",
    "Div": lambda a, at: f"({a[0]} / {a[1]})",
    "Pow": lambda a, at: f"powf({a[0]}, {a[1]})",
    "PRelu": lambda a, at: f"select({a[0]} * {a[1]}, {a[0]}, {a[0]} >= 0.0f)",
}

VARIADIC: dict[str, F] = {
    "Sum": lambda a, at: "(" + " + ".join(a) + ")",
    "Mean": lambda a, at: "((" + " + ".join(a) + f") / {f32lit(len(a))})",
    "Max": lambda a, at: _fold("max", a),
    "Min": lambda a, at: _fold("min", a),
}


#: ops on non-float values, with their dtype rules in ``_typed_ok`` and expressions in ``_expr``
COMPARE = {"Equal": "==", "Less": "<", "Greater": ">", "LessOrEqual": "<=", "GreaterOrEqual": ">="}
LOGICAL = {"And": "&&", "Or": "||", "Xor": "!="}
TYPED_UNARY = ("Not", "IsNaN", "IsInf", "Cast", "BitCast", "BitwiseNot")
BITWISE = {"BitwiseAnd": "&", "BitwiseOr": "|", "BitwiseXor": "^"}
INT_BINARY = ("Mod", "BitShift", *BITWISE)
TYPED = (*COMPARE, *LOGICAL, *TYPED_UNARY, "Where", *INT_BINARY)
#: integer dtypes the GPU holds (8/16-bit values are stored widened: i32 sign-extended, u32 zero-extended)
SIGNED = ("int8", "int16", "int32", "int64")
UNSIGNED = ("uint8", "uint16", "uint32", "uint64")
#: unsigned results narrower than 32 bits are masked back to their width
UMASK = {"uint8": "0xffu", "uint16": "0xffffu"}

INT_ARITH = ("Add", "Sub", "Mul", "Div")
INTS = ("int32", "int64")        # arithmetic in i32 (int64 values are stored truncated to 32 bits)
CAST_TYPES = ("float32", "bool", *SIGNED, *UNSIGNED)
#: BitCast between dtypes of one width (bool only as a source: its bytes are 0 or 1)
BITCAST_GROUPS = ({"float32", "int32", "uint32"}, {"int16", "uint16"}, {"int8", "uint8", "bool"})

# helper functions of this module's expressions (declared once per shader when used, like base.HELPERS)
HELPERS.update({
    # fmod (the sign of a) through an fma with the truncated quotient, corrected when a / b rounded across
    # an integer: exact while |a / b| < 2^24; x mod ±inf = x, inf or NaN operands and b = 0 give NaN
    "fmodf_": ("fn fmodf_(a: f32, b: f32) -> f32 {\n"
               "  if ((bitcast<u32>(b) & 0x7fffffffu) == 0x7f800000u && (bitcast<u32>(a) & 0x7f800000u) != 0x7f800000u) {\n"
               "    return a;\n"
               "  }\n"
               "  let q = trunc(a / b);\n"
               "  var r = fma(-b, q, a);\n"
               "  let s = select(-1.0f, 1.0f, (a < 0.0f) == (b < 0.0f));\n"
               "  if (r != 0.0f && (r < 0.0f) != (a < 0.0f)) { r = r + b * s; }\n"
               "  else if (abs(r) >= abs(b)) { r = r - b * s; }\n"
               "  if (r == 0.0f) { r = bitcast<f32>(bitcast<u32>(a) & 0x80000000u); }\n"
               "  return r;\n"
               "}"),
    # numpy.mod (fmod=0): the sign of b
    "pymodf_": ("fn pymodf_(a: f32, b: f32) -> f32 {\n"
                "  var r = fmodf_(a, b);\n"
                "  if (r != 0.0f && (r < 0.0f) != (b < 0.0f)) { r = r + b; }\n"
                "  if (r == 0.0f) { r = bitcast<f32>(bitcast<u32>(b) & 0x80000000u); }\n"
                "  return r;\n"
                "}"),
    # integer power by squaring, wrapping like the multiplication; a negative exponent gives 1 / a^-b truncated
    "ipow_": ("fn ipow_(a: i32, b: i32) -> i32 {\n"
              "  if (b < 0i) {\n"
              "    if (a == 1i) { return 1i; }\n"
              "    if (a == -1i) { return select(1i, -1i, (b & 1i) != 0i); }\n"
              "    return 0i;\n"
              "  }\n"
              "  var r = 1i;\n"
              "  var x = a;\n"
              "  var e = b;\n"
              "  while (e != 0i) {\n"
              "    if ((e & 1i) != 0i) { r = r * x; }\n"
              "    x = x * x;\n"
              "    e = e >> 1u;\n"
              "  }\n"
              "  return r;\n"
              "}"),
})


def _approx(attrs: dict) -> str:
    a = attrs["approximate"]
    return a.decode() if isinstance(a, bytes) else str(a)


def _fold(fn: str, a: list[str]) -> str:
    acc = a[0]
    for x in a[1:]:
        acc = f"{fn}({acc}, {x})"
    return acc


def _clip_bounds(node: Node, graph: Graph) -> Optional[tuple[float, float]]:
    if len(node.inputs) > 1 or "min" not in node.attrs and "max" not in node.attrs:
        bounds = []
        for k, default in ((1, -3.4028234663852886e38), (2, 3.4028234663852886e38)):
            name = node.inputs[k] if len(node.inputs) > k else ""
            if not name:
                bounds.append(default)
                continue
            v = graph.values.get(name)
            if v is None or v.const is None:
                return None
            bounds.append(float(np.asarray(v.const).ravel()[0]))
        return bounds[0], bounds[1]
    return float(node.attrs["min"]), float(node.attrs["max"])  # before opset 11 (declared defaults: the float32 range)


def data_inputs(node: Node) -> list[str]:
    """The inputs an elementwise node computes with (Clip's bounds and Dropout's extras are not)."""
    if node.op_type in UNARY or node.op_type in TYPED_UNARY:
        return node.inputs[:1]
    return list(node.inputs)


def _dtype(graph: Graph, name: str) -> str:
    v = graph.values.get(name)
    return v.dtype if v is not None else ""


def _kind(dtype: str) -> str:
    """float16 / bfloat16 compute as float32 (their results rounded when produced)."""
    return "float32" if dtype in FLOAT_DTYPES else dtype


def _typed_ok(node: Node, graph: Graph, ins: list[str], out: str) -> bool:
    """The dtype rules: float ops on float32 (float16 / bfloat16 alike); Add/Sub/Mul/Div also on integers;
    comparisons, logical ops, IsNaN/IsInf, Where, Cast, Identity as in ONNX, restricted to GPU dtypes."""
    op = node.op_type
    raw = [_dtype(graph, i) for i in ins]
    rout = _dtype(graph, out)
    if not gpu_static(graph, ins + [out], STORABLE_DTYPES):
        return False
    if "float64" in raw + [rout]:
        # float64 lives as f32 (rounded on upload): only the casts that rounding does not change
        return op == "Cast" and ((raw[0] == "float64" and rout == "float32")
                                 or (rout == "float64" and raw[0] in ("float32", "float16", "bfloat16")))
    if op == "Cast" and ((rout == "uint64" and raw[0] not in ("bool", *UNSIGNED))
                         or (raw[0] == "uint64" and rout == "int64")):
        return False  # negative -> uint64 or uint64 >= 2^31 -> int64: values 32 bits cannot hold
    if op == "Cast" and rout == "bfloat16" and raw[0] in ("int32", "int64", "uint32", "uint64"):
        return False  # int -> f32 -> bfloat16 would round twice above 2^24
    if op == "BitCast" and any(d in EXTRA_DTYPES or d == "float32" for d in raw + [rout]):
        return False  # float32 bits: wgsl/cast.py (not fused, it needs the f32 precision)
    if op not in ("Cast", "BitCast", "Pow") and len({d for d in raw + [rout] if d in FLOAT_DTYPES}) > 1:
        return False
    dts, dout = [_kind(d) for d in raw], _kind(rout)
    if op in COMPARE:
        allowed = ("float32", *SIGNED, *UNSIGNED, "bool") if op == "Equal" else ("float32", *SIGNED, *UNSIGNED)
        return len(ins) == 2 and dts[0] == dts[1] and dts[0] in allowed and dout == "bool"
    if op in LOGICAL or op == "Not":
        return all(d == "bool" for d in dts + [dout]) and len(ins) == (1 if op == "Not" else 2)
    if op in ("IsNaN", "IsInf"):
        return dts == ["float32"] and dout == "bool"
    if op == "Where":
        return len(ins) == 3 and dts[0] == "bool" and dts[1] == dts[2] == dout
    if op == "Cast":
        # a uint32 above 2^31 has no int64 value the GPU can store (int64 lives in 32 bits)
        return dts[0] in CAST_TYPES and dout in CAST_TYPES and not (dts[0] == "uint32" and dout == "int64")
    if op == "BitCast":
        return len(ins) == 1 and dout != "bool" and any(dts[0] in g and dout in g for g in BITCAST_GROUPS)
    if op == "Pow" and len(ins) == 2:
        if dts[0] == "float32":
            return dout == "float32" and dts[1] in ("float32", *SIGNED, *UNSIGNED)
        return dts[0] == dts[1] == dout and dout in ("int32", "int64")
    if op == "Identity":
        return dts[0] == dout
    if dout == "uint64" and op in ("Add", "Sub", "Mul", "BitwiseNot"):
        return False  # uint64 lives in 32 bits: 0 - 1 or ~0 would wrap at 2^32, silently wrong
    if op == "BitShift" and dout in ("int64", "uint64") and _direction(node) == "LEFT":
        return False  # a left shift can carry past bit 31 of the 32-bit storage
    if op in INT_ARITH and dout in SIGNED + UNSIGNED:
        return all(d == dout for d in dts)
    if op in ("Max", "Min", "Mod", "Neg", "Abs", *BITWISE, "BitwiseNot") and dout in SIGNED + UNSIGNED:
        if op in ("Neg", "Abs") and dout not in SIGNED:
            return False
        if op == "Mod" and len(ins) != 2:
            return False
        return all(d == dout for d in dts)
    if op == "BitShift":
        return (_direction(node) in ("LEFT", "RIGHT") and dout in UNSIGNED + SIGNED and all(d == dout for d in dts)
                and len(ins) == 2)
    return all(d == "float32" for d in dts + [dout])


def is_elementwise(node: Node, graph: Graph) -> bool:
    if node.domain:
        return False
    op = node.op_type
    if op not in UNARY and op not in BINARY and op not in VARIADIC and op not in TYPED:
        return False
    outs = [o for o in node.outputs if o]
    if len(outs) != 1 or outs[0] != node.outputs[0]:
        return False
    if not supported_activation(node.attrs):
        return False
    ins = data_inputs(node)
    if not ins or not all(ins) or not _typed_ok(node, graph, ins, outs[0]):
        return False
    if (op in BINARY or op in INT_BINARY) and len(ins) != 2:
        return False
    if any(_scalar_const(graph, i) is None and _is_scalar_const(graph, i) for i in ins):
        return False  # a constant scalar without a WGSL literal
    if op == "Clip" and _clip_bounds(node, graph) is None:
        return False
    if op == "Dropout":
        if len(node.inputs) > 2 and node.inputs[2]:
            t = graph.values.get(node.inputs[2])
            if t is None or t.const is None or bool(np.asarray(t.const).ravel()[0]):
                return False
    if op == "Gelu" and _approx(node.attrs) not in ("none", "tanh"):
        return False
    out = tuple(graph.values[outs[0]].shape)
    for i in ins:  # inputs must broadcast to the output (unidirectionally)
        s = tuple(graph.values[i].shape)
        if len(s) > len(out) or any(a != 1 and a != b for a, b in zip(s[::-1], out[::-1])):
            return False
    return True


def _is_scalar_const(graph: Graph, name: str) -> bool:
    v = graph.values.get(name)
    return v is not None and v.const is not None and v.dtype in COPY_DTYPES and v.numel() == 1


def _scalar_const(graph: Graph, name: str) -> Optional[str]:
    """The WGSL literal of a one-element constant in its compute type (None: not such a constant)."""
    if not _is_scalar_const(graph, name):
        return None
    v = graph.values[name]
    return literal(v.dtype, np.asarray(v.const).ravel()[0].item())


def _cast_expr(src: str, dst: str, a: str) -> str:
    """ONNX Cast between float32, bool and the integer dtypes, like the js kernel: float -> integer truncates
    toward zero and wraps at the target width (NaN/Inf -> 0), integer -> integer wraps, -> bool is != 0."""
    s = compute_type(src)
    if dst in FLOAT_DTYPES:
        return a if s == "f32" else f"select(0.0f, 1.0f, {a})" if s == "bool" else f"f32({a})"
    if dst == "bool":
        if s == "f32":
            return f"((bitcast<u32>({a}) & 0x7fffffffu) != 0u)"  # NaN -> true, -0 -> false
        return a if s == "bool" else f"({a} != 0{s[0]})"
    d = compute_type(dst)
    if s == "bool":
        return f"select(0{d[0]}, 1{d[0]}, {a})"
    if s == "f32":
        v = f"f2i_({a})"
    elif s == d:
        v = a
    else:
        v = f"bitcast<{d}>({a})"
    if d == "i32":
        return _wrap(v if s != "u32" else f"bitcast<i32>({a})", dst)
    return _wrap(v if s != "f32" else f"bitcast<u32>({v})", dst)


def _bitcast_expr(src: str, dst: str, a: str) -> str:
    """BitCast within one width: 32-bit types reinterpret; 8/16-bit ones (held widened) re-extend."""
    s, d = compute_type(src), compute_type(dst)
    if s == "bool":
        return f"select(0{d[0]}, 1{d[0]}, {a})"
    if s == d:
        return a
    return _wrap(f"bitcast<{d}>({a})", dst)


def _wrap(e: str, dtype: str) -> str:
    """Integer arithmetic wraps at the width of ``dtype`` (8/16-bit values are held widened in 32 bits)."""
    if dtype in UMASK:
        return f"({e} & {UMASK[dtype]})"
    if dtype in ("int8", "int16"):
        sh = 24 if dtype == "int8" else 16
        return f"(({e} << {sh}u) >> {sh}u)"
    return e


def _direction(n: Node) -> str:
    d = n.attrs.get("direction", "")
    return d.decode() if isinstance(d, bytes) else str(d)


def _expr(n: Node, args: list[str], graph: Graph) -> str:
    op = n.op_type
    if op in COMPARE:
        return f"({args[0]} {COMPARE[op]} {args[1]})"
    if op in LOGICAL:
        return f"({args[0]} {LOGICAL[op]} {args[1]})"
    if op == "Not":
        return f"(!{args[0]})"
    if op == "IsNaN":
        return f"isnan_({args[0]})"
    if op == "IsInf":
        pos, neg = int(n.attrs["detect_positive"]), int(n.attrs["detect_negative"])
        if pos and neg:
            return f"isinf_({args[0]})"
        if pos or neg:
            return f"(isinf_({args[0]}) && {args[0]} {'>' if pos else '<'} 0.0f)"
        return "false"
    if op == "Where":
        return f"select({args[2]}, {args[1]}, {args[0]})"
    if op == "Cast":
        return _cast_expr(_dtype(graph, n.inputs[0]), _dtype(graph, n.outputs[0]), args[0])
    if op == "BitCast":
        return _bitcast_expr(_dtype(graph, n.inputs[0]), _dtype(graph, n.outputs[0]), args[0])
    if op == "Pow":
        if _kind(_dtype(graph, n.inputs[0])) == "float32":
            b = args[1] if _kind(_dtype(graph, n.inputs[1])) == "float32" else f"f32({args[1]})"
            return activation_expr(n.attrs, f"powf({args[0]}, {b})")
        return f"ipow_({args[0]}, {args[1]})"
    dout = _kind(_dtype(graph, n.outputs[0]))
    mask = (lambda e: f"({e} & {UMASK[dout]})") if dout in UMASK else (lambda e: e)
    if op in INT_ARITH and dout in SIGNED + UNSIGNED:
        if op == "Div":
            e = f"{'idiv_' if dout in SIGNED else 'udiv_'}({args[0]}, {args[1]})"
        else:
            e = BINARY[op](args, n.attrs)
        return _wrap(e, dout)
    if op == "Mod":
        if dout == "float32":
            fmod = int(n.attrs["fmod"]) == 1
            return f"{'fmodf_' if fmod else 'pymodf_'}({args[0]}, {args[1]})"
        if int(n.attrs["fmod"]) == 1:
            return f"{'itmod_' if dout in SIGNED else 'umod_'}({args[0]}, {args[1]})"
        return f"{'imod_' if dout in SIGNED else 'umod_'}({args[0]}, {args[1]})"
    if op in BITWISE:
        return f"({args[0]} {BITWISE[op]} {args[1]})"
    if op == "BitwiseNot":
        return mask(f"(~{args[0]})")
    if op == "BitShift":
        left = _direction(n) == "LEFT"
        if dout in SIGNED:
            # a shift amount < 0 or >= the width gives 0 (left) or the sign fill (right); a right shift
            # by 31 or more (within i32) is the sign fill too, so the amount is clamped there
            a, b = args
            if left:
                return f"select(0i, {_wrap(f'({a} << (u32({b}) & 31u))', dout)}, {b} >= 0i && {b} < 32i)"
            return f"select({a} >> min(u32({b}), 31u), select(0i, -1i, {a} < 0i), {b} < 0i)"
        return mask(f"shl_({args[0]}, {args[1]})") if left else f"shr_({args[0]}, {args[1]})"
    if op in ("Neg", "Abs") and dout in SIGNED:
        return _wrap(f"(-{args[0]})" if op == "Neg" else f"abs({args[0]})", dout)
    fn = UNARY.get(op) or BINARY.get(op) or VARIADIC[op]
    return activation_expr(n.attrs, fn(args, n.attrs))


def chain_of(node: Node) -> list[Node]:
    return node.attrs["$chain"] if node.op_type == FUSED_OP else [node]


def external_inputs(chain: list[Node], graph: Graph) -> list[str]:
    produced = {n.outputs[0] for n in chain}
    seen: list[str] = []
    for n in chain:
        for i in data_inputs(n):
            if i not in produced and i not in seen and _scalar_const(graph, i) is None:
                seen.append(i)
    return seen


def make_fused(chain: list[Node]) -> Node:
    """A pseudo node standing for ``chain`` (topologically ordered; the last one is the root)."""
    produced = {n.outputs[0] for n in chain}
    inputs: list[str] = []
    for n in chain:
        for i in n.reads():
            if i not in produced and i not in inputs:
                inputs.append(i)
    root = chain[-1]
    return Node(FUSED_OP, inputs, [root.outputs[0]], {"$chain": chain}, "", root.name)


class ElementwiseEmitter(Emitter):
    ops = (*UNARY, *BINARY, *VARIADIC, *TYPED, FUSED_OP)
    symbolic = True  # broadcast shapes and strides may be sizes known at run time

    def supports(self, node: Node, graph: Graph) -> bool:
        if node.op_type == FUSED_OP:
            return True
        return is_elementwise(node, graph)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        graph = ctx.graph
        chain = chain_of(node)
        out = chain[-1].outputs[0]
        out_shape = ctx.shape(out)
        total = math.prod(out_shape)
        ext = external_inputs(chain, graph)
        dims, strides = collapse(out_shape, [contiguous_strides(out_shape)] + [broadcast_strides(ctx.shape(x), out_shape) for x in ext])
        kb = KernelBuilder(ctx)
        lines = decompose("i", dims) if any(s != strides[0] for s in strides[1:]) else []
        coords = [f"c{d}" for d in range(len(dims))]
        names: dict[str, str] = {}
        for j, x in enumerate(ext):
            ld = kb.load(f"x{j}", x)
            idx = "i" if strides[j + 1] == strides[0] else dot(coords, strides[j + 1])
            lines.append(f"let v{j} = {ld}({idx});")
            names[x] = f"v{j}"
        exprs = []
        for k, n in enumerate(chain):
            args = []
            for i in data_inputs(n):
                if i in names:
                    args.append(names[i])
                else:
                    args.append(_scalar_const(graph, i))  # type: ignore[arg-type]
            if n.op_type == "Clip":
                lo, hi = _clip_bounds(n, graph)  # type: ignore[misc]
                args = [args[0], f32lit(lo), f32lit(hi)]
            e = _expr(n, args, graph)
            dt = _dtype(graph, n.outputs[0])
            if dt in ROUNDING:  # each op's result at its dtype's precision (fused chains included)
                e = f"{ROUNDING[dt]}({e})"
            exprs.append(e)
            lines.append(f"let t{k} = {e};")
            names[n.outputs[0]] = f"t{k}"
        st = kb.store("y", out)
        lines.append(f"{st}(i, t{len(chain) - 1});")
        with_helpers(kb, *exprs)
        return [linear_kernel(kb, total, "\n".join(lines), wg=256)]

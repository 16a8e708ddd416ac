"""ReduceSum / ReduceMean / ReduceMax / ReduceMin / ReduceProd / ReduceSumSquare / ReduceL1 / ReduceL2 /
ReduceLogSum / ReduceLogSumExp: a workgroup per output element. ArgMax / ArgMin: one invocation per output.

Axes come from the ``axes`` attribute (before opset 18; ReduceSum before 13) or the ``axes`` input. Constant
axes are baked into the index arithmetic. Axes given at run time (a graph input or a computed value) are read
by the kernel: each workgroup builds the mask of reduced dimensions from them and walks the dimensions of the
baked input shape (the output shape is static, so only the mapping depends on the mask). An empty ``axes``
tensor reduces over every axis, or over none with ``noop_with_empty_axes`` (each output is the reduction of
one element, like the js kernel and the reference: ReduceL2 gives |x|).

Dtypes: float32 for every op; int32 for ReduceSum (wrapping like the js kernel's int32 store); int32 / int64
(stored as i32) / bool for ReduceMax / ReduceMin. Max and Min propagate NaN like the js kernel. An empty input
with a non-empty output (a reduction over a zero-length axis) fills the output with the value of the empty
reduction, computed at build time. Anything else (other dtypes, ReduceMean/Prod on integers, int64 sums
that could leave int32) runs on the CPU.
"""

from __future__ import annotations

import math
from typing import Optional

from webdnn_build.ir import Graph, Node

from .base import (ROW_HEADER, Dispatch, Emitter, KernelBuilder, KernelContext, const_ints, contiguous_strides,
                   f32lit, gpu_static, linear_kernel, literal, row_workgroups, u)

KINDS = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min", "ReduceProd": "prod",
         "ReduceSumSquare": "sumsquare", "ReduceL1": "l1", "ReduceL2": "l2", "ReduceLogSum": "logsum",
         "ReduceLogSumExp": "logsumexp"}

#: kind -> dtypes of the data (and the output) the kernel handles
DTYPES = {"sum": ("float32", "int32"), "max": ("float32", "int32", "int64", "bool"),
          "min": ("float32", "int32", "int64", "bool")}
AXES_DTYPES = ("int32", "int64")
#: value of each float reduction over no element (the js kernel's init and finish with count 0)
EMPTY_F32 = {"sum": 0.0, "mean": math.nan, "max": -math.inf, "min": math.inf, "prod": 1.0, "sumsquare": 0.0,
             "l1": 0.0, "l2": 0.0, "logsum": -math.inf, "logsumexp": -math.inf}

NAN = "f32_bits(0x7fc00000u)"
MAXN = ("fn maxn(a: f32, b: f32) -> f32 {\n"
        f"  if (isnan_(a) || isnan_(b)) {{ return {NAN}; }}\n"
        "  return max(a, b);\n"
        "}")
MINN = ("fn minn(a: f32, b: f32) -> f32 {\n"
        f"  if (isnan_(a) || isnan_(b)) {{ return {NAN}; }}\n"
        "  return min(a, b);\n"
        "}")


def _input_form(node: Node, graph: Graph) -> bool:
    opset = graph.opset_for(node.domain)
    return opset >= 18 or (node.op_type == "ReduceSum" and opset >= 13)


def _axes_input(node: Node, graph: Graph) -> str:
    return node.inputs[1] if _input_form(node, graph) and len(node.inputs) > 1 and node.inputs[1] else ""


def reduce_axes(node: Node, graph: Graph) -> list[int] | None:
    """The sorted reduced axes when they are known at build time ([] = no-op), else None."""
    shape = graph.values[node.inputs[0]].shape
    rank = len(shape)
    name = _axes_input(node, graph)
    if _input_form(node, graph):
        axes = const_ints(graph, name) if name else []
        if axes is None:
            v = graph.values.get(name)
            if v is None or not v.is_static or v.numel() != 0:
                return None
            axes = []  # an empty axes tensor whose value is not a constant: still known to be empty
    else:
        axes = list(node.attrs.get("axes", []))
    if not axes:
        if node.attrs.get("noop_with_empty_axes"):  # opset 13/18+
            return []
        axes = list(range(rank))
    if any(not -rank <= a < rank for a in axes):
        return None
    return sorted({a + rank if a < 0 else a for a in axes})


def _runtime_axes(node: Node, graph: Graph) -> Optional[str]:
    """The axes value read by the kernel (None: the axes are known at build time or unusable)."""
    if reduce_axes(node, graph) is not None:
        return None
    name = _axes_input(node, graph)
    v = graph.values.get(name) if name else None
    if v is None or not v.is_static or len(v.shape) != 1 or not gpu_static(graph, [name], AXES_DTYPES):
        return None
    return name


def _acc_type(dtype: str) -> str:
    return {"float32": "f32", "int32": "i32", "int64": "i32", "bool": "u32"}[dtype]


def _ops(kind: str, dtype: str) -> tuple[str, str, str, str]:
    """(init, combine with {a} {b}, map of element {v} into the accumulator type, final of {acc} / {n})."""
    if dtype == "bool":
        conv = "select(0u, 1u, {v})"
        return ("0u", "max({a}, {b})", conv, "({acc} != 0u)") if kind == "max" else \
            ("1u", "min({a}, {b})", conv, "({acc} != 0u)")
    if dtype in ("int32", "int64"):
        if kind == "sum":
            return "0i", "{a} + {b}", "{v}", "{acc}"
        if kind == "max":
            return literal("int32", -(1 << 31)), "max({a}, {b})", "{v}", "{acc}"
        return literal("int32", (1 << 31) - 1), "min({a}, {b})", "{v}", "{acc}"
    return {
        "sum": ("0.0f", "{a} + {b}", "{v}", "{acc}"),
        "mean": ("0.0f", "{a} + {b}", "{v}", "({acc} / f32({n}))"),
        "max": ("f32_bits(0xff800000u)", "maxn({a}, {b})", "{v}", "{acc}"),
        "min": ("f32_bits(0x7f800000u)", "minn({a}, {b})", "{v}", "{acc}"),
        "prod": ("1.0f", "{a} * {b}", "{v}", "{acc}"),
        "sumsquare": ("0.0f", "{a} + {b}", "({v} * {v})", "{acc}"),
        "l1": ("0.0f", "{a} + {b}", "abs({v})", "{acc}"),
        "l2": ("0.0f", "{a} + {b}", "({v} * {v})", "sqrt({acc})"),
        "logsum": ("0.0f", "{a} + {b}", "{v}", "log({acc})"),
        "logsumexp": ("0.0f", "{a} + {b}", "exp({v} - shift)", "(log({acc}) + shift)"),
    }[kind]


def _wg_reduce(name: str, t: str, comb: str) -> str:
    """A workgroup-wide reduction over ``red`` (any WG_X); every invocation calls it, all get the result."""
    return (f"fn {name}(li: u32, v: {t}) -> {t} {{\n"
            "  workgroupBarrier();\n"
            "  red[li] = v;\n"
            "  workgroupBarrier();\n"
            "  var s = WG_X;\n"
            "  while (s > 1u) {\n"
            "    let half = (s + 1u) / 2u;\n"
            "    if (li < s - half) {\n"
            f"      red[li] = {comb.format(a='red[li]', b='red[li + half]')};\n"
            "    }\n"
            "    workgroupBarrier();\n"
            "    s = half;\n"
            "  }\n"
            "  let r = red[0];\n"
            "  workgroupBarrier();\n"
            "  return r;\n"
            "}\n")


def reduce_kernel(ctx: KernelContext, kind: str, x: str, y: str, rows: int, prologue: list[str], cols: str,
                  offset: str, kb: Optional[KernelBuilder] = None) -> Dispatch:
    """y[row] = reduction over j < cols of x[offset]; one workgroup per row. ``prologue`` (WGSL statements run
    by every invocation) defines what ``cols`` (a u32 expression) and ``offset`` (of ``row`` and ``j``) use."""
    dtype = ctx.graph.values[x].dtype
    t = _acc_type(dtype)
    init, comb, mp, fin = _ops(kind, dtype)
    kb = kb or KernelBuilder(ctx)
    lx, st = kb.load("x", x), kb.store("y", y)
    kb.override("WG_X", 64)
    kb.decls.append(f"var<workgroup> red: array<{t}, WG_X>;")
    kb.decls.append(_wg_reduce("wg_reduce", t, comb))
    if "maxn(" in comb or kind == "logsumexp":
        kb.decls.append(MAXN)
    if "minn(" in comb:
        kb.decls.append(MINN)
    lines = [f"if (row >= {u(rows)}) {{ return; }}", *prologue, f"let ncols = {cols};"]
    if kind == "logsumexp":  # shift by the maximum (0 when it is not finite), like the js kernel
        lines += ["var m = f32_bits(0xff800000u);",
                  f"for (var j = li; j < ncols; j = j + WG_X) {{ m = maxn(m, {lx}({offset})); }}",
                  "workgroupBarrier();",
                  "red[li] = m;",
                  "workgroupBarrier();",
                  "var mx = red[0];",
                  "for (var k = 1u; k < WG_X; k = k + 1u) { mx = maxn(mx, red[k]); }",
                  "let shift = select(mx, 0.0f, isnan_(mx) || isinf_(mx));"]
    lines += [f"var acc = {init};",
              "for (var j = li; j < ncols; j = j + WG_X) {",
              f"  let v = {lx}({offset});",
              f"  acc = {comb.format(a='acc', b=mp.format(v='v'))};",
              "}",
              "let total = wg_reduce(li, acc);",
              f"if (li == 0u) {{ {st}(row, {fin.format(acc='total', n='ncols')}); }}"]
    body = ROW_HEADER + "\n".join("  " + ln for ln in lines) + "\n}\n"
    return kb.dispatch(body, workgroups=row_workgroups(rows))


def _coord_terms(var: str, dims: list[int], strides: list[int]) -> str:
    """sum_d ((var / inner_d) % dims[d]) * strides[d] as a WGSL expression (no statements needed)."""
    terms = []
    inner = 1
    for d in range(len(dims) - 1, -1, -1):
        t = var if inner == 1 else f"({var} / {u(inner)})"
        if d > 0:
            t = f"({t} % {u(dims[d])})"
        if dims[d] > 1:
            terms.append(f"{t} * {u(strides[d])}" if strides[d] != 1 else t)
        inner *= dims[d]
    return " + ".join(terms) if terms else "0u"


def _empty_value(kind: str, dtype: str) -> Optional[str]:
    """The WGSL literal of a reduction over no element (None: not representable on the GPU)."""
    if dtype == "float32":
        return f32lit(EMPTY_F32[kind])
    if dtype == "bool":
        return "false" if kind == "max" else "true"
    if kind == "sum":
        return literal(dtype, 0)
    if dtype == "int64":
        return None  # ±2^63 does not fit the i32 storage
    return literal(dtype, -(1 << 31) if kind == "max" else (1 << 31) - 1)


class ReduceEmitter(Emitter):
    ops = tuple(KINDS)
    #: an empty input (a reduction over a zero-length axis) or an empty axes tensor is handled by the kernel
    accepts_empty = True

    def supports(self, node: Node, graph: Graph) -> bool:
        kind = KINDS[node.op_type]
        if len(node.outputs) != 1 or not node.inputs or not node.inputs[0]:
            return False
        xv, yv = graph.values.get(node.inputs[0]), graph.values.get(node.outputs[0])
        if xv is None or yv is None or xv.dtype != yv.dtype or xv.dtype not in DTYPES.get(kind, ("float32",)):
            return False
        if not gpu_static(graph, [node.inputs[0], node.outputs[0]]) or not xv.shape or yv.numel() == 0:
            return False
        if xv.numel() == 0:  # every output reduces over no element, whatever the axes
            return _empty_value(kind, xv.dtype) is not None
        if reduce_axes(node, graph) is not None:
            return True
        return _runtime_axes(node, graph) is not None and len(xv.shape) <= 31

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        kind = KINDS[node.op_type]
        x, y = node.inputs[0], node.outputs[0]
        shape = list(ctx.shape(x))
        strides = contiguous_strides(shape)
        rows = ctx.numel(y)
        dtype = ctx.graph.values[x].dtype
        if ctx.numel(x) == 0:
            kb = KernelBuilder(ctx)
            st = kb.store("y", y)
            return [linear_kernel(kb, rows, f"{st}(i, {_empty_value(kind, dtype)});")]
        axes = reduce_axes(node, ctx.graph)
        if axes is not None:
            kept = [d for d in range(len(shape)) if d not in axes]
            cols = math.prod(shape[d] for d in axes)
            row_terms = _coord_terms("row", [shape[d] for d in kept], [strides[d] for d in kept])
            col_terms = _coord_terms("j", [shape[d] for d in axes], [strides[d] for d in axes])
            if axes == list(range(len(shape) - len(axes), len(shape))):
                offset = f"row * {u(cols)} + j"
            else:
                offset = f"({row_terms}) + ({col_terms})"
            return [reduce_kernel(ctx, kind, x, y, rows, [], u(cols), offset)]
        return [self._runtime(node, ctx, kind, shape, strides, rows)]

    @staticmethod
    def _runtime(node: Node, ctx: KernelContext, kind: str, shape: list[int], strides: list[int],
                 rows: int) -> Dispatch:
        """Axes read from a tensor at run time: the mask of reduced dims, then the walk over the dims."""
        name = _runtime_axes(node, ctx.graph)
        assert name is not None
        n_axes, rank = ctx.numel(name), len(shape)
        keepdims = int(node.attrs["keepdims"])
        kb = KernelBuilder(ctx)
        la = kb.load("ax", name)
        pro = ["var mask = 0u;",
               f"for (var t = 0u; t < {u(n_axes)}; t = t + 1u) {{",
               f"  var a = {la}(t);",
               f"  if (a < 0i) {{ a = a + {rank}i; }}",
               f"  if (a >= 0i && a < {rank}i) {{ mask = mask | (1u << u32(a)); }}",
               "}",
               "var cols = 1u;"]
        dims = [d for d in range(rank) if shape[d] > 1]  # size-1 dims add nothing to any offset
        pro += [f"if ((mask & {u(1 << d)}) != 0u) {{ cols = cols * {u(shape[d])}; }}" for d in dims]
        if keepdims:  # the output has the input's rank (1 at the reduced dims): the row's coordinates are direct
            out = list(ctx.shape(node.outputs[0]))
            pro.append(f"let base = {_coord_terms('row', out, strides)};")
        else:
            pro += ["var base = 0u;", "var rem = row;"]
            for d in reversed(dims):
                pro.append(f"if ((mask & {u(1 << d)}) == 0u) {{ base = base + (rem % {u(shape[d])}) * {u(strides[d])};"
                           f" rem = rem / {u(shape[d])}; }}")
        lines = [f"fn red_off(j: u32, mask: u32) -> u32 {{", "  var r = j;", "  var o = 0u;"]
        for d in reversed(dims):
            lines.append(f"  if ((mask & {u(1 << d)}) != 0u) {{ o = o + (r % {u(shape[d])}) * {u(strides[d])};"
                         f" r = r / {u(shape[d])}; }}")
        lines += ["  return o;", "}"]
        kb.decls.append("\n".join(lines))
        return reduce_kernel(ctx, kind, node.inputs[0], node.outputs[0], rows, pro, "cols", "base + red_off(j, mask)",
                             kb=kb)


class ArgExtremeEmitter(Emitter):
    """ArgMax / ArgMin over one axis of float32 or int32/int64 data (int64 indices, stored as i32): one invocation
    per output scans the axis; ties give the first index, or the last with ``select_last_index``."""

    ops = ("ArgMax", "ArgMin")

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.outputs) != 1 or not gpu_static(graph, node.inputs[:1], ("float32", "int32", "int64")) \
                or not gpu_static(graph, node.outputs, ("int64",)):
            return False
        shape = graph.values[node.inputs[0]].shape
        axis = int(node.attrs["axis"])
        return len(shape) >= 1 and -len(shape) <= axis < len(shape) and shape[axis] > 0

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        shape = ctx.shape(node.inputs[0])
        axis = int(node.attrs["axis"]) % len(shape)
        outer, n, inner = math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])
        cmp = ">" if node.op_type == "ArgMax" else "<"
        if node.attrs.get("select_last_index"):  # opset 12+
            cmp += "="
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        body = f"""
let base = (i / {u(inner)}) * {u(n * inner)} + i % {u(inner)};
var best = {lx}(base);
var k = 0i;
for (var j = 1u; j < {u(n)}; j = j + 1u) {{
  let v = {lx}(base + j * {u(inner)});
  if (v {cmp} best) {{ best = v; k = i32(j); }}
}}
{st}(i, k);
"""
        return [linear_kernel(kb, outer * inner, body)]

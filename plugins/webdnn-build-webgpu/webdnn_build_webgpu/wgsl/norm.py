"""BatchNormalization (inference, unfolded), LayerNormalization, InstanceNormalization, LRN."""

from __future__ import annotations

import math

import numpy as np

from webdnn_build.ir import Graph, Node
from webdnn_build.numerics import batchnorm_affine

from .base import (ROW_HEADER, Dispatch, Emitter, KernelBuilder, KernelContext, activation_expr, broadcast_strides,
                   collapse, f32lit, float32_static, linear_kernel, reduce_fn, row_workgroups,
                   supported_activation, u, with_helpers)


class BatchNormEmitter(Emitter):
    """y = x · s[c] + t[c] with s, t computed at build time from the constant statistics."""

    ops = ("BatchNormalization",)

    def supports(self, node: Node, graph: Graph) -> bool:
        # training_mode: opset 14+
        if len([o for o in node.outputs if o]) != 1 or not node.outputs[0] or node.attrs.get("training_mode"):
            return False
        if len(node.inputs) < 5 or not all(graph.values[n].is_const for n in node.inputs[1:5]):
            return False
        return float32_static(graph, node.inputs[:1] + node.outputs[:1]) and supported_activation(node.attrs) \
            and len(graph.values[node.inputs[0]].shape) >= 2

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        s, t = batchnorm_affine(*(ctx.const(n) for n in node.inputs[1:5]), node.attrs["epsilon"])
        s_name = ctx.add_const(s, "bn_scale")
        t_name = ctx.add_const(t, "bn_shift")
        x = ctx.shape(node.inputs[0])
        c, inner = x[1], math.prod(x[2:])
        kb = KernelBuilder(ctx)
        lx, ls, lt, st = kb.load("x", node.inputs[0]), kb.load("s", s_name), kb.load("t", t_name), kb.store("y", node.outputs[0])
        e = activation_expr(node.attrs, f"({lx}(i) * {ls}(c) + {lt}(c))")
        with_helpers(kb, e)
        return [linear_kernel(kb, math.prod(x), f"let c = (i / {u(inner)}) % {u(c)};\n{st}(i, {e});")]


def _normalize_rows(ctx: KernelContext, x: str, y: str, rows: int, cols: int, eps: float,
                    scale_expr: str, bias_expr: str, kb: KernelBuilder, lx: str, st: str, stats: str = "") -> Dispatch:
    """A workgroup per row: mean, variance (two passes), then the affine normalized values; ``stats`` (WGSL
    statements using ``mean`` and ``rstd``) run once per row (LayerNormalization's Mean / InvStdDev)."""
    kb.override("WG_X", 64)
    kb.decls.append("var<workgroup> red: array<f32, WG_X>;")
    kb.decls.append(reduce_fn("wg_sum", "{a} + {b}"))
    body = ROW_HEADER + f"""
  if (row >= {u(rows)}) {{ return; }}
  let base = row * {u(cols)};
  var acc = 0.0f;
  for (var j = li; j < {u(cols)}; j = j + WG_X) {{ acc = acc + {lx}(base + j); }}
  let mean = wg_sum(li, acc) / {f32lit(cols)};
  var acc2 = 0.0f;
  for (var j = li; j < {u(cols)}; j = j + WG_X) {{ let d = {lx}(base + j) - mean; acc2 = acc2 + d * d; }}
  let rstd = inverseSqrt(wg_sum(li, acc2) / {f32lit(cols)} + {f32lit(eps)});
  if (li == 0u) {{ {stats} }}
  for (var j = li; j < {u(cols)}; j = j + WG_X) {{
    let v = ({lx}(base + j) - mean) * rstd;
    {st}(base + j, v * {scale_expr} + {bias_expr});
  }}
}}
"""
    return kb.dispatch(body, workgroups=row_workgroups(rows))


class LayerNormEmitter(Emitter):
    ops = ("LayerNormalization",)
    symbolic = True  # the row count (and length) may be known at run time only

    def supports(self, node: Node, graph: Graph) -> bool:
        """Y, and the optional Mean / InvStdDev (float32 with stash_type 1), over any axis."""
        if node.attrs["stash_type"] != 1 or len(node.outputs) > 3 or not node.inputs or not node.outputs[0]:
            return False
        shape = graph.values[node.inputs[0]].shape if node.inputs[0] in graph.values else None
        axis = int(node.attrs["axis"])
        if not shape or not -len(shape) <= axis < len(shape):
            return False
        return float32_static(graph, node.inputs + node.outputs)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        shape = ctx.shape(node.inputs[0])
        axis = node.attrs["axis"]
        axis = axis + len(shape) if axis < 0 else axis
        rows, cols = math.prod(shape[:axis]), math.prod(shape[axis:])
        norm_shape = tuple(shape[axis:])
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])

        def param(var: str, name: str, default: str) -> str:
            if not name:
                return default
            ld = kb.load(var, name)
            dims, (sp,) = collapse(norm_shape, [broadcast_strides(ctx.shape(name), norm_shape)])
            if not dims:
                return f"{ld}(0u)"
            if sp == [math.prod(dims[i + 1:]) for i in range(len(dims))]:
                return f"{ld}(j)"
            terms, inner = [], 1
            for d in range(len(dims) - 1, -1, -1):
                t = "j" if inner == 1 else f"(j / {u(inner)})"
                terms.append(f"({t} % {u(dims[d])}) * {u(sp[d])}")
                inner *= dims[d]
            return f"{ld}({' + '.join(terms)})"

        scale = param("scale", node.inputs[1], "1.0f")
        bias = param("bias", node.inputs[2] if len(node.inputs) > 2 else "", "0.0f")
        stats = []  # Mean and InvStdDev: [..., 1, ...] shapes, one element per row
        if len(node.outputs) > 1 and node.outputs[1]:
            stats.append(f"{kb.store('mean', node.outputs[1])}(row, mean);")
        if len(node.outputs) > 2 and node.outputs[2]:
            stats.append(f"{kb.store('rstd', node.outputs[2])}(row, rstd);")
        return [_normalize_rows(ctx, node.inputs[0], node.outputs[0], rows, cols, node.attrs["epsilon"],
                                scale, bias, kb, lx, st, " ".join(stats))]


class InstanceNormEmitter(Emitter):
    ops = ("InstanceNormalization",)

    def supports(self, node: Node, graph: Graph) -> bool:
        return float32_static(graph, node.inputs + node.outputs) and len(graph.values[node.inputs[0]].shape) >= 3

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        shape = ctx.shape(node.inputs[0])
        rows, cols = shape[0] * shape[1], math.prod(shape[2:])
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        ls, lb = kb.load("scale", node.inputs[1]), kb.load("bias", node.inputs[2])
        c = f"(row % {u(shape[1])})"
        return [_normalize_rows(ctx, node.inputs[0], node.outputs[0], rows, cols, node.attrs["epsilon"],
                                f"{ls}{c}", f"{lb}{c}", kb, lx, st)]


class LRNEmitter(Emitter):
    ops = ("LRN",)

    def supports(self, node: Node, graph: Graph) -> bool:
        return float32_static(graph, node.inputs + node.outputs) and len(graph.values[node.inputs[0]].shape) >= 3

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x = ctx.shape(node.inputs[0])
        a = node.attrs
        size = int(a["size"])
        c, inner = x[1], math.prod(x[2:])
        lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        body = f"""
let ch = i32((i / {u(inner)}) % {u(c)});
let base = i - u32(ch) * {u(inner)};
var sq = 0.0f;
for (var k = max(ch - {lo}i, 0i); k <= min(ch + {hi}i, {c - 1}i); k = k + 1i) {{
  let v = {lx}(base + u32(k) * {u(inner)});
  sq = sq + v * v;
}}
let d = pow({f32lit(a['bias'])} + {f32lit(a['alpha'] / size)} * sq, {f32lit(a['beta'])});
{st}(i, {lx}(i) / d);
"""
        return [linear_kernel(kb, math.prod(x), body)]


class LpNormEmitter(Emitter):
    """LpNormalization (p = 1 or 2) along any axis: a workgroup per lane sums |x| or x², then y = x / norm
    (0 where the norm is 0, like the js kernel)."""

    ops = ("LpNormalization",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.outputs) != 1 or not float32_static(graph, node.inputs[:1] + node.outputs):
            return False
        shape = graph.values[node.inputs[0]].shape
        axis = int(node.attrs["axis"])
        return int(node.attrs["p"]) in (1, 2) and len(shape) >= 1 and -len(shape) <= axis < len(shape) \
            and all(d > 0 for d in shape)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        shape = ctx.shape(node.inputs[0])
        axis = int(node.attrs["axis"]) % len(shape)
        n, inner = shape[axis], math.prod(shape[axis + 1:])
        rows = math.prod(shape) // n
        p = int(node.attrs["p"])
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        kb.override("WG_X", 64)
        kb.decls.append("var<workgroup> red: array<f32, WG_X>;")
        kb.decls.append(reduce_fn("wg_sum", "{a} + {b}"))
        term = "abs(v)" if p == 1 else "v * v"
        norm = "s" if p == 1 else "sqrt(s)"
        body = ROW_HEADER + f"""
  if (row >= {u(rows)}) {{ return; }}
  let base = (row / {u(inner)}) * {u(n * inner)} + row % {u(inner)};
  var acc = 0.0f;
  for (var j = li; j < {u(n)}; j = j + WG_X) {{ let v = {lx}(base + j * {u(inner)}); acc = acc + {term}; }}
  let s = wg_sum(li, acc);
  let norm = {norm};
  for (var j = li; j < {u(n)}; j = j + WG_X) {{
    let o = base + j * {u(inner)};
    {st}(o, select({lx}(o) / norm, 0.0f, norm == 0.0f));
  }}
}}
"""
        return [kb.dispatch(body, workgroups=row_workgroups(rows))]

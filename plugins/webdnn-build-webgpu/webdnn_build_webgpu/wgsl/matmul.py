"""MatMul and Gemm on a tiled GEMM template (workgroup memory), shared with Conv (implicit GEMM).

Each workgroup computes a ``TM × TN`` tile of C (``TM = 4·WG_Y``, ``TN = 4·WG_X``), each
invocation a 4 × 4 block of it (rows ``ty + r·WG_Y``, columns ``tx + c·WG_X``), stepping through
K in slices of ``TK`` that the workgroup stages in workgroup memory. The operands are read
through WGSL functions ``la(b, m, k)`` / ``lb(b, k, n)`` written by the caller (so Conv computes its
im2col addresses there), and results go through ``epi(b, m, n, v)`` (bias, residual,
activation, store). Workgroup arrays are sized by override expressions, so any WG_X/WG_Y works.
"""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from ..fuse_dequantize import DQ_SCALE, DQ_ZERO
from .base import (Dispatch, Emitter, KernelBuilder, KernelContext, SymbolicSizeError, activation_expr, at_most,
                   broadcast_strides, ceil_div, collapse, decompose, dot, f32lit, float32_static, indent,
                   supported_activation, u, with_helpers)

TK = 16
R = 4  # rows/columns of C per invocation


def gemm_dispatch(kb: KernelBuilder, m: int, n: int, k: int, batches: int, funcs: str,
                  a_k_fast: bool = True, b_n_fast: bool = True, elem: str = "f32") -> Dispatch:
    """Assemble the tiled GEMM. ``funcs`` defines ``la``, ``lb`` (bounds-checked by the template) and ``epi``.

    ``elem``: the type of the operands and the accumulation, ``f32`` or ``i32`` (MatMulInteger: exact
    integer sums, which f32 would round past 2^24).

    ``a_k_fast``: consecutive k are adjacent in memory for A (row-major A); ``b_n_fast``: consecutive n
    are adjacent for B. They pick the order in which a workgroup stages its tiles (coalescing only).
    """
    kb.override("WG_X", 16)
    kb.override("WG_Y", 16)
    kb.decls += [
        f"const TK: u32 = {u(TK)};",
        f"override TM: u32 = {R}u * WG_Y;",
        f"override TN: u32 = {R}u * WG_X;",
        "override AS_LEN: u32 = TM * TK;",
        "override BS_LEN: u32 = TK * TN;",
        f"var<workgroup> As: array<{elem}, AS_LEN>;",
        f"var<workgroup> Bs: array<{elem}, BS_LEN>;",
        funcs.strip(),
    ]
    a_idx = ("let kk = t % TK; let mm = t / TK;" if a_k_fast else "let mm = t % TM; let kk = t / TM;")
    b_idx = ("let nn = t % TN; let kk = t / TN;" if b_n_fast else "let kk = t % TK; let nn = t / TK;")
    inner = []
    for r in range(R):
        inner.append(f"let a{r} = As[kk * TM + ty + {u(r)} * WG_Y];")
    for c in range(R):
        inner.append(f"let b{c} = Bs[kk * TN + tx + {u(c)} * WG_X];")
    for r in range(R):
        for c in range(R):
            inner.append(f"acc{r}{c} = fma(a{r}, b{c}, acc{r}{c});" if elem == "f32" else
                         f"acc{r}{c} = acc{r}{c} + a{r} * b{c};")
    zero = "0.0f" if elem == "f32" else "0i"
    out = []
    for r in range(R):
        out.append(f"let om{r} = m0 + ty + {u(r)} * WG_Y;")
    for c in range(R):
        out.append(f"let on{c} = n0 + tx + {u(c)} * WG_X;")
    for r in range(R):
        for c in range(R):
            out.append(f"if (om{r} < {u(m)} && on{c} < {u(n)}) {{ epi(bt, om{r}, on{c}, acc{r}{c}); }}")
    body = f"""
@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {{
  let bt = wid.z;
  let m0 = wid.y * TM;
  let n0 = wid.x * TN;
  let tx = lid.x;
  let ty = lid.y;
  let nthreads = WG_X * WG_Y;
{indent(chr(10).join(f"var acc{r}{c} = {zero};" for r in range(R) for c in range(R)))}
  for (var k0 = 0u; k0 < {u(k)}; k0 = k0 + TK) {{
    for (var t = li; t < AS_LEN; t = t + nthreads) {{
      {a_idx}
      let gm = m0 + mm; let gk = k0 + kk;
      var v = {zero};
      if (gm < {u(m)} && gk < {u(k)}) {{ v = la(bt, gm, gk); }}
      As[kk * TM + mm] = v;
    }}
    for (var t = li; t < BS_LEN; t = t + nthreads) {{
      {b_idx}
      let gn = n0 + nn; let gk = k0 + kk;
      var v = {zero};
      if (gn < {u(n)} && gk < {u(k)}) {{ v = lb(bt, gk, gn); }}
      Bs[kk * TN + nn] = v;
    }}
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk = kk + 1u) {{
{indent(chr(10).join(inner), 6)}
    }}
    workgroupBarrier();
  }}
{indent(chr(10).join(out))}
}}
"""
    return kb.dispatch(body, invocations=[ceil_div(n, R), ceil_div(m, R), batches])


def batch_offsets(name: str, batch_dims: list[int], shape: tuple[int, ...], mat: int) -> tuple[list[int], list[int]]:
    """Element strides (per batch axis) of operand ``shape`` broadcast over ``batch_dims``."""
    bshape = tuple(shape[:-2])
    strides = broadcast_strides(bshape, tuple(batch_dims))
    return [s * mat for s in strides], list(batch_dims)


def _batch_dim(x, y):
    """One dim of two broadcast batch shapes (sizes known at run time must be 1 or equal)."""
    if x == 1:
        return y
    if y == 1 or x == y:
        return x
    if isinstance(x, int) and isinstance(y, int):
        return max(x, y)
    raise SymbolicSizeError(f"batch dims {x} and {y} broadcast only at run time")


class GemmEmitter(Emitter):
    ops = ("Gemm",)
    symbolic = True  # M may be a size known at run time

    def supports(self, node: Node, graph: Graph) -> bool:
        others = [n for i, n in enumerate(node.inputs) if not (i == 1 and DQ_SCALE in node.attrs)]
        if not float32_static(graph, others + node.outputs) or not supported_activation(node.attrs):
            return False
        if DQ_SCALE in node.attrs:  # B: a constant 8-bit weight dequantized on load (fuse_dequantize.py)
            w = graph.values.get(node.inputs[1])
            if w is None or w.const is None or w.dtype not in ("int8", "uint8"):
                return False
        return len(graph.values[node.inputs[0]].shape) == 2 and len(graph.values[node.inputs[1]].shape) == 2

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        ta, tb = int(node.attrs["transA"]), int(node.attrs["transB"])
        alpha, beta = float(node.attrs["alpha"]), float(node.attrs["beta"])
        a_shape, b_shape = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
        m, k = (a_shape[1], a_shape[0]) if ta else a_shape
        n = b_shape[0] if tb else b_shape[1]
        kb = KernelBuilder(ctx)
        la, lb = kb.load("a", node.inputs[0]), kb.load("b", node.inputs[1])
        a_idx = f"k * {u(m)} + m" if ta else f"m * {u(k)} + k"
        b_idx = f"n * {u(k)} + k" if tb else f"k * {u(n)} + n"
        v = "v" if alpha == 1.0 else f"{f32lit(alpha)} * v"
        if len(node.inputs) > 2 and node.inputs[2] and beta != 0.0:
            lc = kb.load("c", node.inputs[2])
            sm, sn = broadcast_strides(ctx.shape(node.inputs[2]), (m, n))
            c = f"{lc}({dot(['m', 'n'], [sm, sn])})"
            v = f"{v} + {c}" if beta == 1.0 else f"{v} + {f32lit(beta)} * {c}"
        b_load = f"{lb}({b_idx})"
        if DQ_SCALE in node.attrs:  # (f32(q) - zero point) * scale: DequantizeLinear's own expression
            b_load = f"(f32({b_load}) - {f32lit(node.attrs[DQ_ZERO])}) * {f32lit(node.attrs[DQ_SCALE])}"
        st = kb.store("y", node.outputs[0])
        e = activation_expr(node.attrs, f"({v})")  # a sum: parenthesized before an activation scales it
        with_helpers(kb, e)
        funcs = f"""
fn la(b: u32, m: u32, k: u32) -> f32 {{ return {la}({a_idx}); }}
fn lb(b: u32, k: u32, n: u32) -> f32 {{ return {b_load}; }}
fn epi(b: u32, m: u32, n: u32, v: f32) {{ {st}(m * {u(n)} + n, {e}); }}
"""
        return [gemm_dispatch(kb, m, n, k, 1, funcs, a_k_fast=not ta, b_n_fast=not tb)]


class MatMulEmitter(Emitter):
    ops = ("MatMul",)
    symbolic = True  # M, batch dims and K / N of a batched product may be sizes known at run time

    def supports(self, node: Node, graph: Graph) -> bool:
        if not float32_static(graph, node.inputs + node.outputs) or not supported_activation(node.attrs):
            return False
        a, b = graph.values[node.inputs[0]].shape, graph.values[node.inputs[1]].shape
        if len(a) < 1 or len(b) < 1:
            return False
        out = graph.values[node.outputs[0]].shape
        return at_most(graph, math.prod(out[:-2]), 65535) if len(out) > 2 else True

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        a_shape, b_shape = list(ctx.shape(node.inputs[0])), list(ctx.shape(node.inputs[1]))
        if len(a_shape) == 1:
            a_shape = [1] + a_shape
        b_vec = len(b_shape) == 1
        if b_vec:
            b_shape = b_shape + [1]
        k, n = b_shape[-2], b_shape[-1]
        kb = KernelBuilder(ctx)
        la, lb = kb.load("a", node.inputs[0]), kb.load("b", node.inputs[1])
        st = kb.store("y", node.outputs[0])
        e = activation_expr(node.attrs, "v")
        with_helpers(kb, e)
        if len(b_shape) == 2:  # fold A's batch dims into M
            m = math.prod(a_shape[:-1])
            funcs = f"""
fn la(b: u32, m: u32, k: u32) -> f32 {{ return {la}(m * {u(k)} + k); }}
fn lb(b: u32, k: u32, n: u32) -> f32 {{ return {lb}(k * {u(n)} + n); }}
fn epi(b: u32, m: u32, n: u32, v: f32) {{ {st}(m * {u(n)} + n, {e}); }}
"""
            return [gemm_dispatch(kb, m, n, k, 1, funcs)]
        m = a_shape[-2]
        batch = [_batch_dim(x, y) for x, y in zip([1] * (len(b_shape) - len(a_shape)) + a_shape[:-2],
                                           [1] * (len(a_shape) - len(b_shape)) + b_shape[:-2])]
        nb = math.prod(batch)
        sa = broadcast_strides(tuple(a_shape[:-2]), tuple(batch))
        sb = broadcast_strides(tuple(b_shape[:-2]), tuple(batch))
        dims, (sa, sb) = collapse(tuple(batch), [sa, sb])
        coords = [f"c{d}" for d in range(len(dims))]
        dec = "\n  ".join(decompose("b", dims))
        a_off = dot(coords, [s * m * k for s in sa]) if dims else "0u"
        b_off = dot(coords, [s * k * n for s in sb]) if dims else "0u"
        funcs = f"""
fn a_base(b: u32) -> u32 {{
  {dec}
  return {a_off};
}}
fn b_base(b: u32) -> u32 {{
  {dec}
  return {b_off};
}}
fn la(b: u32, m: u32, k: u32) -> f32 {{ return {la}(a_base(b) + m * {u(k)} + k); }}
fn lb(b: u32, k: u32, n: u32) -> f32 {{ return {lb}(b_base(b) + k * {u(n)} + n); }}
fn epi(b: u32, m: u32, n: u32, v: f32) {{ {st}((b * {u(m)} + m) * {u(n)} + n, {e}); }}
"""
        return [gemm_dispatch(kb, m, n, k, nb, funcs)]

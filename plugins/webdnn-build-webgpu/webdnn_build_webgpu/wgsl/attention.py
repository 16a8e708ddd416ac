"""webdnn.FusedAttention (made by ``webdnn_build.codegen.fuse_attention``): one kernel for
``y = softmax(scale · Q·Kt + bias) · V`` over 4-D heads, with the optional NaN → 0 guard.

One workgroup per (b, h, block of ``R`` query rows). The workgroup stages its ``R`` query rows and
their ``R × L`` scores in workgroup memory, so the ``[B, H, S, L]`` scores never reach global memory:

1. scores: each invocation takes columns ``j`` (strided by WG_X) and computes the ``R`` dot products
   with column ``j`` of Kt, each Kt element read once per block (coalesced along ``j``);
2. softmax per row: workgroup max reduction, exponentials and a workgroup sum reduction;
3. P·V: each invocation takes output columns ``c`` and accumulates the ``R`` rows, each V element read
   once per block (coalesced along ``c``).

Workgroup memory holds ``R·(L + D)`` floats plus the reduction array: nodes with ``L + D`` over
``MAX_SCORES`` are not fused (``supports`` is fuse_attention's ``can_run``), the unfused ops run instead.
A fully masked row (every score -inf) gives NaN like onnxruntime's Softmax, or 0 under ``nan_to_zero``.
"""

from __future__ import annotations

import math

from webdnn_build.codegen import FUSED_ATTENTION
from webdnn_build.ir import Graph, Node

from .base import (ROW_HEADER, Dispatch, Emitter, KernelBuilder, KernelContext, broadcast_strides, dot, f32lit,
                   float32_static, indent, reduce_fn, row_workgroups, u)

#: floats of scores + query rows per workgroup: 12 KiB, leaving 4 KiB of the 16 KiB default
#: maxComputeWorkgroupStorageSize for the reduction array (WG_X ≤ 1024)
MAX_SCORES = 3072
MAX_ROWS = 8


def rows_per_block(s: int, l: int, d: int) -> int:
    r = MAX_ROWS
    while r > 1 and (r * (l + d) > MAX_SCORES or r >= 2 * s):
        r //= 2
    return r


class AttentionEmitter(Emitter):
    ops = (FUSED_ATTENTION[1],)
    domain = FUSED_ATTENTION[0]

    def supports(self, node: Node, graph: Graph) -> bool:
        if node.domain != FUSED_ATTENTION[0] or len(node.inputs) != 4 or len(node.outputs) != 1:
            return False
        if not float32_static(graph, node.inputs + node.outputs):
            return False
        q, kt, v = (graph.values[n].shape for n in node.inputs[:3])
        if len(q) != 4 or len(kt) != 4 or len(v) != 4 or 0 in q or 0 in kt or 0 in v:
            return False
        return kt[3] + q[3] <= MAX_SCORES

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        q, kt, v, bias = node.inputs
        b, h, s, d = ctx.shape(q)
        l, dv = ctx.shape(kt)[3], ctx.shape(v)[3]
        r = rows_per_block(s, l, d)
        nb = -(-s // r)
        rows = b * h * nb
        scale = float(node.attrs["scale"])
        nan_to_zero = bool(node.attrs["nan_to_zero"])
        kb = KernelBuilder(ctx)
        lq, lk, lv = kb.load("q", q), kb.load("kt", kt), kb.load("v", v)
        if bias:
            lb = kb.load("bias", bias)
            sb = broadcast_strides(ctx.shape(bias), (b, h, s, l))
            bias_term = f" + {lb}({dot(['bb', 'hh', 'ii', 'j'], sb)})"
        else:
            bias_term = ""
        st = kb.store("y", node.outputs[0])
        kb.override("WG_X", 64)
        kb.decls += [
            f"const R: u32 = {u(r)};",
            f"var<workgroup> sc: array<f32, {u(r * l)}>;",
            f"var<workgroup> qs: array<f32, {u(r * d)}>;",
            "var<workgroup> red: array<f32, WG_X>;",
            reduce_fn("wg_max", "max({a}, {b})"),
            reduce_fn("wg_sum", "{a} + {b}"),
        ]
        scaled = "acc[r]" if scale == 1.0 else f"acc[r] * {f32lit(scale)}"
        masked_p = "0.0f" if nan_to_zero else "f32_bits(0x7fc00000u)"
        p_expr = "select(p, 0.0f, isnan_(p))" if nan_to_zero else "p"
        body = ROW_HEADER + f"""
  if (row >= {u(rows)}) {{ return; }}
  let bh = row / {u(nb)};
  let i0 = (row % {u(nb)}) * R;
  let bb = bh / {u(h)};
  let hh = bh % {u(h)};
  for (var t = li; t < {u(r * d)}; t = t + WG_X) {{
    let ri = i0 + t / {u(d)};
    qs[t] = select(0.0f, {lq}((bh * {u(s)} + min(ri, {u(s - 1)})) * {u(d)} + t % {u(d)}), ri < {u(s)});
  }}
  workgroupBarrier();
  // 1. scores of the R rows, column j
  for (var j = li; j < {u(l)}; j = j + WG_X) {{
    var acc: array<f32, {r}>;
    for (var r = 0u; r < R; r = r + 1u) {{ acc[r] = 0.0f; }}  // zeroed each iteration (naga hoists the var)
    for (var k = 0u; k < {u(d)}; k = k + 1u) {{
      let kv = {lk}((bh * {u(d)} + k) * {u(l)} + j);
      for (var r = 0u; r < R; r = r + 1u) {{ acc[r] = fma(qs[r * {u(d)} + k], kv, acc[r]); }}
    }}
    for (var r = 0u; r < R; r = r + 1u) {{
      let ii = min(i0 + r, {u(s - 1)});
      sc[r * {u(l)} + j] = {scaled}{bias_term};
    }}
  }}
  workgroupBarrier();
  // 2. softmax of each row (every invocation takes part in the reductions)
  for (var r = 0u; r < R; r = r + 1u) {{
    let base = r * {u(l)};
    var m = f32_bits(0xff800000u);
    for (var j = li; j < {u(l)}; j = j + WG_X) {{ m = max(m, sc[base + j]); }}
    let mx = wg_max(li, m);
    let masked = bitcast<u32>(mx) == 0xff800000u;
    var acc = 0.0f;
    for (var j = li; j < {u(l)}; j = j + WG_X) {{
      let x = sc[base + j];
      let e = select(exp(x - mx), 0.0f, masked || bitcast<u32>(x) == 0xff800000u);
      sc[base + j] = e;
      acc = acc + e;
    }}
    let inv = 1.0f / wg_sum(li, acc);
    for (var j = li; j < {u(l)}; j = j + WG_X) {{
      let p = select(sc[base + j] * inv, {masked_p}, masked);
      sc[base + j] = {p_expr};
    }}
  }}
  workgroupBarrier();
  // 3. y = P · V
  for (var c = li; c < {u(dv)}; c = c + WG_X) {{
    var acc: array<f32, {r}>;
    for (var r = 0u; r < R; r = r + 1u) {{ acc[r] = 0.0f; }}  // zeroed each iteration (naga hoists the var)
    for (var j = 0u; j < {u(l)}; j = j + 1u) {{
      let vv = {lv}((bh * {u(l)} + j) * {u(dv)} + c);
      for (var r = 0u; r < R; r = r + 1u) {{ acc[r] = fma(sc[r * {u(l)} + j], vv, acc[r]); }}
    }}
    for (var r = 0u; r < R; r = r + 1u) {{
      if (i0 + r < {u(s)}) {{ {st}((bh * {u(s)} + i0 + r) * {u(dv)} + c, acc[r]); }}
    }}
  }}
}}
"""
        return [kb.dispatch(body, workgroups=row_workgroups(rows))]

"""MaxPool / AveragePool (1-D, 2-D; one invocation per output) and the global pools (a workgroup per channel)."""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import (ROW_HEADER, Dispatch, Emitter, KernelBuilder, KernelContext, f32lit, float32_static, linear_kernel,
                   reduce_fn, row_workgroups, u)
from .conv import spatial_params


class PoolEmitter(Emitter):
    ops = ("MaxPool", "AveragePool")

    def supports(self, node: Node, graph: Graph) -> bool:
        if len([o for o in node.outputs if o]) != 1 or not node.outputs[0]:
            return False
        if not float32_static(graph, node.inputs[:1] + node.outputs[:1]) or node.attrs.get("storage_order", 0):
            return False
        return len(graph.values[node.inputs[0]].shape) in (3, 4)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x, y = ctx.shape(node.inputs[0]), ctx.shape(node.outputs[0])
        h, w, oh, ow, (kh, kw), (sh, sw), (dh, dw), (pt, pl, pb, pr) = spatial_params(node, x, tuple(node.attrs["kernel_shape"]), y)
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        is_max = node.op_type == "MaxPool"
        include_pad = bool(node.attrs.get("count_include_pad", 0))
        head = f"""
let ox = i % {u(ow)};
let oy = (i / {u(ow)}) % {u(oh)};
let base = (i / {u(oh * ow)}) * {u(h * w)};
let y0 = i32(oy * {u(sh)}) - {pt}i;
let x0 = i32(ox * {u(sw)}) - {pl}i;
var acc = {f32lit(-math.inf) if is_max else '0.0f'};
var cnt = 0u;
for (var ky = 0i; ky < {kh}i; ky = ky + 1i) {{
  let iy = y0 + ky * {dh}i;
  if (iy < 0i || iy >= {h}i) {{ continue; }}
  for (var kx = 0i; kx < {kw}i; kx = kx + 1i) {{
    let ix = x0 + kx * {dw}i;
    if (ix < 0i || ix >= {w}i) {{ continue; }}
    let v = {lx}(base + u32(iy * {w}i + ix));
    {'acc = max(acc, v);' if is_max else 'acc = acc + v;'}
    cnt = cnt + 1u;
  }}
}}
"""
        if is_max:
            tail = f"{st}(i, acc);"
        elif include_pad:
            # the window clipped to the padded input (ceil_mode's overhang does not count)
            tail = f"""
let ye = min(y0 + {(kh - 1) * dh + 1}i, {h + pb}i);
let xe = min(x0 + {(kw - 1) * dw + 1}i, {w + pr}i);
let ny = (ye - y0 + {dh - 1}i) / {dh}i;
let nx = (xe - x0 + {dw - 1}i) / {dw}i;
{st}(i, acc / f32(ny * nx));
"""
        else:
            tail = f"{st}(i, select(acc / f32(cnt), 0.0f, cnt == 0u));"
        return [linear_kernel(kb, math.prod(y), head + tail)]


class GlobalPoolEmitter(Emitter):
    ops = ("GlobalAveragePool", "GlobalMaxPool")

    def supports(self, node: Node, graph: Graph) -> bool:
        return float32_static(graph, node.inputs + node.outputs) and len(graph.values[node.inputs[0]].shape) >= 3

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x = ctx.shape(node.inputs[0])
        rows, cols = x[0] * x[1], math.prod(x[2:])
        is_max = node.op_type == "GlobalMaxPool"
        return [row_reduce(ctx, node.inputs[0], node.outputs[0], rows, cols, "max" if is_max else "mean")]


REDUCE_OPS = {
    # kind: (init, combine(a, b), map(v), final(acc, count))
    "sum": ("0.0f", "{a} + {b}", "{v}", "{acc}"),
    "mean": ("0.0f", "{a} + {b}", "{v}", "{acc} / {n}"),
    "max": ("f32_bits(0xff800000u)", "max({a}, {b})", "{v}", "{acc}"),
    "min": ("f32_bits(0x7f800000u)", "min({a}, {b})", "{v}", "{acc}"),
    "prod": ("1.0f", "{a} * {b}", "{v}", "{acc}"),
    "sumsquare": ("0.0f", "{a} + {b}", "{v} * {v}", "{acc}"),
    "l1": ("0.0f", "{a} + {b}", "abs({v})", "{acc}"),
    "l2": ("0.0f", "{a} + {b}", "{v} * {v}", "sqrt({acc})"),
    "logsum": ("0.0f", "{a} + {b}", "{v}", "log({acc})"),
}


def row_reduce(ctx: KernelContext, x: str, y: str, rows: int, cols: int, kind: str,
               offset_expr: str = "row * {cols} + j") -> Dispatch:
    """y[row] = reduce over j < cols of x[offset(row, j)]; one workgroup per row."""
    init, comb, mp, fin = REDUCE_OPS[kind]
    kb = KernelBuilder(ctx)
    lx, st = kb.load("x", x), kb.store("y", y)
    kb.override("WG_X", 64)
    kb.decls.append("var<workgroup> red: array<f32, WG_X>;")
    kb.decls.append(reduce_fn("wg_reduce", comb))
    off = offset_expr.format(cols=u(cols))
    body = ROW_HEADER + f"""
  if (row >= {u(rows)}) {{ return; }}
  var acc = {init};
  for (var j = li; j < {u(cols)}; j = j + WG_X) {{
    let v = {lx}({off});
    acc = {comb.format(a='acc', b=mp.format(v='v'))};
  }}
  let total = wg_reduce(li, acc);
  if (li == 0u) {{ {st}(row, {fin.format(acc='total', n=f32lit(cols))}); }}
}}
"""
    return kb.dispatch(body, workgroups=row_workgroups(rows))

"""Conv (1-D and 2-D, any group) as an implicit GEMM; depthwise-like convs as a direct kernel.

GEMM view per (batch image, group): ``M = Cout/G`` output channels, ``N = OH·OW`` output
pixels, ``K = Cin/G·KH·KW``; A is the weight (row-major ``[Cout, K]``), B the virtual im2col
matrix (addresses computed in ``lb``), and the epilogue adds the bias, the residual input (4th
input, from the backend's ``fuse_residual``: Conv + Add of a same-shape tensor) and the fused
activation. Convs with a small ``K`` (depthwise: ``Cin/G = 1``) use one invocation per output.
"""

from __future__ import annotations

import math

from webdnn_build.codegen import spatial_params
from webdnn_build.ir import Graph, Node

from .base import (Dispatch, Emitter, KernelBuilder, KernelContext, activation_expr, float32_static, i32_of,
                   linear_kernel, supported_activation, u, with_helpers)
from .matmul import gemm_dispatch

DIRECT_MAX_K = 32


class ConvEmitter(Emitter):
    ops = ("Conv",)
    symbolic = True  # the image size (and batch) may be known at run time only

    def supports(self, node: Node, graph: Graph) -> bool:
        if not float32_static(graph, node.inputs + node.outputs) or not supported_activation(node.attrs):
            return False
        x = graph.values[node.inputs[0]].shape
        return x is not None and len(x) in (3, 4)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x_shape, w_shape, y_shape = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1]), ctx.shape(node.outputs[0])
        h, w, oh, ow, (kh, kw), (sh, sw), (dh, dw), (pt, pl, _, _) = spatial_params(node, x_shape, w_shape[2:], y_shape)
        n, cin, cout = x_shape[0], x_shape[1], y_shape[1]
        group = int(node.attrs["group"])
        cin_g, cout_g = cin // group, cout // group
        kk = cin_g * kh * kw
        bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
        residual = node.inputs[3] if len(node.inputs) > 3 and node.inputs[3] else None
        kb = KernelBuilder(ctx)
        lx, lw = kb.load("x", node.inputs[0]), kb.load("w", node.inputs[1])
        lbias = kb.load("bias", bias) if bias else None
        lres = kb.load("res", residual) if residual else None
        st = kb.store("y", node.outputs[0])
        v = "v"
        if lbias:
            v = f"{v} + {lbias}(co)"
        if lres:
            v = f"{v} + {lres}(idx)"
        e = activation_expr(node.attrs, f"({v})")  # a sum: parenthesized before an activation scales it
        with_helpers(kb, e)
        ohw = oh * ow
        pointwise = kh == kw == 1 and sh == sw == 1 and pt == pl == 0 and oh == h and ow == w

        if kk <= DIRECT_MAX_K and group > 1:
            body = f"""
let ox = i % {u(ow)};
let oy = (i / {u(ow)}) % {u(oh)};
let co = (i / {u(ohw)}) % {u(cout)};
let ni = i / {u(cout * ohw)};
let g = co / {u(cout_g)};
var v = 0.0f;
for (var ci = 0u; ci < {u(cin_g)}; ci = ci + 1u) {{
  let xbase = (ni * {u(cin)} + g * {u(cin_g)} + ci) * {u(h * w)};
  let wbase = (co * {u(cin_g)} + ci) * {u(kh * kw)};
  for (var ky = 0u; ky < {u(kh)}; ky = ky + 1u) {{
    let iy = i32(oy * {u(sh)} + ky * {u(dh)}) - {pt}i;
    if (iy < 0i || iy >= {i32_of(h)}) {{ continue; }}
    for (var kx = 0u; kx < {u(kw)}; kx = kx + 1u) {{
      let ix = i32(ox * {u(sw)} + kx * {u(dw)}) - {pl}i;
      if (ix < 0i || ix >= {i32_of(w)}) {{ continue; }}
      v = fma({lx}(xbase + u32(iy) * {u(w)} + u32(ix)), {lw}(wbase + ky * {u(kw)} + kx), v);
    }}
  }}
}}
let idx = i;
{st}(i, {e});
"""
            return [linear_kernel(kb, math.prod(y_shape), body)]

        if pointwise:
            lb_body = f"return {lx}((ni * {u(cin)} + g * {u(cin_g)} + k) * {u(ohw)} + p);"
        else:
            lb_body = f"""
  let ci = k / {u(kh * kw)};
  let r = k % {u(kh * kw)};
  let ky = r / {u(kw)};
  let kx = r % {u(kw)};
  let oy = p / {u(ow)};
  let ox = p % {u(ow)};
  let iy = i32(oy * {u(sh)} + ky * {u(dh)}) - {pt}i;
  let ix = i32(ox * {u(sw)} + kx * {u(dw)}) - {pl}i;
  if (iy < 0i || iy >= {i32_of(h)} || ix < 0i || ix >= {i32_of(w)}) {{ return 0.0f; }}
  return {lx}(((ni * {u(cin)} + g * {u(cin_g)} + ci) * {u(h)} + u32(iy)) * {u(w)} + u32(ix));"""
        funcs = f"""
fn la(b: u32, m: u32, k: u32) -> f32 {{
  let co = (b % {u(group)}) * {u(cout_g)} + m;
  return {lw}(co * {u(kk)} + k);
}}
fn lb(b: u32, k: u32, p: u32) -> f32 {{
  let ni = b / {u(group)};
  let g = b % {u(group)};
  {lb_body.strip()}
}}
fn epi(b: u32, m: u32, p: u32, v: f32) {{
  let ni = b / {u(group)};
  let co = (b % {u(group)}) * {u(cout_g)} + m;
  let idx = (ni * {u(cout)} + co) * {u(ohw)} + p;
  {st}(idx, {e});
}}
"""
        return [gemm_dispatch(kb, cout_g, ohw, kk, n * group, funcs)]

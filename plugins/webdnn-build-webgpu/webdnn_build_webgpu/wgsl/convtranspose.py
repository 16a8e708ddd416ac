"""ConvTranspose (1-D and 2-D, strides, dilations, pads, output_padding, group, bias, fused activation).

One invocation per output gathers its contributions: input pixel ``iy`` reaches output ``oy`` through tap
``ky`` when ``oy + pad_top - ky·dh = iy·sh``. Pads come from the ``pads`` attribute or, with ``auto_pad``
SAME_UPPER / SAME_LOWER or ``output_shape``, from the total padding the output shape implies when it is even (an odd total: CPU).
"""

from __future__ import annotations

import math
from typing import Optional

from webdnn_build.ir import Graph, Node

from .base import (Dispatch, Emitter, KernelBuilder, KernelContext, activation_expr, float32_static, linear_kernel,
                   supported_activation, u, with_helpers)


def _geometry(node: Node, graph: Graph) -> Optional[dict]:
    x, w, y = (graph.values[n].shape for n in (node.inputs[0], node.inputs[1], node.outputs[0]))
    nd = len(x) - 2
    if nd not in (1, 2) or len(w) != len(x) or len(y) != len(x):
        return None
    a = node.attrs
    k = list(a.get("kernel_shape", w[2:]))
    s = list(a.get("strides", [1] * nd))
    d = list(a.get("dilations", [1] * nd))
    op = list(a.get("output_padding", [0] * nd))
    auto = a["auto_pad"]
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if list(k) != list(w[2:]) or len(s) != nd or len(d) != nd or len(op) != nd:
        return None
    if auto in ("NOTSET", "VALID") and "output_shape" not in a:
        pads = list(a.get("pads", [0] * 2 * nd)) if auto == "NOTSET" else [0] * 2 * nd
    elif auto in ("NOTSET", "SAME_UPPER", "SAME_LOWER"):
        pads = [0] * 2 * nd
        for i in range(nd):
            total = s[i] * (x[2 + i] - 1) + op[i] + (k[i] - 1) * d[i] + 1 - y[2 + i]
            if total < 0 or total % 2:  # where the odd pixel goes differs between the spec and runtimes: CPU
                return None
            pads[i] = pads[i + nd] = total // 2
    else:
        return None
    for i in range(nd):  # the output shape the graph says must be the one these parameters give
        if s[i] * (x[2 + i] - 1) + op[i] + (k[i] - 1) * d[i] + 1 - pads[i] - pads[i + nd] != y[2 + i]:
            return None
    if nd == 1:
        k, s, d, pads = [1] + k, [1] + s, [1] + d, [0, pads[0], 0, pads[1]]
        x, y = tuple(x[:2]) + (1,) + tuple(x[2:]), tuple(y[:2]) + (1,) + tuple(y[2:])
    group = int(a["group"])
    if x[1] % group or w[0] != x[1] or y[1] != w[1] * group:
        return None
    return {"x": x, "y": y, "k": k, "s": s, "d": d, "pads": pads, "group": group}


class ConvTransposeEmitter(Emitter):
    ops = ("ConvTranspose",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) < 2 or len(node.outputs) != 1:
            return False
        if not float32_static(graph, node.inputs + node.outputs) or not supported_activation(node.attrs):
            return False
        return _geometry(node, graph) is not None

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        g = _geometry(node, ctx.graph)
        assert g is not None
        (n, cin, h, w), (_, cout, oh, ow) = g["x"], g["y"]
        (kh, kw), (sh, sw), (dh, dw), pads = g["k"], g["s"], g["d"], g["pads"]
        group = g["group"]
        cin_g, cout_g = cin // group, cout // group
        kb = KernelBuilder(ctx)
        lx, lw = kb.load("x", node.inputs[0]), kb.load("w", node.inputs[1])
        bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else ""
        v = f"v + {kb.load('bias', bias)}(co)" if bias else "v"
        e = activation_expr(node.attrs, f"({v})")
        with_helpers(kb, e)
        st = kb.store("y", node.outputs[0])
        body = f"""
let ox = i32(i % {u(ow)});
let oy = i32((i / {u(ow)}) % {u(oh)});
let co = (i / {u(oh * ow)}) % {u(cout)};
let ni = i / {u(cout * oh * ow)};
let gi = co / {u(cout_g)};
let cw = co % {u(cout_g)};
var v = 0.0f;
for (var ky = 0i; ky < {kh}i; ky = ky + 1i) {{
  let ty = oy + {pads[0]}i - ky * {dh}i;
  if (ty < 0i || ty % {sh}i != 0i || ty / {sh}i >= {h}i) {{ continue; }}
  let iy = u32(ty / {sh}i);
  for (var kx = 0i; kx < {kw}i; kx = kx + 1i) {{
    let tx = ox + {pads[1]}i - kx * {dw}i;
    if (tx < 0i || tx % {sw}i != 0i || tx / {sw}i >= {w}i) {{ continue; }}
    let ix = u32(tx / {sw}i);
    for (var c = 0u; c < {u(cin_g)}; c = c + 1u) {{
      let ci = gi * {u(cin_g)} + c;
      v = fma({lx}(((ni * {u(cin)} + ci) * {u(h)} + iy) * {u(w)} + ix),
              {lw}(((ci * {u(cout_g)} + cw) * {u(kh)} + u32(ky)) * {u(kw)} + u32(kx)), v);
    }}
  }}
}}
{st}(i, {e});
"""
        return [linear_kernel(kb, n * cout * oh * ow, body)]

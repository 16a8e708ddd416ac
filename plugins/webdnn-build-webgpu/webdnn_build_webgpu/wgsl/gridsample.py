"""GridSample (opset 16+, N-D from 20; 1 to 3 spatial dims): one invocation per output element computes the
source coordinate of each dim from the grid (float32, like the reference and the js kernel), its taps under
the interpolation mode (nearest: 1, linear: 2, cubic: 4 with Keys' a = -0.75) and the padding mode (zeros,
border, reflection), then sums the taps^r corners."""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import Dispatch, Emitter, KernelBuilder, KernelContext, decompose, float32_static, linear_kernel, u

MODES = {"bilinear": "linear", "linear": "linear", "nearest": "nearest", "bicubic": "cubic", "cubic": "cubic"}
PADDINGS = ("zeros", "border", "reflection")

REFLECT = """fn reflect_(x: f32, lo: f32, hi: f32) -> f32 {
  let range = hi - lo;
  if (x < lo) {
    let dx = lo - x;
    let n = trunc(dx / range);
    let r = dx - n * range;
    return select(hi - r, lo + r, fract(n * 0.5f) == 0.0f);
  }
  if (x > hi) {
    let dx = x - hi;
    let n = trunc(dx / range);
    let r = dx - n * range;
    return select(lo + r, hi - r, fract(n * 0.5f) == 0.0f);
  }
  return x;
}"""


def _attr(node: Node, key: str) -> str:
    v = node.attrs[key]  # declared defaults are filled in (webdnn_build.opdecl)
    return v.decode() if isinstance(v, bytes) else str(v)


def _mode(node: Node, graph: Graph) -> str:
    return _attr(node, "mode")


class GridSampleEmitter(Emitter):
    ops = ("GridSample",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) < 2 or not all(node.inputs[:2]) or len(node.outputs) != 1:
            return False
        if not float32_static(graph, node.inputs[:2] + node.outputs):
            return False
        if _mode(node, graph) not in MODES or _attr(node, "padding_mode") not in PADDINGS:
            return False
        x, g, y = (tuple(graph.values[n].shape) for n in (node.inputs[0], node.inputs[1], node.outputs[0]))
        r = len(x) - 2
        if not 1 <= r <= 3 or len(g) != r + 2 or g[-1] != r or g[0] != x[0] or y != (x[0], x[1], *g[1:-1]):
            return False
        if any(d == 0 for d in x):
            return False
        # reflection over a one-sample dim with align_corners has an empty range (division by zero)
        return not (_attr(node, "padding_mode") == "reflection" and node.attrs["align_corners"]
                    and any(d == 1 for d in x[2:]))

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x, y = ctx.shape(node.inputs[0]), ctx.shape(node.outputs[0])
        N, C, dims = x[0], x[1], list(x[2:])
        r = len(dims)
        out_sp = list(y[2:])
        points, plane = math.prod(out_sp), math.prod(dims)
        strides = [math.prod(dims[d + 1:]) for d in range(r)]
        mode = MODES[_mode(node, ctx.graph)]
        padding = _attr(node, "padding_mode")
        align = bool(node.attrs["align_corners"])
        taps = {"nearest": 1, "linear": 2, "cubic": 4}[mode]
        kb = KernelBuilder(ctx)
        lx, lg, st = kb.load("x", node.inputs[0]), kb.load("g", node.inputs[1]), kb.store("y", node.outputs[0])
        if padding == "reflection":
            kb.decls.append(REFLECT)
        lines = decompose("i", [N, C, points])
        lines += [f"var ti: array<i32, {r * taps}>;", f"var tw: array<f32, {r * taps}>;",
                  f"let gb = (c0 * {u(points)} + c2) * {u(r)};"]
        for d in range(r):
            D = dims[d]
            lo, hi = (0.0, D - 1.0) if align else (-0.5, D - 0.5)
            lof, hif = f"{lo!r}f", f"{hi!r}f"

            def pix(e: str) -> list[str]:
                """statements setting `p` (i32) to the source index of integer position e (-1: zero)."""
                if padding == "zeros":
                    return [f"var p = {e};", f"if (p < 0i || p >= {D}i) {{ p = -1i; }}"]
                if padding == "border":
                    return [f"let p = clamp({e}, 0i, {D - 1}i);"]
                return [f"var p = {e};", f"if (p < 0i || p >= {D}i) {{ p = i32(trunc(reflect_(f32(p), {lof}, {hif}))); }}"]

            v = f"{lg}(gb + {u(r - 1 - d)})"
            coord = f"((({v} + 1.0f) * 0.5f) * {float(D - 1)!r}f)" if align else f"((({v} + 1.0f) * {float(D)!r}f - 1.0f) * 0.5f)"
            lines.append(f"var x{d} = {coord};")
            if mode == "nearest":
                lines.append(f"x{d} = round(x{d});")
            if padding == "border":
                lines.append(f"if (x{d} < {lof} || x{d} > {hif}) {{ x{d} = clamp(x{d}, 0.0f, {float(D - 1)!r}f); }}")
            elif padding == "reflection":
                lines.append(f"if (x{d} < {lof} || x{d} > {hif}) {{ x{d} = reflect_(x{d}, {lof}, {hif}); }}")
            k = d * taps
            if mode == "nearest":
                lines += ["{", *["  " + s for s in pix(f"i32(trunc(x{d}))")], f"  ti[{k}] = p; tw[{k}] = 1.0f;", "}"]
                continue
            lines += [f"let f{d} = floor(x{d});", f"let t{d} = x{d} - f{d};"]
            if mode == "linear":
                wts = [f"1.0f - t{d}", f"t{d}"]
                first = 0
            else:
                # Keys cubic (a = -0.75): k2 for 1 < |s| < 2, k1 for |s| <= 1
                def k1(s: str) -> str:
                    return f"((1.25f * ({s}) - 2.25f) * ({s}) * ({s}) + 1.0f)"

                def k2(s: str) -> str:
                    return f"(((-0.75f * ({s}) + 3.75f) * ({s}) - 6.0f) * ({s}) + 3.0f)"
                wts = [k2(f"t{d} + 1.0f"), k1(f"t{d}"), k1(f"1.0f - t{d}"), k2(f"2.0f - t{d}")]
                first = -1
            for j in range(taps):
                lines += ["{", *["  " + s for s in pix(f"i32(f{d}) + {first + j}i")],
                          f"  ti[{k + j}] = p; tw[{k + j}] = {wts[j]};", "}"]
        lines += [f"let src = (c0 * {u(C)} + c1) * {u(plane)};", "var acc = 0.0f;",
                  f"for (var m = 0u; m < {u(taps ** r)}; m = m + 1u) {{",
                  "  var w = 1.0f;", "  var off = 0u;", "  var rest = m;", "  var inside = true;"]
        for d in range(r - 1, -1, -1):
            lines += [f"  {{ let k = {d * taps}u + rest % {u(taps)}; rest = rest / {u(taps)};",
                      "    if (ti[k] < 0i) { inside = false; } else { w = w * tw[k];"
                      f" off = off + u32(ti[k]) * {u(strides[d])}; }} }}"]
        lines += [f"  if (inside && w != 0.0f) {{ acc = acc + w * {lx}(src + off); }}", "}", f"{st}(i, acc);"]
        return [linear_kernel(kb, math.prod(y), "\n".join(lines))]

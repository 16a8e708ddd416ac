"""Resize (opset 10+) and Upsample: nearest (every nearest_mode), linear and cubic (cubic_coeff_a,
exclude_outside, antialias for linear/cubic), any rank, with the coordinate transformations half_pixel,
pytorch_half_pixel, asymmetric, align_corners, half_pixel_symmetric and tf_half_pixel_for_nearest.

The taps of each resized axis (source indices and weights) are computed at build time exactly as the js
kernel does (resize.js ``axisTaps``: source coordinate, ratio, coefficients, edge clamping) and bound as
small constant tables, so the kernel only gathers: nearest reads one element, linear/cubic sum the product
of the taps of the k interpolated axes. Sizes may be given at run time: with keep_aspect_ratio_policy
"stretch" the output shape is the sizes, so the scales follow from the static output shape; with not_larger /
not_smaller the scale is the one the static output shape implies (``_aspect_scale``; ambiguous shapes stay on
the CPU). Scales given at run time go to ``ResizeRuntimeScalesEmitter``. tf_crop_and_resize runs on the CPU.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from webdnn_build.ir import Graph, Node

from .base import (Dispatch, Emitter, KernelBuilder, KernelContext, contiguous_strides, decompose, f32lit,
                   float32_static, gpu_static, linear_kernel, u)

MODES = ("half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners", "half_pixel_symmetric",
         "tf_half_pixel_for_nearest")
NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
MAX_LINEAR_AXES = 3
#: coordinate modes where nearest with run-time scales picks its taps exactly: 2·x = U / scale + V, U and V integers
NEAREST_EXACT = ("half_pixel", "pytorch_half_pixel", "asymmetric", "tf_half_pixel_for_nearest")

#: exact comparison of q·s with an integer u for a float32 scale s = m·2^e (64-bit products in u32 pairs)
EXACT_CMP = """fn mul64_(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  let lo = (p00 & 0xffffu) | (mid << 16u);
  let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, lo);
}
// v·2^k, or (0xffffffff, 0xffffffff) when it does not fit 64 bits (k < 64)
fn shl64_(v: vec2<u32>, k: u32) -> vec2<u32> {
  if (k == 0u) { return v; }
  let sat = vec2<u32>(0xffffffffu, 0xffffffffu);
  if (k >= 32u) {
    if (v.x != 0u || (k > 32u && (v.y >> (64u - k)) != 0u)) { return sat; }
    return vec2<u32>(v.y << (k - 32u), 0u);
  }
  if ((v.x >> (32u - k)) != 0u) { return sat; }
  return vec2<u32>((v.x << k) | (v.y >> (32u - k)), v.y << k);
}
fn cmp64_(a: vec2<u32>, b: vec2<u32>) -> i32 {
  if (a.x != b.x) { return select(-1i, 1i, a.x > b.x); }
  if (a.y != b.y) { return select(-1i, 1i, a.y > b.y); }
  return 0i;
}
// sign(q·s - u) for q, u >= 0 and a finite positive f32 s
fn cmp_qs_(q: u32, s: f32, u: u32) -> i32 {
  let bits = bitcast<u32>(s);
  let ex = i32((bits >> 23u) & 0xffu);
  var m = bits & 0x7fffffu;
  var e = -149i;
  if (ex != 0i) { m = m | 0x800000u; e = ex - 150i; }
  let p = mul64_(q, m);
  if (e >= 0i) {
    if (e >= 64i) { return select(1i, cmp64_(p, vec2<u32>(0u, u)), q == 0u); }
    return cmp64_(shl64_(p, u32(e)), vec2<u32>(0u, u));
  }
  if (-e >= 64i) { return select(-1i, cmp64_(p, vec2<u32>(0u, 0u)), u == 0u); }
  return cmp64_(p, shl64_(vec2<u32>(0u, u), u32(-e)));
}
// (floor(u / s), u / s is an integer) exactly, for u < 2^31 and a finite positive f32 s
fn div_floor_(u: u32, s: f32) -> vec2<u32> {
  var q = u32(clamp(floor(f32(u) / s), 0.0f, 2147483647.0f));
  for (var k = 0; k < 4; k = k + 1) { if (q > 0u && cmp_qs_(q, s, u) > 0) { q = q - 1u; } }
  for (var k = 0; k < 4; k = k + 1) { if (q < 2147483647u && cmp_qs_(q + 1u, s, u) <= 0) { q = q + 1u; } }
  return vec2<u32>(q, select(0u, 1u, cmp_qs_(q, s, u) == 0));
}"""


def _attr(node: Node, key: str, before: Any = None):
    """An attribute; its declared default is filled in (webdnn_build.opdecl). ``before``: what it means at
    the opsets that predate it."""
    v = node.attrs[key] if before is None else node.attrs.get(key, before)
    return v.decode() if isinstance(v, bytes) else v


def _const_floats(graph: Graph, name: str) -> Optional[list[float]]:
    v = graph.values.get(name) if name else None
    if v is None or v.const is None:
        return None
    return [float(x) for x in np.asarray(v.const).ravel()]


def _static_numel(graph: Graph, name: str) -> Optional[int]:
    v = graph.values.get(name) if name else None
    return v.numel() if v is not None and v.is_static else None


def _aspect_scale(policy: str, x: tuple[int, ...], y: tuple[int, ...], axes: list[int]) -> Optional[float]:
    """The scale of keep_aspect_ratio_policy not_larger / not_smaller with sizes known at run time only.

    The js kernel's scale is sizes[k] / x[k] (float64) for the axis k that attains the min (max), and that axis
    keeps its size: y[k] = floor(scale·x[k] + 0.5) = sizes[k]. So the scale is one of y[j] / x[j]; a candidate
    is consistent when it reproduces every output length. One consistent value is the scale; several distinct
    ones (or none) leave the node on the CPU."""
    if policy not in ("not_larger", "not_smaller") or any(x[a] == 0 for a in axes):
        return None
    found = set()
    for j in axes:
        c = y[j] / x[j]
        if all(math.floor(c * x[a] + 0.5) == y[a] for a in axes):
            found.add(c)
    return found.pop() if len(found) == 1 else None


def _plan(node: Node, graph: Graph) -> Optional[tuple[list[float], str, str, str]]:
    """(scales per axis, mode, coordinate mode, nearest mode), or None when the GPU kernel does not apply."""
    x = tuple(graph.values[node.inputs[0]].shape)
    y = tuple(graph.values[node.outputs[0]].shape)
    rank = len(x)
    opset = graph.opset_for(node.domain)
    legacy = node.op_type == "Upsample" or opset < 11
    mode = _attr(node, "mode")
    policy = _attr(node, "keep_aspect_ratio_policy", before="stretch")  # opset 18+
    aspect: Optional[float] = None
    if legacy:
        scales = node.attrs.get("scales") if len(node.inputs) < 2 else _const_floats(graph, node.inputs[1])
        scales = [float(np.float32(s)) for s in scales] if scales is not None else None
        sizes = None
        ctm, nm = "asymmetric", "legacy"
    else:
        s_name = node.inputs[2] if len(node.inputs) > 2 else ""
        z_name = node.inputs[3] if len(node.inputs) > 3 else ""
        if s_name and _static_numel(graph, s_name) == 0:
            s_name = ""  # an empty tensor is a placeholder (opsets 11-12)
        if z_name and _static_numel(graph, z_name) == 0:
            z_name = ""
        scales = _const_floats(graph, s_name) if s_name else None
        sizes = _const_floats(graph, z_name) if z_name else None
        if s_name and scales is None:
            return None  # scales known at run time only: the coordinates depend on their values
        ctm, nm = _attr(node, "coordinate_transformation_mode"), _attr(node, "nearest_mode")
        axes = node.attrs.get("axes")
        axes = [a % rank for a in axes] if axes is not None else list(range(rank))
        if z_name and sizes is None:
            # sizes given at run time: with "stretch" the output shape is the sizes (the declared static shape)
            if s_name or _static_numel(graph, z_name) != len(axes):
                return None
            if policy != "stretch":
                aspect = _aspect_scale(policy, x, y, axes)
                if aspect is None:
                    return None
            sizes = [float(y[a]) for a in axes]
        if scales is not None:
            if len(scales) != len(axes):
                return None
            full = [1.0] * rank
            for a, sc in zip(axes, scales):
                full[a] = sc
            scales = full
        if sizes is not None:
            if len(sizes) != len(axes):
                return None
            full = [float(d) for d in x]
            for a, sz in zip(axes, sizes):
                full[a] = sz
            sizes = full
            scales = [sz / d for sz, d in zip(sizes, x)]
            if policy != "stretch":
                vals = [scales[a] for a in axes]
                if aspect is not None:  # run-time sizes: the scale the static output shape implies
                    sc = aspect
                elif policy == "not_larger":
                    sc = min(vals)
                elif policy == "not_smaller":
                    sc = max(vals)
                else:
                    return None
                scales = [sc if a in axes else 1.0 for a in range(rank)]
                sizes = [float(math.floor(sc * d + 0.5)) if a in axes else float(d) for a, d in enumerate(x)]
            if tuple(int(sz) for sz in sizes) != y:
                return None
    if sizes is None and not legacy:
        if scales is None or tuple(math.floor(d * sc) for d, sc in zip(x, scales)) != y:
            return None
    elif legacy and (scales is None or len(scales) != rank or tuple(math.floor(d * sc) for d, sc in zip(x, scales)) != y):
        return None
    if mode in ("linear", "bilinear", "trilinear"):
        mode = "linear"
    elif mode in ("cubic", "bicubic"):
        mode = "cubic"
    elif mode != "nearest":
        return None
    if ctm not in MODES or (nm not in NEAREST and nm != "legacy"):
        return None
    if node.attrs.get("antialias") and mode == "nearest":  # opset 18+
        return None
    return scales, mode, ctm, nm


def _resized(x: tuple[int, ...], y: tuple[int, ...], scales: list[float]) -> list[int]:
    return [a for a in range(len(x)) if not (abs(scales[a] - 1) < 1e-9 and x[a] == y[a])]


def _source(ctm: str, yv: int, scale: float, n_in: int, n_out: int) -> float:
    out_f = scale * n_in
    if ctm == "half_pixel":
        return (yv + 0.5) / scale - 0.5
    if ctm == "pytorch_half_pixel":
        return (yv + 0.5) / scale - 0.5 if n_out > 1 else -0.5
    if ctm == "align_corners":
        return 0.0 if out_f == 1 else (yv * (n_in - 1)) / (out_f - 1)
    if ctm == "asymmetric":
        return yv / scale
    if ctm == "tf_half_pixel_for_nearest":
        return (yv + 0.5) / scale
    offset = (n_in / 2) * (1 - n_out / out_f)  # half_pixel_symmetric
    return offset + (yv + 0.5) / scale - 0.5


def _coeffs(mode: str, nm: str, r: float, scale: float, a: float = -0.75, antialias: bool = False) -> list[float]:
    """Weights of the consecutive taps around the source coordinate (resize.js nearest/linear/cubicCoeffs)."""
    if mode == "linear":
        if not antialias or scale >= 1:
            return [1 - r, r]
        start = math.floor(-1 / scale) + 1
        c = [min(1.0, max(0.0, 1 - abs((start + i - r) * scale))) for i in range(2 - 2 * start)]
        total = sum(c)
        return [v / total for v in c]
    if mode == "cubic":
        def kernel(t: float) -> float:
            t = abs(t)
            if t <= 1:
                return ((a + 2) * t - (a + 3)) * t * t + 1
            if t < 2:
                return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
            return 0.0
        if not antialias or scale >= 1:
            return [kernel(r + 1), kernel(r), kernel(1 - r), kernel(2 - r)]
        start = math.floor(-2 / scale) + 1
        c = [kernel(scale * (start + i - r)) for i in range(2 - 2 * start)]
        total = sum(c)
        return [v / total for v in c]
    if nm == "legacy":
        nm = "ceil" if scale < 1 else "floor"
    if float(r).is_integer():
        return [0.0, 1.0]
    return {"round_prefer_floor": [1.0 if r <= 0.5 else 0.0, 1.0 if r > 0.5 else 0.0],
            "round_prefer_ceil": [1.0 if r < 0.5 else 0.0, 1.0 if r >= 0.5 else 0.0],
            "floor": [1.0, 0.0], "ceil": [0.0, 1.0]}[nm]


def axis_taps(n_in: int, n_out: int, scale: float, mode: str, ctm: str, nm: str, a: float = -0.75,
              antialias: bool = False, exclude_outside: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(indices [n_out, n], weights [n_out, n]) of one axis, as resize.js ``axisTaps`` (edge-clamped taps)."""
    idx = w = None
    for yv in range(n_out):
        xv = _source(ctm, yv, scale, n_in, n_out)
        fl = math.floor(xv)
        integral = xv == fl
        c = _coeffs(mode, nm, 1.0 if integral else xv - fl, scale, a, antialias)
        n = len(c)
        if idx is None:
            idx = np.zeros((n_out, n), np.int64)
            w = np.zeros((n_out, n), np.float64)
        if n % 2 == 0:
            first = -(n // 2) if integral else 1 - n // 2
        else:
            first = -((n - 1) // 2) + (0 if xv - fl <= 0.5 else 1)
        total = 0.0
        for t in range(n):
            j = fl + first + t
            ct = c[t]
            if exclude_outside and (j < 0 or j >= n_in):
                ct = 0.0
            idx[yv, t] = min(n_in - 1, max(0, j))
            w[yv, t] = ct
            total += ct
        if exclude_outside and total != 0:
            w[yv] /= total
    assert idx is not None and w is not None
    return idx, w


class ResizeEmitter(Emitter):
    ops = ("Resize", "Upsample")

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.outputs) != 1 or not node.inputs or not gpu_static(graph, node.inputs[:1] + node.outputs):
            return False
        if graph.values[node.inputs[0]].dtype != graph.values[node.outputs[0]].dtype:
            return False
        plan = _plan(node, graph)
        if plan is None:
            return False
        scales, mode, _, _ = plan
        x, y = tuple(graph.values[node.inputs[0]].shape), tuple(graph.values[node.outputs[0]].shape)
        axes = _resized(x, y, scales)
        if mode != "nearest" and (not float32_static(graph, node.inputs[:1]) or len(axes) > MAX_LINEAR_AXES):
            return False
        return len(axes) <= 6 and all(d > 0 for d in x) and all(d > 0 for d in y)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        scales, mode, ctm, nm = _plan(node, ctx.graph)  # type: ignore[misc]
        x, y = ctx.shape(node.inputs[0]), ctx.shape(node.outputs[0])
        axes = _resized(x, y, scales)
        strides = contiguous_strides(x)
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        lines = decompose("i", list(y))
        fixed = [f"c{d} * {u(strides[d])}" for d in range(len(x)) if d not in axes and x[d] > 1]
        lines.append(f"let base = {' + '.join(fixed) or '0u'};")
        cubic_a = float(node.attrs.get("cubic_coeff_a", -0.75))  # Resize 11+ (Upsample, Resize 10: no cubic)
        antialias = bool(node.attrs.get("antialias"))  # opset 18+
        exclude = bool(node.attrs.get("exclude_outside"))  # Resize 11+
        interp = []  # (axis, taps) of the interpolated axes
        for a in axes:
            idx, w = axis_taps(x[a], y[a], scales[a], mode, ctm, nm, cubic_a, antialias, exclude)
            if mode == "nearest":  # the tap of weight 1
                pick = np.where(w[:, 0] > 0, idx[:, 0], idx[:, 1]).astype(np.int32)
                lt = kb.load(f"t{a}", ctx.add_const(pick, "resize_taps"))
                lines.append(f"let o{a} = u32({lt}(c{a})) * {u(strides[a])};")
            else:  # [i_0 .. i_n-1, w_0 .. w_n-1] per output index, indices exact in f32
                n = idx.shape[1]
                table = np.concatenate([idx.astype(np.float64), w], axis=1).astype(np.float32)
                lt = kb.load(f"t{a}", ctx.add_const(table, "resize_taps"))
                lines.append(f"let r{a} = c{a} * {u(2 * n)};")
                interp.append((a, n, lt))
        near = " + ".join(f"o{a}" for a in axes if all(a != b for b, _, _ in interp))
        off = f"base + {near}" if near else "base"
        if not interp:
            lines.append(f"{st}(i, {lx}({off}));")
        else:
            combos = math.prod(n for _, n, _ in interp)
            lines += ["var v = 0.0f;", f"for (var m = 0u; m < {u(combos)}; m = m + 1u) {{",
                      "  var rest = m;", "  var wt = 1.0f;", f"  var o = {off};"]
            for a, n, lt in reversed(interp):
                lines += [f"  {{ let t = rest % {u(n)}; rest = rest / {u(n)};",
                          f"    wt = wt * {lt}(r{a} + {u(n)} + t); o = o + u32({lt}(r{a} + t)) * {u(strides[a])}; }}"]
            lines += [f"  if (wt != 0.0f) {{ v = v + wt * {lx}(o); }}", "}", f"{st}(i, v);"]
        return [linear_kernel(kb, math.prod(y), "\n".join(lines), wg=256)]


class ResizeRuntimeScalesEmitter(Emitter):
    """Resize (opset 11+) with linear or cubic interpolation and ``scales`` known at run time only: each
    invocation reads the scales and computes the taps of its output coordinate on every axis (in f32; the
    interpolation is continuous in the source coordinate, so the result differs from the js kernel's float64
    taps by rounding only; antialias sizes the tap arrays for the smallest scale the static output shape allows).
    Nearest picks its taps exactly (integer arithmetic, see ``_nearest``) for the coordinate modes of the form
    (a·y + b) / scale + c; tf_crop_and_resize stays on the CPU."""

    ops = ("Resize", "Upsample")
    rank = 1

    @staticmethod
    def _legacy(node: Node, graph: Graph) -> bool:
        """Upsample (scales input, opset 9) or Resize 10: (X, scales), asymmetric coordinates."""
        return node.op_type == "Upsample" or graph.opset_for(node.domain) < 11

    def _modes(self, node: Node, graph: Graph) -> tuple[str, str, str]:
        """(mode, coordinate mode, nearest mode) as the js kernels read them."""
        mode = _attr(node, "mode")
        if self._legacy(node, graph):
            # js Upsample: floor; Resize 10: floor when upsampling, ceil when downsampling
            return mode, "asymmetric", "floor" if node.op_type == "Upsample" else "legacy"
        return mode, _attr(node, "coordinate_transformation_mode"), _attr(node, "nearest_mode")

    def _geometry(self, node: Node, graph: Graph) -> Optional[tuple[str, list[int]]]:
        """(scales value, axes the scales apply to) when this kernel applies."""
        if self._legacy(node, graph):
            if len(node.inputs) != 2 or (node.op_type == "Upsample" and graph.opset_for(node.domain) < 9):
                return None
            s_name = node.inputs[1]
        else:
            if len(node.inputs) < 3:
                return None
            s_name = node.inputs[2]
            z_name = node.inputs[3] if len(node.inputs) > 3 else ""
            if not s_name or (z_name and _static_numel(graph, z_name) != 0):
                return None
        v = graph.values.get(s_name) if s_name else None
        if v is None or v.const is not None or not gpu_static(graph, [s_name], ("float32",)) or len(v.shape) != 1:
            return None
        x = tuple(graph.values[node.inputs[0]].shape)
        axes = node.attrs.get("axes")
        axes = [a % len(x) for a in axes] if axes is not None else list(range(len(x)))
        if len(set(axes)) != len(axes) or v.numel() != len(axes):
            return None
        return s_name, axes

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.outputs) != 1 or not float32_static(graph, node.inputs[:1] + node.outputs):
            return False
        geo = self._geometry(node, graph)
        if geo is None:
            return False
        mode, ctm, nm = self._modes(node, graph)
        if mode == "nearest":
            # exact tap choice (integer arithmetic) for the modes whose coordinate is (a·y + b) / scale + c
            if ctm not in NEAREST_EXACT or (nm not in NEAREST and nm != "legacy"):
                return False
        elif mode not in ("linear", "bilinear", "trilinear", "cubic", "bicubic"):
            return False
        if self._legacy(node, graph) and mode not in ("nearest", "linear", "bilinear"):
            return False
        if ctm not in MODES:
            return False
        x, y = tuple(graph.values[node.inputs[0]].shape), tuple(graph.values[node.outputs[0]].shape)
        if len(x) != len(y) or any(d == 0 for d in x + y):
            return False
        _, axes = geo
        if node.attrs.get("antialias") and any(2 * math.ceil(2 * x[a] / y[a]) + 2 > 64 for a in axes):
            return False  # a filter longer than the kernel's tap arrays
        if any(x[a] != y[a] for a in range(len(x)) if a not in axes):
            return False
        return len([a for a in axes if x[a] > 1 or y[a] > 1]) <= MAX_LINEAR_AXES

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        s_name, axes = self._geometry(node, ctx.graph)  # type: ignore[misc]
        x, y = ctx.shape(node.inputs[0]), ctx.shape(node.outputs[0])
        strides = contiguous_strides(x)
        mode, ctm, _ = self._modes(node, ctx.graph)
        if mode == "nearest":
            return [self._nearest(node, ctx, s_name, axes, x, y, strides)]
        cubic = mode in ("cubic", "bicubic")
        n = 4 if cubic else 2
        A = float(node.attrs.get("cubic_coeff_a", -0.75))  # Resize 11+ (Upsample, Resize 10: no cubic)
        exclude = bool(node.attrs.get("exclude_outside"))  # Resize 11+
        antialias = bool(node.attrs.get("antialias"))  # opset 18+
        kb = KernelBuilder(ctx)
        lx, st, ls = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0]), kb.load("s", s_name)
        if cubic:
            kb.decls.append(
                "fn keys_(t0: f32) -> f32 {\n"
                "  let t = abs(t0);\n"
                f"  if (t <= 1.0f) {{ return (({f32lit(A + 2)} * t - {f32lit(A + 3)}) * t) * t + 1.0f; }}\n"
                f"  if (t < 2.0f) {{ return (({f32lit(A)} * t - {f32lit(5 * A)}) * t + {f32lit(8 * A)}) * t - {f32lit(4 * A)}; }}\n"
                "  return 0.0f;\n"
                "}")
        lines = decompose("i", list(y))
        interp = [a for a in axes if x[a] > 1 or y[a] > 1]
        fixed = [f"c{d} * {u(strides[d])}" for d in range(len(x)) if d not in interp and x[d] > 1]
        lines.append(f"let base = {' + '.join(fixed) or '0u'};")
        for a in interp:
            nin, nout = x[a], y[a]
            c = f"f32(c{a})"
            src = {
                "half_pixel": f"({c} + 0.5f) / s{a} - 0.5f",
                "pytorch_half_pixel": f"({c} + 0.5f) / s{a} - 0.5f" if nout > 1 else "-0.5f",
                "asymmetric": f"{c} / s{a}",
                "align_corners": f"select({c} * {f32lit(nin - 1)} / (outf{a} - 1.0f), 0.0f, outf{a} == 1.0f)",
                "tf_half_pixel_for_nearest": f"({c} + 0.5f) / s{a}",
                "half_pixel_symmetric": (f"{f32lit(nin / 2)} * (1.0f - {f32lit(nout)} / outf{a}) + ({c} + 0.5f) / s{a}"
                                         " - 0.5f"),
            }[ctm]
            # antialiased downsampling stretches the filter by 1/scale: 2·ceil(R/scale) taps, scale >= out/in
            R = 2 if cubic else 1
            nmax = n if not (antialias and nout < nin) else max(n, 2 * math.ceil(R * nin / nout) + 2)
            lines += [f"let s{a} = {ls}({u(axes.index(a))});",
                      f"let outf{a} = s{a} * {f32lit(nin)};",
                      f"var nt{a} = {u(n)};",
                      f"var ti{a}: array<i32, {nmax}>;",
                      f"var tw{a}: array<f32, {nmax}>;",
                      # the js kernel leaves an axis alone when its scale is 1 and its length unchanged
                      f"if (abs(s{a} - 1.0f) < 1e-9f && {'true' if nin == nout else 'false'}) {{",
                      f"  nt{a} = 1u; ti{a}[0] = i32(c{a}); tw{a}[0] = 1.0f;",
                      "} else {",
                      f"  let xs = {src};",
                      "  let fl = floor(xs);",
                      "  let integral = xs == fl;",
                      "  let r = select(xs - fl, 1.0f, integral);"]
            if cubic:
                coeffs = ["keys_(r + 1.0f)", "keys_(r)", "keys_(1.0f - r)", "keys_(2.0f - r)"]
            else:
                coeffs = ["1.0f - r", "r"]
            if nmax > n:
                kern = f"keys_(s{a} * (f32(start + k) - r))" if cubic else \
                    f"clamp(1.0f - abs((f32(start + k) - r) * s{a}), 0.0f, 1.0f)"
                lines += [f"  if (s{a} < 1.0f) {{",
                          f"    let start = i32(floor({-R}.0f / s{a})) + 1i;",
                          f"    nt{a} = min(u32(2i - 2i * start), {u(nmax)});",
                          "    var cs = 0.0f;",
                          f"    for (var k = 0i; k < i32(nt{a}); k = k + 1i) {{ let w = {kern}; tw{a}[k] = w; cs = cs + w; }}",
                          f"    let first = select(1i - i32(nt{a}) / 2i, -(i32(nt{a}) / 2i), integral);",
                          "    var tot = 0.0f;",
                          f"    for (var k = 0i; k < i32(nt{a}); k = k + 1i) {{",
                          "      let j = i32(fl) + first + k;",
                          f"      var w = tw{a}[k] / cs;"]
                if exclude:
                    lines.append(f"      if (j < 0i || j >= {nin}i) {{ w = 0.0f; }}")
                lines += [f"      ti{a}[k] = clamp(j, 0i, {nin - 1}i); tw{a}[k] = w; tot = tot + w;", "    }"]
                if exclude:
                    lines.append(f"    if (tot != 0.0f) {{ for (var k = 0u; k < nt{a}; k = k + 1u) {{ tw{a}[k] = tw{a}[k] / tot; }} }}")
                lines.append("  } else {")
            lines.append(f"  let first = select({1 - n // 2}i, {-(n // 2)}i, integral);")
            lines.append("  var tot = 0.0f;")
            for t in range(n):
                lines += [f"  {{ let j = i32(fl) + first + {t}i;",
                          f"    var w = {coeffs[t]};"]
                if exclude:
                    lines.append(f"    if (j < 0i || j >= {nin}i) {{ w = 0.0f; }}")
                lines += [f"    ti{a}[{t}] = clamp(j, 0i, {nin - 1}i); tw{a}[{t}] = w; tot = tot + w; }}"]
            if exclude:
                lines.append(f"  if (tot != 0.0f) {{ for (var t = 0u; t < {u(n)}; t = t + 1u) {{ tw{a}[t] = tw{a}[t] / tot; }} }}")
            if nmax > n:
                lines.append("  }")
            lines.append("}")
        lines.append("var v = 0.0f;")
        depth = ""
        for a in interp:
            lines += [f"{depth}for (var t{a} = 0u; t{a} < nt{a}; t{a} = t{a} + 1u) {{"]
            depth += "  "
        w = " * ".join(f"tw{a}[t{a}]" for a in interp) or "1.0f"
        off = " + ".join(["base"] + [f"u32(ti{a}[t{a}]) * {u(strides[a])}" for a in interp])
        lines += [f"{depth}let w = {w};", f"{depth}if (w != 0.0f) {{ v = v + w * {lx}({off}); }}"]
        for k in range(len(interp), 0, -1):
            lines.append("  " * (k - 1) + "}")
        lines.append(f"{st}(i, v);")
        return [linear_kernel(kb, math.prod(y), "\n".join(lines), wg=64)]

    def _nearest(self, node: Node, ctx: KernelContext, s_name: str, axes: list[int], x: tuple[int, ...],
                 y: tuple[int, ...], strides: list[int]) -> Dispatch:
        """Nearest with run-time scales: with Z = 2·x = U / s + V (U, V integers), floor(Z) and whether Z is an
        integer are computed exactly (integer arithmetic on the scale's mantissa and exponent); they decide
        the tap as the js kernel's float64 coordinate does (the float64 quotient is exact when it is an integer
        or half-integer and otherwise stays on the same side of every tie)."""
        _, ctm, nm = self._modes(node, ctx.graph)
        kb = KernelBuilder(ctx)
        lx, st, ls = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0]), kb.load("s", s_name)
        kb.decls.append(EXACT_CMP)
        lines = decompose("i", list(y))
        interp = [a for a in axes if x[a] > 1]  # a length-1 input axis always reads index 0
        offs = [f"c{d} * {u(strides[d])}" for d in range(len(x)) if d not in axes and x[d] > 1]
        for a in interp:
            nin, nout = x[a], y[a]
            lines += [f"let s{a} = {ls}({u(axes.index(a))});", f"var k{a} = 0i;",
                      f"if (abs(s{a} - 1.0f) < 1e-9f && {'true' if nin == nout else 'false'}) {{ k{a} = i32(c{a}); }}"]
            if ctm == "pytorch_half_pixel" and nout == 1:
                # x = -0.5: floor -1, ratio 0.5
                gz, isint = "-1i", "true"
                lines += ["else {", f"  let gz = {gz};", f"  let isint = {isint};"]
            else:
                U = f"2u * c{a}" if ctm == "asymmetric" else f"2u * c{a} + 1u"
                V = -1 if ctm in ("half_pixel", "pytorch_half_pixel") else 0
                lines += ["else {", f"  let d = div_floor_({U}, s{a});",
                          f"  let gz = i32(d.x) + ({V}i);", "  let isint = d.y == 1u;"]
            lines += ["  let fl = select((gz - 1i) / 2i, gz / 2i, gz >= 0i);",
                      "  let odd = (gz - 2i * fl) == 1i;"]
            ceil = "!(isint && !odd)"
            up = {"round_prefer_floor": "odd && !isint", "round_prefer_ceil": "odd",
                  "floor": "false", "ceil": ceil, "legacy": f"s{a} < 1.0f && {ceil}"}[nm]
            lines += [f"  k{a} = clamp(fl + select(0i, 1i, {up}), 0i, {nin - 1}i);", "}"]
            offs.append(f"u32(k{a}) * {u(strides[a])}")
        lines.append(f"{st}(i, {lx}({' + '.join(offs) or '0u'}));")
        return linear_kernel(kb, math.prod(y), "\n".join(lines), wg=64)

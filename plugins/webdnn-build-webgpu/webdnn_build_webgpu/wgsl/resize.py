"""Resize (opset 10+) and Upsample: nearest (every nearest_mode) and linear, any rank, with the
coordinate transformations half_pixel, pytorch_half_pixel, asymmetric, align_corners,
half_pixel_symmetric and tf_half_pixel_for_nearest.

The taps of each resized axis (source index, and for linear the two weights) are computed at build time
exactly as the js kernel does (resize.js ``axisTaps``: source coordinate, ratio, edge clamping) and
bound as small constant tables, so the kernel only gathers: nearest reads one element, linear sums the
2^k corners of the k linearly resized axes. Scales and sizes must be constants; cubic, antialias,
tf_crop_and_resize and keep_aspect_ratio_policy other than stretch run on the CPU.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from webdnn_build.ir import Graph, Node

from .base import (Dispatch, Emitter, KernelBuilder, KernelContext, contiguous_strides, decompose, float32_static,
                   gpu_static, linear_kernel, u)

MODES = ("half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners", "half_pixel_symmetric",
         "tf_half_pixel_for_nearest")
NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
MAX_LINEAR_AXES = 3


def _attr(node: Node, key: str, default):
    v = node.attrs.get(key, default)
    return v.decode() if isinstance(v, bytes) else v


def _const_floats(graph: Graph, name: str) -> Optional[list[float]]:
    v = graph.values.get(name) if name else None
    if v is None or v.const is None:
        return None
    return [float(x) for x in np.asarray(v.const).ravel()]


def _plan(node: Node, graph: Graph) -> Optional[tuple[list[float], str, str, str]]:
    """(scales per axis, mode, coordinate mode, nearest mode), or None when the GPU kernel does not apply."""
    x = tuple(graph.values[node.inputs[0]].shape)
    y = tuple(graph.values[node.outputs[0]].shape)
    rank = len(x)
    opset = graph.opset_for(node.domain)
    legacy = node.op_type == "Upsample" or opset < 11
    mode = _attr(node, "mode", "nearest")
    if node.attrs.get("antialias", 0) or _attr(node, "keep_aspect_ratio_policy", "stretch") != "stretch":
        return None
    if legacy:
        scales = node.attrs.get("scales") if len(node.inputs) < 2 else _const_floats(graph, node.inputs[1])
        scales = [float(np.float32(s)) for s in scales] if scales is not None else None
        sizes = None
        ctm, nm = "asymmetric", "legacy"
    else:
        scales = _const_floats(graph, node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
        sizes = _const_floats(graph, node.inputs[3]) if len(node.inputs) > 3 and node.inputs[3] else None
        if len(node.inputs) > 2 and node.inputs[2] and scales is None or len(node.inputs) > 3 and node.inputs[3] and sizes is None:
            return None
        if scales is not None and not scales:
            scales = None
        ctm, nm = _attr(node, "coordinate_transformation_mode", "half_pixel"), _attr(node, "nearest_mode", "round_prefer_floor")
        axes = node.attrs.get("axes")
        if axes is not None:
            axes = [a % rank for a in axes]
            if scales is not None:
                full = [1.0] * rank
                for a, s in zip(axes, scales):
                    full[a] = s
                scales = full
            if sizes is not None:
                full = [float(d) for d in x]
                for a, s in zip(axes, sizes):
                    full[a] = s
                sizes = full
    if sizes is not None:
        if len(sizes) != rank or tuple(int(s) for s in sizes) != y:
            return None
        scales = [s / d for s, d in zip(sizes, x)]
    elif scales is None or len(scales) != rank or tuple(math.floor(d * s) for d, s in zip(x, scales)) != y:
        return None
    if mode in ("linear", "bilinear", "trilinear"):
        mode = "linear"
    elif mode != "nearest":
        return None
    if ctm not in MODES or (nm not in NEAREST and nm != "legacy"):
        return None
    if node.attrs.get("exclude_outside", 0) and mode == "linear":
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


def _coeffs(mode: str, nm: str, r: float, scale: float) -> list[float]:
    if mode == "linear":
        return [1 - r, r]
    if nm == "legacy":
        nm = "ceil" if scale < 1 else "floor"
    if float(r).is_integer():
        return [0.0, 1.0]
    return {"round_prefer_floor": [1.0 if r <= 0.5 else 0.0, 1.0 if r > 0.5 else 0.0],
            "round_prefer_ceil": [1.0 if r < 0.5 else 0.0, 1.0 if r >= 0.5 else 0.0],
            "floor": [1.0, 0.0], "ceil": [0.0, 1.0]}[nm]


def axis_taps(n_in: int, n_out: int, scale: float, mode: str, ctm: str, nm: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices [n_out, 2], weights [n_out, 2]) of one axis, as resize.js ``axisTaps`` (two taps)."""
    idx = np.zeros((n_out, 2), np.int64)
    w = np.zeros((n_out, 2), np.float64)
    for yv in range(n_out):
        xv = _source(ctm, yv, scale, n_in, n_out)
        fl = math.floor(xv)
        integral = xv == fl
        c = _coeffs(mode, nm, 1.0 if integral else xv - fl, scale)
        first = -1 if integral else 0
        for t in range(2):
            idx[yv, t] = min(n_in - 1, max(0, fl + first + t))
            w[yv, t] = c[t]
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
        if mode == "linear" and (not float32_static(graph, node.inputs[:1]) or len(axes) > MAX_LINEAR_AXES):
            return False
        return len(axes) <= 6 and all(d > 0 for d in x)

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
        linear = []
        for a in axes:
            idx, w = axis_taps(x[a], y[a], scales[a], mode, ctm, nm)
            if mode == "nearest":  # the tap of weight 1
                pick = np.where(w[:, 0] > 0, idx[:, 0], idx[:, 1]).astype(np.int32)
                lt = kb.load(f"t{a}", ctx.add_const(pick, "resize_taps"))
                lines.append(f"let o{a} = u32({lt}(c{a})) * {u(strides[a])};")
            else:  # [i0, i1, w0, w1] per output index, indices exact in f32
                table = np.concatenate([idx.astype(np.float64), w], axis=1).astype(np.float32)
                lt = kb.load(f"t{a}", ctx.add_const(table, "resize_taps"))
                lines += [f"let i{a}_0 = u32({lt}(c{a} * 4u)) * {u(strides[a])};",
                          f"let i{a}_1 = u32({lt}(c{a} * 4u + 1u)) * {u(strides[a])};",
                          f"let w{a}_0 = {lt}(c{a} * 4u + 2u);",
                          f"let w{a}_1 = {lt}(c{a} * 4u + 3u);"]
                linear.append(a)
        near = " + ".join(f"o{a}" for a in axes if a not in linear)
        off = f"base + {near}" if near else "base"
        if not linear:
            lines.append(f"{st}(i, {lx}({off}));")
        else:
            terms = []
            for corner in range(1 << len(linear)):
                bits = [(corner >> j) & 1 for j in range(len(linear))]
                wexpr = " * ".join(f"w{a}_{b}" for a, b in zip(linear, bits))
                iexpr = " + ".join(f"i{a}_{b}" for a, b in zip(linear, bits))
                terms.append(f"{wexpr} * {lx}({off} + {iexpr})")
            lines.append("var v = 0.0f;")
            lines += [f"v = v + {t};" for t in terms]
            lines.append(f"{st}(i, v);")
        return [linear_kernel(kb, math.prod(y), "\n".join(lines), wg=256)]

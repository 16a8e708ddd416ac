"""Resize (opset 10+) of float32 tensors where only the last two axes change (4-D NCHW upsampling and the
like): modes nearest (every nearest_mode) and linear/bilinear (no antialias), coordinate transformation
modes half_pixel, pytorch_half_pixel, align_corners, asymmetric, half_pixel_symmetric; constant scales
or sizes (keep_aspect_ratio_policy stretch); `axes` (opset 18) as long as only the last two axes change.

The taps of each output row / column (source indices and weights) are computed here in float64, as the js
kernel (resize.js) computes them, and baked into the generated C as tables; csrc/resize.c gathers and blends.

Everything else (cubic, antialias, tf_crop_and_resize, keep_aspect_ratio_policy, other axes, scales / sizes /
roi computed at run time, Upsample) goes to ResizeAnyEmitter: csrc/resize.c's wdn_resize_nd computes the
taps at run time, as resize.js does.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_float32_static, c_array, cfloat, struct_init
from .movement import str_attr

CTMS = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _const_floats(graph: Graph, name: str) -> Optional[np.ndarray]:
    if not name or name not in graph.values:
        return None
    c = graph.values[name].const
    return None if c is None else np.asarray(c, np.float64).ravel()


def _optional_const_floats(graph: Graph, name: str) -> tuple[bool, Optional[np.ndarray]]:
    """An optional constant input (Resize's scales / sizes, opset 11+): ``(usable, values)``, values None when
    the input is absent or empty; not usable when it is given but not a constant."""
    if not name:
        return True, None
    c = _const_floats(graph, name)
    if c is None:
        return False, None
    return True, (c if c.size else None)


def _normalized_axes(axes, rank: int) -> list[int]:
    """The ``axes`` attribute (opset 18) with negative axes counted from the end (not range-checked)."""
    return [int(a) + rank if int(a) < 0 else int(a) for a in axes]


def _float32_io(node: Node, graph: Graph) -> bool:
    """What both Resize emitters need before planning: one float32 input and output of static shapes, no
    fused activation."""
    if len(node.outputs) != 1 or not node.inputs or not node.inputs[0] or "fused_activation" in node.attrs:
        return False
    return all_float32_static(graph, [node.inputs[0], node.outputs[0]])


def _source(ctm: str, y: int, scale: float, in_len: int, out_len: int) -> float:
    out_f = scale * in_len
    if ctm == "half_pixel":
        return (y + 0.5) / scale - 0.5
    if ctm == "pytorch_half_pixel":
        return (y + 0.5) / scale - 0.5 if out_len > 1 else -0.5
    if ctm == "align_corners":
        return 0.0 if out_f == 1 else y * (in_len - 1) / (out_f - 1)
    if ctm == "asymmetric":
        return y / scale
    offset = (in_len / 2) * (1 - out_len / out_f)  # half_pixel_symmetric
    return offset + (y + 0.5) / scale - 0.5


def axis_taps(in_len: int, out_len: int, scale: float, ctm: str, mode: str, nearest: str,
              exclude_outside: bool) -> tuple[list[int], list[float]]:
    """Two taps (index, weight) per output index, as resize.js's axisTaps (nearest: one of weight 1)."""
    idx: list[int] = []
    w: list[float] = []
    for y in range(out_len):
        x = _source(ctm, y, scale, in_len, out_len)
        fl = math.floor(x)
        integral = x == fl
        r = 1.0 if integral else x - fl
        if mode == "nearest":
            if integral:
                c = [0.0, 1.0]
            elif nearest == "round_prefer_floor":
                c = [1.0 if r <= 0.5 else 0.0, 1.0 if r > 0.5 else 0.0]
            elif nearest == "round_prefer_ceil":
                c = [1.0 if r < 0.5 else 0.0, 1.0 if r >= 0.5 else 0.0]
            elif nearest == "floor":
                c = [1.0, 0.0]
            else:
                c = [0.0, 1.0]
        else:
            c = [1.0 - r, r]
        first = -1 if integral else 0
        taps = []
        for i in range(2):
            j = fl + first + i
            ci = c[i]
            if exclude_outside and not 0 <= j < in_len:
                ci = 0.0
            taps.append((min(in_len - 1, max(0, j)), ci))
        s = sum(t[1] for t in taps)
        if exclude_outside and s != 0:
            taps = [(j, ci / s) for j, ci in taps]
        for j, ci in taps:
            idx.append(int(j))
            w.append(ci)
    return idx, w


class ResizeEmitter(Emitter):
    ops = ("Resize",)

    def _plan(self, node: Node, graph: Graph):
        x = tuple(graph.values[node.inputs[0]].shape)
        y = tuple(graph.values[node.outputs[0]].shape)
        rank = len(x)
        if rank < 1 or len(y) != rank:
            return None
        opset = graph.opset_for(node.domain)
        ins = list(node.inputs) + [""] * (4 - len(node.inputs))
        mode = str_attr(node, "mode")
        if mode in ("bilinear",):
            mode = "linear"
        if mode not in ("nearest", "linear") or node.attrs.get("antialias"):  # antialias: opset 18+
            return None
        if str_attr(node, "keep_aspect_ratio_policy", before="stretch") != "stretch":  # opset 18+
            return None
        if opset < 11:
            scales, sizes = _const_floats(graph, ins[1]), None
            if scales is None:
                return None
            ctm, nearest = "asymmetric", None
        else:
            ctm = str_attr(node, "coordinate_transformation_mode")
            nearest = str_attr(node, "nearest_mode")
            scales_ok, scales = _optional_const_floats(graph, ins[2])
            sizes_ok, sizes = _optional_const_floats(graph, ins[3])
            if not (scales_ok and sizes_ok):
                return None
        if ctm not in CTMS or (mode == "nearest" and opset >= 11 and nearest not in NEAREST_MODES):
            return None
        axes = node.attrs.get("axes")
        if axes is not None:
            axes = _normalized_axes(axes, rank)
            full_s, full_z = [1.0] * rank, list(x)
            for i, a in enumerate(axes):
                if not 0 <= a < rank:
                    return None
                if scales is not None:
                    full_s[a] = float(scales[i])
                if sizes is not None:
                    full_z[a] = int(sizes[i])
            scales = np.array(full_s) if scales is not None else None
            sizes = np.array(full_z, np.float64) if sizes is not None else None
        if sizes is not None:
            if sizes.size != rank:
                return None
            out = [int(v) for v in sizes]
            scales = np.array([o / d if d else 1.0 for o, d in zip(out, x)])
        elif scales is not None:
            if scales.size != rank:
                return None
            out = [int(math.floor(d * s)) for d, s in zip(x, scales)]
        else:
            return None
        if tuple(out) != y or any(d == 0 for d in x) or any(s <= 0 for s in scales):
            return None
        # only the last two axes may change (the others must be the identity)
        for a in range(max(0, rank - 2)):
            if out[a] != x[a] or abs(scales[a] - 1) > 1e-9:
                return None
        h, w = (x[-2], x[-1]) if rank >= 2 else (1, x[-1])
        oh, ow = (y[-2], y[-1]) if rank >= 2 else (1, y[-1])
        sh, sw = (float(scales[-2]), float(scales[-1])) if rank >= 2 else (1.0, float(scales[-1]))
        planes = math.prod(x[:-2]) if rank >= 2 else 1
        excl = bool(node.attrs.get("exclude_outside"))  # opset 11+
        if excl and mode == "nearest":
            return None
        if opset < 11 and mode == "nearest":
            nearest = "floor"  # opset 10: as the js kernel for upsampling; downsampling left to it
            if sh < 1 or sw < 1:
                return None

        def taps(n_in: int, n_out: int, s: float):
            if n_in == n_out and abs(s - 1) < 1e-9:  # an unchanged axis (the js kernel skips it)
                return list(np.repeat(np.arange(n_in), 2)), [0.0, 1.0] * n_in
            return axis_taps(n_in, n_out, s, ctm, mode, nearest, excl)

        hi, hw = taps(h, oh, sh)
        wi, ww = taps(w, ow, sw)
        return planes, h, w, oh, ow, mode, (hi, hw), (wi, ww)

    def supports(self, node: Node, graph: Graph) -> bool:
        return _float32_io(node, graph) and self._plan(node, graph) is not None

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        planes, h, w, oh, ow, mode, (hi, hw), (wi, ww) = self._plan(node, ctx.graph)
        var = ctx.fresh("resize")
        linear = mode == "linear"
        if linear:
            hidx, widx = hi, wi
        else:  # the tap of weight 1
            hidx = [hi[2 * k + (1 if hw[2 * k + 1] else 0)] for k in range(oh)]
            widx = [wi[2 * k + (1 if ww[2 * k + 1] else 0)] for k in range(ow)]
        ctx.decls.append(f"static const int {var}_hidx[{len(hidx)}] = {c_array(hidx)};")
        ctx.decls.append(f"static const int {var}_widx[{len(widx)}] = {c_array(widx)};")
        fields = {"planes": planes, "h": h, "w": w, "oh": oh, "ow": ow, "linear": int(linear),
                  "hidx": f"{var}_hidx", "hw": "0", "widx": f"{var}_widx", "ww": "0",
                  "x": ctx.ptr(node.inputs[0]), "y": ctx.ptr(node.outputs[0]), "scratch": "0", "scratch_stride": "0"}
        if linear:
            ctx.decls.append(f"static const float {var}_hw[{len(hw)}] = {{{', '.join(cfloat(v) for v in hw)}}};")
            ctx.decls.append(f"static const float {var}_ww[{len(ww)}] = {{{', '.join(cfloat(v) for v in ww)}}};")
            ctx.scratch.append(f"WDN_RESIZE_SCRATCH_BYTES({w})")
            fields.update({"hw": f"{var}_hw", "ww": f"{var}_ww", "scratch": "wdn_scratch",
                           "scratch_stride": "WDN_SCRATCH_STRIDE"})
        ctx.decls.append(struct_init("wdn_resize_params", var, fields))
        return [f"wdn_resize_f32(&{var}, tid, nth);"]


CTM_CODES = {"half_pixel": 0, "pytorch_half_pixel": 1, "align_corners": 2, "asymmetric": 3,
             "half_pixel_symmetric": 4, "tf_crop_and_resize": 5}
NEAREST_CODES = {"round_prefer_floor": 0, "round_prefer_ceil": 1, "floor": 2, "ceil": 3}
MODE_CODES = {"nearest": 0, "linear": 1, "bilinear": 1, "trilinear": 1, "cubic": 2, "bicubic": 2}
POLICY_CODES = {"stretch": 0, "not_larger": 1, "not_smaller": 2}
#: the general kernel works in one thread's scratch: two float64 copies of the largest intermediate
MAX_ND_SCRATCH = 4 << 20


class ResizeAnyEmitter(Emitter):
    """Resize (every mode, coordinate transformation, antialias, axes, keep_aspect_ratio_policy) and
    Upsample of float32 tensors of rank <= 6 with scales / sizes / roi read at run time (constant or
    computed: csrc/resize.c's wdn_resize_nd, the js kernel's algorithm). Tried after ResizeEmitter, whose
    build-time taps cover the common 2-D upsampling cases faster."""

    ops = ("Resize", "Upsample")
    rank = 1

    def _plan(self, node: Node, graph: Graph) -> Optional[dict]:
        x = tuple(graph.values[node.inputs[0]].shape)
        y = tuple(graph.values[node.outputs[0]].shape)
        rank = len(x)
        if not 1 <= rank <= 6 or len(y) != rank:
            return None
        opset = graph.opset_for(node.domain)
        ins = list(node.inputs) + [""] * (4 - len(node.inputs))

        def given(name: str, dtypes: tuple[str, ...]) -> Optional[str]:
            """The input's name when it counts as given (a static 1-D tensor, not empty); "" when absent;
            None when it cannot be used."""
            if not name:
                return ""
            v = graph.values.get(name)
            if v is None or not v.is_static or len(v.shape) != 1:
                return None
            if v.shape[0] == 0:
                return ""
            return name if v.dtype in dtypes else None

        mode = str_attr(node, "mode")
        if mode not in MODE_CODES:
            return None
        plan = {"mode": MODE_CODES[mode], "ctm": 3, "nearest": 2, "legacy": 0, "antialias": 0, "exclude": 0,
                "policy": 0, "cubic_a": -0.75, "extrapolation": 0.0, "axes": [], "roi": "", "scales": "",
                "sizes": "", "scales_const": None}
        if node.op_type == "Upsample":
            if MODE_CODES[mode] == 2:
                return None
            plan["legacy"] = 2
            if len(node.inputs) > 1 and node.inputs[1]:
                plan["scales"] = given(node.inputs[1], ("float32",))
            elif "scales" in node.attrs:
                plan["scales_const"] = [float(s) for s in node.attrs["scales"]]
            else:
                return None
        elif opset < 11:
            plan["scales"] = given(ins[1], ("float32",))
            plan["legacy"] = 1
        else:
            ctm = str_attr(node, "coordinate_transformation_mode")
            nearest = str_attr(node, "nearest_mode")
            policy = str_attr(node, "keep_aspect_ratio_policy", before="stretch")  # opset 18+
            if ctm not in CTM_CODES or nearest not in NEAREST_CODES or policy not in POLICY_CODES:
                return None
            plan.update(ctm=CTM_CODES[ctm], nearest=NEAREST_CODES[nearest], policy=POLICY_CODES[policy],
                        antialias=int(bool(node.attrs.get("antialias"))),  # opset 18+
                        exclude=int(bool(node.attrs["exclude_outside"])),
                        cubic_a=float(node.attrs["cubic_coeff_a"]),
                        extrapolation=float(node.attrs["extrapolation_value"]))
            plan["roi"] = given(ins[1], ("float32",)) if ctm == "tf_crop_and_resize" else ""
            plan["scales"] = given(ins[2], ("float32",))
            plan["sizes"] = given(ins[3], ("int64",))
            if "axes" in node.attrs:
                axes = _normalized_axes(node.attrs["axes"], rank)
                if any(not 0 <= a < rank for a in axes) or len(set(axes)) != len(axes):
                    return None
                plan["axes"] = axes
        if plan["scales"] is None or plan["sizes"] is None or plan["roi"] is None:
            return None
        if plan["sizes"] and plan["scales"] or not (plan["sizes"] or plan["scales"] or plan["scales_const"]):
            return None
        nv = len(plan["axes"]) or rank
        if plan["sizes"] and graph.values[plan["sizes"]].shape[0] != nv:
            return None
        if plan["scales"] and graph.values[plan["scales"]].shape[0] != nv:
            return None
        if plan["scales_const"] is not None and len(plan["scales_const"]) != rank:
            return None
        if plan["roi"] and graph.values[plan["roi"]].shape[0] != 2 * nv:
            return None
        if any(d == 0 for d in x):
            return None
        numel = math.prod(max(a, b) for a, b in zip(x, y))
        plan["max_numel"] = numel
        plan["max_taps"] = 8 * max(x) + 8
        if 16 * numel + 8 * plan["max_taps"] > MAX_ND_SCRATCH:
            return None
        return plan

    def supports(self, node: Node, graph: Graph) -> bool:
        return _float32_io(node, graph) and self._plan(node, graph) is not None

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        plan = self._plan(node, ctx.graph)
        x, y = ctx.shape(node.inputs[0]), ctx.shape(node.outputs[0])
        var = ctx.fresh("resize_nd")
        scales = plan["scales"]
        if plan["scales_const"] is not None:
            scales = ctx.add_const(np.array(plan["scales_const"], np.float32), "upsample_scales")
        pad = [1] * (6 - len(x))
        ctx.scratch.append(f"WDN_RESIZE_ND_SCRATCH_BYTES({plan['max_numel']}, {plan['max_taps']})")
        ctx.decls.append(struct_init("wdn_resize_nd_params", var, {
            "rank": len(x), "mode": plan["mode"], "ctm": plan["ctm"], "nearest": plan["nearest"],
            "legacy": plan["legacy"], "antialias": plan["antialias"], "exclude_outside": plan["exclude"],
            "policy": plan["policy"], "op_index": ctx.op_index, "naxes": len(plan["axes"]),
            "axes": c_array(plan["axes"] + [0] * (6 - len(plan["axes"]))),
            "xshape": c_array(list(x) + pad), "yshape": c_array(list(y) + pad),
            "cubic_a": repr(float(plan["cubic_a"])), "extrapolation": cfloat(plan["extrapolation"]),
            "scales": ctx.ptr(scales) if scales else "0", "sizes": ctx.ptr(plan["sizes"]) if plan["sizes"] else "0",
            "roi": ctx.ptr(plan["roi"]) if plan["roi"] else "0",
            "x": ctx.ptr(node.inputs[0]), "y": ctx.ptr(node.outputs[0]),
            "max_numel": plan["max_numel"], "max_taps": plan["max_taps"],
            "scratch": "wdn_scratch", "scratch_stride": "WDN_SCRATCH_STRIDE",
        }))
        return [f"wdn_resize_nd(&{var}, tid, nth);"]

"""Ops whose operands are tensors computed at run time, on the wasm kernels of csrc/numeric.c (kernels_num.h):
Dropout (inference, mask output; training mode checked), Clip on dtypes other than float32, BatchNormalization with
statistics computed at run time (inference and training mode), Det, ReverseSequence, MaxUnpool, Col2Im.
Results equal the js kernels' (same double-precision arithmetic in the same order)."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_static, c_array, storage_bytes, struct_init
from .numeric import FLOATS, INTS, NUM_CODES, _binary_call
from .shapeops import _fill, check_ints


def _shape(graph: Graph, name: str) -> tuple[int, ...]:
    return tuple(graph.values[name].shape)  # type: ignore[arg-type]


def _one_output(node: Node) -> Optional[str]:
    outs = [o for o in node.outputs if o]
    return outs[0] if len(outs) == 1 and outs[0] == node.outputs[0] else None


def _f64(x: float) -> str:
    """A double literal (exact: repr round-trips)."""
    return repr(float(x))


class DropoutEmitter(Emitter):
    """Dropout in inference (y = x, mask all true; opset 12+ training_mode / ratio operands checked at run time),
    any dtype: a copy and a fill."""

    rank = 1  # after UnaryEmitter (float32, no mask)
    ops = ("Dropout",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if not node.inputs or not node.inputs[0] or not node.outputs or not node.outputs[0] or len(node.outputs) > 2:
            return False
        x, y = node.inputs[0], node.outputs[0]
        if not all_static(graph, [x, y]) or graph.values[x].dtype != graph.values[y].dtype:
            return False
        if _shape(graph, x) != _shape(graph, y):
            return False
        opset = graph.opset_for(node.domain)
        if opset < 7 and not node.attrs["is_test"]:
            return False
        mask = node.outputs[1] if len(node.outputs) > 1 else ""
        if mask:
            want = "bool" if opset >= 10 else graph.values[x].dtype
            if not all_static(graph, [mask], (want,)) or _shape(graph, mask) != _shape(graph, x):
                return False
        if opset >= 12:
            ins = list(node.inputs) + [""] * (3 - len(node.inputs))
            if ins[1] and (not all_static(graph, [ins[1]], FLOATS) or math.prod(_shape(graph, ins[1])) != 1):
                return False
            if ins[2] and (not all_static(graph, [ins[2]], ("bool",)) or math.prod(_shape(graph, ins[2])) != 1):
                return False
        return len(node.inputs) <= 3

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        g = ctx.graph
        x, y = node.inputs[0], node.outputs[0]
        calls = []
        ins = list(node.inputs) + [""] * (3 - len(node.inputs))
        if g.opset_for(node.domain) >= 12 and ins[2]:
            ratio = f"{ctx.ptr(ins[1])}, {NUM_CODES[g.values[ins[1]].dtype]}" if ins[1] else "0, 0"
            calls.append(f"wdn_dropout_check({ratio}, {ctx.ptr(ins[2])}, {ctx.op_index}, tid);")
        nbytes = math.prod(_shape(g, x)) * storage_bytes(g.values[x].dtype)
        calls.append(f"wdn_copy_bytes({nbytes}, {ctx.ptr(x)}, {ctx.ptr(y)}, tid, nth);")
        mask = node.outputs[1] if len(node.outputs) > 1 else ""
        if mask:
            calls += _fill(ctx, mask, np.ones(1), g.values[mask].dtype)
        return calls


class ClipAnyEmitter(Emitter):
    """Clip (opset 11+) on integer / float16 / bfloat16 / float64 tensors: max with the lower bound, then min with the
    upper (numpy.clip, NaN propagating), through the broadcasting kernel of numeric.py."""

    rank = 1  # after UnaryEmitter (float32)
    ops = ("Clip",)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or not node.inputs or not node.inputs[0] or len(node.inputs) > 3:
            return False
        if graph.opset_for(node.domain) < 11 or node.attrs.get("fused_activation"):
            return False
        x = node.inputs[0]
        dts = (*INTS, "float16", "bfloat16", "float64")
        if not all_static(graph, [x, y], dts) or graph.values[x].dtype != graph.values[y].dtype:
            return False
        if _shape(graph, x) != _shape(graph, y):
            return False
        return all(not b or (all_static(graph, [b], (graph.values[x].dtype,)) and math.prod(_shape(graph, b)) == 1)
                   for b in node.inputs[1:])

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        g = ctx.graph
        x, y = node.inputs[0], node.outputs[0]
        dt = g.values[x].dtype
        bounds = [(b, op) for b, op in zip(node.inputs[1:], ("WDN_BIN_MAX", "WDN_BIN_MIN")) if b]
        if not bounds:
            nbytes = math.prod(_shape(g, x)) * storage_bytes(dt)
            return [f"wdn_copy_bytes({nbytes}, {ctx.ptr(x)}, {ctx.ptr(y)}, tid, nth);"]
        calls, acc = [], x
        for b, op in bounds:
            if calls:
                calls.append("wdn_barrier(nth);")
            calls.append(_binary_call(ctx, op, acc, b, y, dt, dt, dt))
            acc = y
        return calls


class BatchNormDynEmitter(Emitter):
    """BatchNormalization on float32 with scale / bias / mean / var computed at run time, or training mode
    (opset 14+: batch statistics and running-statistics outputs)."""

    rank = 1  # after BatchNormEmitter (constant statistics, folded)
    ops = ("BatchNormalization",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) != 5 or not all(node.inputs) or not node.outputs or not node.outputs[0]:
            return False
        if node.attrs.get("fused_activation"):
            return False
        opset = graph.opset_for(node.domain)
        if opset < 9 and node.attrs["spatial"] == 0:
            return False
        training = opset >= 14 and node.attrs["training_mode"] == 1
        outs = list(node.outputs)
        if len(outs) > 3 or (not training and any(outs[1:])) or (training and len(outs) > 1 and not all(outs[1:])):
            return False
        if not all_static(graph, node.inputs + [o for o in outs if o], ("float32",)):
            return False
        xs = _shape(graph, node.inputs[0])
        if len(xs) < 2 or _shape(graph, outs[0]) != xs:
            return False
        return all(_shape(graph, n) == (xs[1],) for n in node.inputs[1:] + [o for o in outs[1:] if o])

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        g = ctx.graph
        x, scale, bias, mean, var = node.inputs
        xs = _shape(g, x)
        training = g.opset_for(node.domain) >= 14 and node.attrs["training_mode"] == 1
        outs = list(node.outputs) + [""] * (3 - len(node.outputs))
        var_name = ctx.fresh("bnd")
        ctx.decls.append(struct_init("wdn_batchnorm_dyn_params", var_name, {
            "n": xs[0], "c": xs[1], "s": math.prod(xs[2:]), "training": int(training),
            "eps": _f64(np.float32(node.attrs["epsilon"])),
            "momentum": _f64(np.float32(node.attrs["momentum"])),
            "x": ctx.ptr(x), "scale": ctx.ptr(scale), "bias": ctx.ptr(bias), "mean": ctx.ptr(mean),
            "var": ctx.ptr(var), "y": ctx.ptr(outs[0]), "run_mean": ctx.ptr(outs[1]) if outs[1] else "0",
            "run_var": ctx.ptr(outs[2]) if outs[2] else "0"}))
        return [f"wdn_batchnorm_dyn(&{var_name}, tid, nth);"]


class DetEmitter(Emitter):
    ops = ("Det",)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 1 or not node.inputs[0]:
            return False
        x = node.inputs[0]
        if not all_static(graph, [x, y], ("float32", "float64")) or graph.values[x].dtype != graph.values[y].dtype:
            return False
        xs = _shape(graph, x)
        return len(xs) >= 2 and xs[-1] == xs[-2] and 0 < xs[-1] <= 256 and _shape(graph, y) == xs[:-2]

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x = node.inputs[0]
        xs = _shape(ctx.graph, x)
        m = xs[-1]
        ctx.scratch.append(f"WDN_DET_SCRATCH_BYTES({m})")
        return [f"wdn_det({NUM_CODES[ctx.graph.values[x].dtype]}, {math.prod(xs[:-2])}, {m}, {ctx.ptr(x)}, "
                f"{ctx.ptr(node.outputs[0])}, wdn_scratch, WDN_SCRATCH_STRIDE, tid, nth);"]


class ReverseSequenceEmitter(Emitter):
    ops = ("ReverseSequence",)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 2 or not all(node.inputs):
            return False
        x, lens = node.inputs
        if not all_static(graph, [x, y]) or not all_static(graph, [lens], ("int64",)):
            return False
        xs = _shape(graph, x)
        if graph.values[x].dtype != graph.values[y].dtype or _shape(graph, y) != xs or not 2 <= len(xs) <= 6:
            return False
        b, t = int(node.attrs["batch_axis"]), int(node.attrs["time_axis"])
        if not (-len(xs) <= b < len(xs) and -len(xs) <= t < len(xs)) or b % len(xs) == t % len(xs):
            return False
        return _shape(graph, lens) == (xs[b % len(xs)],)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        g = ctx.graph
        x, lens = node.inputs
        xs = list(_shape(g, x))
        var = ctx.fresh("revseq")
        ctx.decls.append(struct_init("wdn_reverse_sequence_params", var, {
            "rank": len(xs), "elem": storage_bytes(g.values[x].dtype),
            "batch_axis": int(node.attrs["batch_axis"]) % len(xs),
            "time_axis": int(node.attrs["time_axis"]) % len(xs), "op": ctx.op_index,
            "shape": c_array(xs + [1] * (6 - len(xs))), "lens": ctx.ptr(lens), "x": ctx.ptr(x),
            "y": ctx.ptr(node.outputs[0])}))
        return [f"wdn_reverse_sequence(&{var}, tid, nth);"]


class MaxUnpoolEmitter(Emitter):
    """MaxUnpool of any dtype into the planned output shape (an output_shape operand is checked at run time)."""

    ops = ("MaxUnpool",)

    def _inferred(self, node: Node, graph: Graph) -> Optional[list[int]]:
        xs = _shape(graph, node.inputs[0])
        r = len(xs) - 2
        k = node.attrs.get("kernel_shape")
        if k is None or len(k) != r:
            return None
        st = list(node.attrs.get("strides", [1] * r))
        pads = list(node.attrs.get("pads", [0] * 2 * r))
        if len(st) != r or len(pads) != 2 * r:
            return None
        return [xs[0], xs[1], *[(n - 1) * st[i] - pads[i] - pads[i + r] + int(k[i]) for i, n in enumerate(xs[2:])]]

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or not 2 <= len(node.inputs) <= 3 or not node.inputs[0] or not node.inputs[1]:
            return False
        x, idx = node.inputs[:2]
        if not all_static(graph, [x, y]) or not all_static(graph, [idx], ("int64",)):
            return False
        xs, ys = _shape(graph, x), _shape(graph, y)
        if graph.values[x].dtype != graph.values[y].dtype or _shape(graph, idx) != xs or not 3 <= len(xs) <= 6:
            return False
        inf = self._inferred(node, graph)
        if inf is None or len(ys) != len(xs) or any(d <= 0 for d in inf):
            return False
        shape_in = node.inputs[2] if len(node.inputs) > 2 else ""
        if shape_in:
            if not all_static(graph, [shape_in], ("int64",)) or _shape(graph, shape_in) != (len(xs),):
                return False
            c = graph.values[shape_in].const
            return c is None or [int(v) for v in np.asarray(c).ravel()] == list(ys)
        return list(ys) == inf

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        g = ctx.graph
        x, idx = node.inputs[:2]
        ys = list(_shape(g, node.outputs[0]))
        inf = self._inferred(node, g)
        pad = 6 - len(ys)
        calls = check_ints(ctx, node.inputs[2], ys) if len(node.inputs) > 2 and node.inputs[2] else []
        var = ctx.fresh("unpool")
        ctx.decls.append(struct_init("wdn_maxunpool_params", var, {
            "rank": len(ys), "elem": storage_bytes(g.values[x].dtype), "inferred": c_array(inf + [1] * pad),
            "out_shape": c_array(ys + [1] * pad), "count": math.prod(_shape(g, x)), "x": ctx.ptr(x),
            "indices": ctx.ptr(idx), "y": ctx.ptr(node.outputs[0])}))
        return calls + [f"wdn_maxunpool(&{var}, tid, nth);"]


class Col2ImEmitter(Emitter):
    """Col2Im (float32, 1 to 4 spatial axes); image_shape (checked against the planned output) and block_shape are
    int64 tensors read at run time."""

    ops = ("Col2Im",)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 3 or not all(node.inputs):
            return False
        x, img, blk = node.inputs
        if not all_static(graph, [x, y], ("float32",)) or not all_static(graph, [img, blk], ("int64",)):
            return False
        xs, ys = _shape(graph, x), _shape(graph, y)
        r = len(ys) - 2
        if len(xs) != 3 or not 1 <= r <= 4 or _shape(graph, img) != (r,) or _shape(graph, blk) != (r,):
            return False
        if ys[0] != xs[0] or ys[1] <= 0 or xs[1] % ys[1]:
            return False
        a = node.attrs
        return len(a.get("dilations", [1] * r)) == r and len(a.get("strides", [1] * r)) == r \
            and len(a.get("pads", [0] * 2 * r)) == 2 * r and all(s > 0 for s in a.get("strides", [1] * r))

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        g = ctx.graph
        x, img, blk = node.inputs
        xs, ys = _shape(g, x), list(_shape(g, node.outputs[0]))
        r = len(ys) - 2
        a = node.attrs
        pads = [int(v) for v in a.get("pads", [0] * 2 * r)]
        plane = math.prod(ys[2:])
        ctx.scratch.append(f"WDN_COL2IM_SCRATCH_BYTES({plane})")
        fill = [0] * (4 - r)
        var = ctx.fresh("col2im")
        ctx.decls.append(struct_init("wdn_col2im_params", var, {
            "n": xs[0], "c": ys[1], "ck": xs[1], "l": xs[2], "r": r, "op": ctx.op_index,
            "image": c_array(ys[2:] + [1] * (4 - r)),
            "dil": c_array([int(v) for v in a.get("dilations", [1] * r)] + [1] * (4 - r)),
            "stride": c_array([int(v) for v in a.get("strides", [1] * r)] + [1] * (4 - r)),
            "pad_begin": c_array(pads[:r] + fill), "pad_end": c_array(pads[r:] + fill),
            "image_ptr": ctx.ptr(img), "block_ptr": ctx.ptr(blk), "x": ctx.ptr(x), "y": ctx.ptr(node.outputs[0]),
            "scratch": "wdn_scratch", "scratch_stride": "WDN_SCRATCH_STRIDE"}))
        return [f"wdn_col2im(&{var}, tid, nth);"]

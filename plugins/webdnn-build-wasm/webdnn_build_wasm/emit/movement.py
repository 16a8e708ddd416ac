"""Data movement of any dtype (csrc/movement.c, csrc/indexing.c): Concat, Split, Slice, Pad.

Elements move as bytes of the js backend's storage size, so every dtype the wasm memory holds works.
Constant operands only (split sizes, slice starts/ends/axes/steps, pads; the pad value may also be a one-element
tensor computed at run time, read by the kernel): anything else computed at run time leaves the node to the js kernel. A declared output shape that does not match
the op also leaves it to the js kernel (Concat raises, as before: its copies would leave the tensors).
"""

from __future__ import annotations

import math
import struct
from typing import Any, Optional

import numpy as np

from webdnn_build.codegen import collapse_axes
from webdnn_build.errors import ShapeError
from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_static, c_array, storage_bytes, struct_init


def str_attr(node: Node, key: str, before: Optional[str] = None) -> str:
    """A string attribute. Its declared default is in ``node.attrs`` already (webdnn_build.opdecl);
    ``before`` is what the attribute means at the opsets that predate it (it is absent there)."""
    v = node.attrs[key] if before is None else node.attrs.get(key, before)
    return v.decode() if isinstance(v, bytes) else str(v)


def const_ints(graph: Graph, name: str) -> Optional[list[int]]:
    """The integer values of a constant input, or None (absent or not constant)."""
    if not name or name not in graph.values:
        return None
    c = graph.values[name].const
    return None if c is None else [int(v) for v in np.asarray(c).ravel()]


def _shape(graph: Graph, name: str) -> tuple[int, ...]:
    return tuple(graph.values[name].shape)  # type: ignore[arg-type]


def _axis(axis: int, rank: int) -> Optional[int]:
    axis = axis + rank if axis < 0 else axis
    return axis if 0 <= axis < rank else None


def strided_copy(ctx: EmitContext, x: str, y: str, out_shape: list[int], in_strides: list[int], offset: int) -> list[str]:
    """y (contiguous, out_shape) = x[offset + sum idx[d] * in_strides[d]] (element units; any dtype): wdn_expand."""
    if math.prod(out_shape) == 0:
        return []
    elem = storage_bytes(ctx.graph.values[x].dtype)
    out = [math.prod(out_shape[a + 1:]) for a in range(len(out_shape))]
    dims, (sx, _) = collapse_axes(out_shape, [list(in_strides), out], keep_one=True)
    assert len(dims) <= 6
    pad = 6 - len(dims)
    var = ctx.fresh("scopy")
    src = ctx.ptr(x) if offset == 0 else f"((const unsigned char*){ctx.ptr(x)} + {offset * elem})"
    ctx.decls.append(struct_init("wdn_expand_params", var, {
        "rank": len(dims), "elem": elem, "shape": c_array(dims + [1] * pad), "stride": c_array(sx + [0] * pad),
        "x": src, "y": ctx.ptr(y),
    }))
    return [f"wdn_expand(&{var}, tid, nth);"]


def _collapsible(out_shape: list[int], in_strides: list[int]) -> bool:
    out = [math.prod(out_shape[a + 1:]) for a in range(len(out_shape))]
    dims, _ = collapse_axes(out_shape, [list(in_strides), out], keep_one=True)
    return len(dims) <= 6


class ConcatEmitter(Emitter):
    """Concat of any dtype: one strided block copy per input (wdn_copy_blocks)."""

    ops = ("Concat",)
    symbolic = True  # (a KV cache: past + seq)

    def supports(self, node: Node, graph: Graph) -> bool:
        if not node.outputs or not all(node.inputs) or not all_static(graph, node.inputs + node.outputs[:1]):
            return False
        dt = graph.values[node.outputs[0]].dtype
        if any(graph.values[i].dtype != dt for i in node.inputs):
            return False
        out = _shape(graph, node.outputs[0])
        axis = int(node.attrs.get("axis", 1))
        shapes = [_shape(graph, i) for i in node.inputs]
        ok = -len(out) <= axis < len(out) and all(len(s) == len(out) for s in shapes)
        if ok:
            a = axis + len(out) if axis < 0 else axis
            ok = sum(s[a] for s in shapes) == out[a] and all(
                s[:a] + s[a + 1:] == out[:a] + out[a + 1:] for s in shapes)
        if not ok:  # checked here: the copies below would address memory outside the tensors
            raise ShapeError(f"{graph.source or graph.name}: {node.describe()}: axis {axis} and input shapes "
                             f"{[list(s) for s in shapes]} do not give the declared output shape {list(out)}")
        return True

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        out = ctx.shape(node.outputs[0])
        axis = int(node.attrs.get("axis", 1))
        axis = axis + len(out) if axis < 0 else axis
        elem = storage_bytes(ctx.graph.values[node.outputs[0]].dtype)
        outer = math.prod(out[:axis])
        inner = math.prod(out[axis + 1:]) * elem
        dst_stride = out[axis] * inner
        calls, offset = [], 0
        for name in node.inputs:
            block = ctx.shape(name)[axis] * inner
            if block != 0 and outer != 0:  # (a run-time size is copied even when it is 0: a no-op)
                calls.append(f"wdn_copy_blocks({outer}, {block}, {ctx.ptr(name)}, {block}, "
                             f"(unsigned char*){ctx.ptr(node.outputs[0])} + {offset}, {dst_stride}, tid, nth);")
            offset += block
        return calls


class SplitEmitter(Emitter):
    """Split of any dtype along one axis; sizes from the `split` input/attribute, `num_outputs` or equal parts."""

    ops = ("Split",)
    symbolic = True

    def _sizes(self, node: Node, graph: Graph) -> Optional[tuple[int, list[int]]]:
        x = _shape(graph, node.inputs[0])
        axis = _axis(int(node.attrs["axis"]), len(x))
        if axis is None:
            return None
        dim = x[axis]
        n = len(node.outputs)
        if len(node.inputs) > 1 and node.inputs[1]:
            split = const_ints(graph, node.inputs[1])
            if split is None:
                return None
        elif "split" in node.attrs:
            split = [int(v) for v in node.attrs["split"]]
        elif "num_outputs" in node.attrs:
            k = int(node.attrs["num_outputs"])
            if k != n or k <= 0:
                return None
            part = -(-dim // k)
            split = [part] * (k - 1) + [dim - part * (k - 1)]
        else:
            if dim % n:
                return None
            split = [dim // n] * n
        if len(split) != n or sum(split) != dim or any(s < 0 for s in split):
            return None
        return axis, split

    def supports(self, node: Node, graph: Graph) -> bool:
        if not node.inputs or not node.inputs[0] or not all(node.outputs):
            return False
        if not all_static(graph, node.inputs[:1] + node.outputs):
            return False
        dt = graph.values[node.inputs[0]].dtype
        if any(graph.values[o].dtype != dt for o in node.outputs):
            return False
        r = self._sizes(node, graph)
        if r is None:
            return False
        axis, split = r
        x = _shape(graph, node.inputs[0])
        return all(_shape(graph, o) == x[:axis] + (s,) + x[axis + 1:] for o, s in zip(node.outputs, split))

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        axis, split = self._sizes(node, ctx.graph)
        x = ctx.shape(node.inputs[0])
        elem = storage_bytes(ctx.graph.values[node.inputs[0]].dtype)
        outer = math.prod(x[:axis])
        inner = math.prod(x[axis + 1:]) * elem
        calls, offset = [], 0
        for name, s in zip(node.outputs, split):
            block = s * inner
            if block != 0 and outer != 0:
                calls.append(f"wdn_copy_blocks({outer}, {block}, (const unsigned char*){ctx.ptr(node.inputs[0])} + {offset}, "
                             f"{x[axis] * inner}, {ctx.ptr(name)}, {block}, tid, nth);")
            offset += block
        return calls


class SliceEmitter(Emitter):
    """Slice of any dtype with constant starts/ends/axes/steps (any steps, negative included): a strided copy."""

    ops = ("Slice",)

    def _layout(self, node: Node, graph: Graph) -> Optional[tuple[list[int], list[int], int]]:
        x = _shape(graph, node.inputs[0])
        rank = len(x)
        if graph.opset_for(node.domain) < 10:
            starts, ends = node.attrs.get("starts"), node.attrs.get("ends")
            axes, steps = node.attrs.get("axes"), None
            if starts is None or ends is None:
                return None
            starts, ends = [int(v) for v in starts], [int(v) for v in ends]
            axes = None if axes is None else [int(v) for v in axes]
        else:
            ins = list(node.inputs) + [""] * (5 - len(node.inputs))
            starts, ends = const_ints(graph, ins[1]), const_ints(graph, ins[2])
            axes = const_ints(graph, ins[3]) if ins[3] else None
            steps = const_ints(graph, ins[4]) if ins[4] else None
            if starts is None or ends is None or (ins[3] and axes is None) or (ins[4] and steps is None):
                return None
        axes = list(range(len(starts))) if axes is None else axes
        steps = [1] * len(starts) if steps is None else steps
        if not len(starts) == len(ends) == len(axes) == len(steps) or 0 in steps:
            return None
        norm = [_axis(a, rank) for a in axes]
        if None in norm or len(set(norm)) != len(norm):
            return None
        strides = [math.prod(x[a + 1:]) for a in range(rank)]
        out, in_strides, offset = list(x), list(strides), 0
        for a, s, e, st in zip(norm, starts, ends, steps):
            r = range(*slice(s, e, st).indices(x[a]))
            out[a] = len(r)
            in_strides[a] = strides[a] * st
            offset += (r.start if len(r) else 0) * strides[a]
        return out, in_strides, offset

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.outputs) != 1 or not node.inputs or not node.inputs[0]:
            return False
        if not all_static(graph, [node.inputs[0], node.outputs[0]]):
            return False
        if graph.values[node.inputs[0]].dtype != graph.values[node.outputs[0]].dtype:
            return False
        lay = self._layout(node, graph)
        if lay is None or tuple(lay[0]) != _shape(graph, node.outputs[0]):
            return False
        return _collapsible(lay[0], lay[1])

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        out, in_strides, offset = self._layout(node, ctx.graph)
        return strided_copy(ctx, node.inputs[0], node.outputs[0], out, in_strides, offset)


PAD_MODES = {"constant": "WDN_PAD_CONSTANT", "reflect": "WDN_PAD_REFLECT", "edge": "WDN_PAD_EDGE",
             "wrap": "WDN_PAD_WRAP"}


def _bits(value: Any, dtype: str) -> int:
    """The pad value's bit pattern as an unsigned integer (float32: its IEEE bits)."""
    if dtype in ("float32", "float16", "bfloat16"):  # (float16/bfloat16 are stored as float32)
        return struct.unpack("<I", struct.pack("<f", float(value)))[0]
    if dtype == "float64":
        return struct.unpack("<Q", struct.pack("<d", float(value)))[0]
    bits = 8 * storage_bytes(dtype)
    return int(value) & ((1 << bits) - 1)


class PadEmitter(Emitter):
    """Pad of any dtype, modes constant/reflect/edge/wrap, constant pads (negative = crop) and value; rank <= 6
    after merging unpadded neighbours."""

    ops = ("Pad",)

    def _layout(self, node: Node, graph: Graph):
        x = _shape(graph, node.inputs[0])
        rank = len(x)
        dtype = graph.values[node.inputs[0]].dtype
        mode = str_attr(node, "mode")
        if mode not in PAD_MODES:
            return None
        if graph.opset_for(node.domain) < 11:
            pads = [int(v) for v in node.attrs.get("pads", [])]
            value = float(node.attrs["value"])
            axes = list(range(rank))
        else:
            ins = list(node.inputs) + [""] * (4 - len(node.inputs))
            pads = const_ints(graph, ins[1])
            if pads is None:
                return None
            value = 0
            if ins[2]:
                v = graph.values.get(ins[2])
                if v is None:
                    return None
                if v.const is None:  # a value computed at run time: one element, read by the kernel
                    if v.dtype != dtype or not v.is_static or math.prod(v.shape) != 1 or storage_bytes(dtype) is None:
                        return None
                    value = "runtime"
                elif np.asarray(v.const).size != 1:
                    return None
                else:
                    value = np.asarray(v.const).ravel()[0].item()
            axes = list(range(rank))
            if ins[3]:
                axes = const_ints(graph, ins[3])
                if axes is None:
                    return None
        norm = [_axis(a, rank) for a in axes]
        if None in norm or len(set(norm)) != len(norm) or len(pads) != 2 * len(norm):
            return None
        begin, end = [0] * rank, [0] * rank
        for k, a in enumerate(norm):
            begin[a], end[a] = pads[k], pads[k + len(norm)]
        out = [d + b + e for d, b, e in zip(x, begin, end)]
        if any(o < 0 for o in out):
            return None
        if mode != "constant" and any(d - max(0, -b) - max(0, -e) <= 0 and (b > 0 or e > 0)
                                      for d, b, e in zip(x, begin, end)):
            return None  # nothing to reflect / repeat
        if mode == "constant" and dtype == "bool" and value != "runtime":
            value = bool(value)
        # negative pads crop first (as the ONNX reference): x starts at the crop, each axis has n elements left
        strides = [math.prod(x[a + 1:]) for a in range(rank)]
        offset = sum(max(0, -b) * s for b, s in zip(begin, strides))
        # merge neighbouring axes without padding (rank <= 6 for the kernel): [in, out, begin, stride]
        dims: list[list[int]] = []
        for d, o, b, e, st in zip(x, out, begin, end, strides):
            n = d - max(0, -b) - max(0, -e)
            if dims and b == 0 and e == 0 and dims[-1][2] == 0 and dims[-1][0] == dims[-1][1] \
                    and dims[-1][3] == st * d:
                dims[-1][0] *= d
                dims[-1][1] *= d
                dims[-1][3] = st
            else:
                dims.append([n, o, max(0, b), st])
        if not dims:
            dims = [[1, 1, 0, 1]]
        return dims, out, mode, (value if value == "runtime" else _bits(value, dtype)), offset

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.outputs) != 1 or not node.inputs or not node.inputs[0]:
            return False
        if not all_static(graph, [node.inputs[0], node.outputs[0]]):
            return False
        if graph.values[node.inputs[0]].dtype != graph.values[node.outputs[0]].dtype:
            return False
        lay = self._layout(node, graph)
        return lay is not None and len(lay[0]) <= 6 and tuple(lay[1]) == _shape(graph, node.outputs[0])

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        dims, out, mode, bits, offset = self._layout(node, ctx.graph)
        if math.prod(out) == 0:
            return []
        elem = storage_bytes(ctx.graph.values[node.inputs[0]].dtype)
        x = ctx.ptr(node.inputs[0]) if offset == 0 else f"((const unsigned char*){ctx.ptr(node.inputs[0])} + {offset * elem})"
        pad = 6 - len(dims)
        var = ctx.fresh("pad")
        ctx.decls.append(struct_init("wdn_pad_params", var, {
            "rank": len(dims), "elem": elem, "mode": PAD_MODES[mode],
            "in_shape": c_array([d[0] for d in dims] + [1] * pad), "out_shape": c_array([d[1] for d in dims] + [1] * pad),
            "pad_begin": c_array([d[2] for d in dims] + [0] * pad), "in_stride": c_array([d[3] for d in dims] + [0] * pad),
            "value": "0ULL" if bits == "runtime" else f"{int(bits)}ULL", "x": x, "y": ctx.ptr(node.outputs[0]),
            "value_ptr": ctx.ptr(node.inputs[2]) if bits == "runtime" else "0",
        }))
        return [f"wdn_pad(&{var}, tid, nth);"]

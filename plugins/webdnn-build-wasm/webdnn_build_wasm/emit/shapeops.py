"""Shape-like ops of any dtype (csrc/shapeops.c, csrc/indexing.c): Shape, Size, EyeLike (constants known at build
time, copied), ConstantOfShape, Tile, and Split / Slice / Pad whose operands are tensors computed at run time.

Shapes are static, so the operands that only restate a planned shape (split sizes, ConstantOfShape's shape, Tile's
repeats) are checked at run time against it (wdn_check_ints: a different value is a run-time error, where the js
kernel would have produced a tensor of another shape); operands that select data (Slice starts / ends / axes /
steps, Pad pads / axes) are read by the kernel.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_static, c_array, storage_bytes, struct_init
from .movement import PAD_MODES, SplitEmitter, _bits, str_attr
from .numeric import NUM_CODES, ONNX_TYPES

INDEX = ("int32", "int64")


def _one_output(node: Node) -> Optional[str]:
    outs = [o for o in node.outputs if o]
    return outs[0] if len(outs) == 1 and outs[0] == node.outputs[0] else None


def _shape(graph: Graph, name: str) -> tuple[int, ...]:
    return tuple(graph.values[name].shape)  # type: ignore[arg-type]


def storage_array(values: np.ndarray, dtype: str) -> np.ndarray:
    """``values`` as the bytes the wasm memory holds for ``dtype`` (float16 / bfloat16 as float32, bool as 0/1)."""
    if dtype in ("float16", "bfloat16"):
        return np.asarray(values, np.float64).astype(np.float32)
    if dtype == "bool":
        return (np.asarray(values) != 0).astype(np.uint8)
    return np.asarray(values).astype(dtype)


def copy_const(ctx: EmitContext, array: np.ndarray, y: str, hint: str) -> list[str]:
    """y = a constant computed at build time (its storage bytes)."""
    if array.size == 0:
        return []
    name = ctx.add_const(np.ascontiguousarray(array), hint)
    return [f"wdn_copy_bytes({array.nbytes}, {ctx.ptr(name)}, {ctx.ptr(y)}, tid, nth);"]


def check_ints(ctx: EmitContext, name: str, expected: list[int]) -> list[str]:
    """A run-time check that the integer tensor ``name`` holds ``expected`` (constants: checked here)."""
    const = ctx.const(name)
    if const is not None:
        return []
    var = ctx.fresh("expect")
    ctx.decls.append(f"static const int64_t {var}[{max(1, len(expected))}] = "
                     f"{{{', '.join(f'{int(v)}LL' for v in expected) or '0'}}};")
    i64 = int(ctx.graph.values[name].dtype == "int64")
    return [f"wdn_check_ints({ctx.ptr(name)}, {i64}, {len(expected)}, {var}, {ctx.op_index}, tid);"]


def _int_operand(graph: Graph, name: str, count: Optional[int] = None) -> bool:
    """An int32 / int64 tensor of static shape (and ``count`` elements), constant or computed at run time."""
    if not all_static(graph, [name], INDEX):
        return False
    return count is None or math.prod(graph.values[name].shape) == count


def _const_matches(graph: Graph, name: str, expected: list[int]) -> bool:
    c = graph.values[name].const
    return c is None or [int(v) for v in np.asarray(c).ravel()] == list(expected)


class ShapeEmitter(Emitter):
    """Shape (start / end attributes) of a static shape: a constant."""

    ops = ("Shape",)

    def _dims(self, node: Node, graph: Graph) -> list[int]:
        dims = list(_shape(graph, node.inputs[0]))
        r = len(dims)

        def clamp(v: int) -> int:
            v = v + r if v < 0 else v
            return min(max(v, 0), r)

        start = clamp(int(node.attrs.get("start", 0)))  # opset 15+
        end = clamp(int(node.attrs.get("end", r)))
        return dims[start:max(start, end)]

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 1 or not node.inputs[0]:
            return False
        if not all_static(graph, [node.inputs[0]]) or not all_static(graph, [y], ("int64",)):
            return False
        return _shape(graph, y) == (len(self._dims(node, graph)),)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        return copy_const(ctx, np.asarray(self._dims(node, ctx.graph), np.int64), node.outputs[0], "shape")


class SizeEmitter(Emitter):
    ops = ("Size",)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 1 or not node.inputs[0]:
            return False
        return all_static(graph, [node.inputs[0]]) and all_static(graph, [y], ("int64",)) \
            and math.prod(_shape(graph, y)) == 1

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        n = math.prod(_shape(ctx.graph, node.inputs[0]))
        return copy_const(ctx, np.asarray([n], np.int64), node.outputs[0], "size")


class EyeLikeEmitter(Emitter):
    """EyeLike (k attribute) of a 2-D static shape, any numeric output dtype: a constant."""

    ops = ("EyeLike",)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 1 or not node.inputs[0]:
            return False
        if not all_static(graph, [node.inputs[0]]) or not all_static(graph, [y], tuple(NUM_CODES)):
            return False
        v = graph.values[node.inputs[0]]
        dt = node.attrs.get("dtype")
        out = graph.values[y]
        if dt is not None and ONNX_TYPES.get(int(dt)) != out.dtype:
            return False
        if dt is None and out.dtype != v.dtype:
            return False
        return len(v.shape) == 2 and tuple(out.shape) == tuple(v.shape)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        rows, cols = _shape(ctx.graph, node.inputs[0])
        dtype = ctx.graph.values[node.outputs[0]].dtype
        eye = np.eye(rows, cols, k=int(node.attrs["k"]))
        return copy_const(ctx, storage_array(eye, dtype), node.outputs[0], "eye")


def _fill(ctx: EmitContext, y: str, value: np.ndarray, dtype: str) -> list[str]:
    """y = value (one element) everywhere: a stride-0 expand."""
    count = math.prod(_shape(ctx.graph, y))
    if count == 0:
        return []
    v = storage_array(np.asarray(value).ravel()[:1], dtype)
    name = ctx.add_const(v, "fill")
    var = ctx.fresh("fill")
    ctx.decls.append(struct_init("wdn_expand_params", var, {
        "rank": 1, "elem": storage_bytes(dtype), "shape": c_array([count, 1, 1, 1, 1, 1]),
        "stride": c_array([0] * 6), "x": ctx.ptr(name), "y": ctx.ptr(y)}))
    return [f"wdn_expand(&{var}, tid, nth);"]


class RangeEmitter(Emitter):
    """Range of int32 / int64 with the planned output length (a size of the open dims, or a fixed one): start and
    delta are read from their scalar tensors; the length is the shape inference's, as for every planned value."""

    ops = ("Range",)
    symbolic = True  # the length is usually a size known at run time (Range(0, seq, 1))

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 3 or not all(node.inputs):
            return False
        if not all_static(graph, [*node.inputs, y], ("int32", "int64")):
            return False
        dtypes = {graph.values[n].dtype for n in [*node.inputs, y]}
        return len(dtypes) == 1 and all(not graph.values[n].shape for n in node.inputs) and len(_shape(graph, y)) == 1

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        start, limit, delta = node.inputs
        y = node.outputs[0]
        i64 = int(ctx.graph.values[y].dtype == "int64")
        return [f"wdn_range({i64}, {ctx.ptr(start)}, {ctx.ptr(limit)}, {ctx.ptr(delta)}, {ctx.shape(y)[0]}, {ctx.ptr(y)}, "
                f"{ctx.op_index}, tid, nth);"]


class ConstantOfShapeEmitter(Emitter):
    """ConstantOfShape with the planned output shape (the shape operand is checked at run time)."""

    ops = ("ConstantOfShape",)

    def _value(self, node: Node) -> Optional[np.ndarray]:
        v = node.attrs.get("value")
        if v is None:
            return np.zeros(1, np.float32)
        arr = np.asarray(v)
        return arr if arr.size == 1 else None

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 1 or not node.inputs[0]:
            return False
        if not all_static(graph, [y], tuple(NUM_CODES)):
            return False
        out = _shape(graph, y)
        if not _int_operand(graph, node.inputs[0], len(out)) or graph.values[node.inputs[0]].dtype != "int64":
            return False
        if not _const_matches(graph, node.inputs[0], list(out)):
            return False
        value = self._value(node)
        return value is not None and value.dtype.kind in "fiub"

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        y = node.outputs[0]
        dtype = ctx.graph.values[y].dtype
        return check_ints(ctx, node.inputs[0], list(_shape(ctx.graph, y))) + _fill(ctx, y, self._value(node), dtype)


class TileEmitter(Emitter):
    """Tile of any dtype (rank <= 6, wdn_tile); the repeats follow from the planned shapes (checked at run time
    when computed)."""

    ops = ("Tile",)

    @staticmethod
    def _repeats(graph: Graph, node: Node) -> Optional[list[int]]:
        x, y = _shape(graph, node.inputs[0]), _shape(graph, node.outputs[0])
        if len(x) != len(y) or not 1 <= len(x) <= 6 or any(d == 0 for d in x) or any(o % d for o, d in zip(y, x)):
            return None
        return [o // d for o, d in zip(y, x)]

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 2 or not all(node.inputs):
            return False
        if not all_static(graph, [node.inputs[0], y]) or graph.values[node.inputs[0]].dtype != graph.values[y].dtype:
            return False
        reps = self._repeats(graph, node)
        if reps is None or not _int_operand(graph, node.inputs[1], len(reps)):
            return False
        return graph.values[node.inputs[1]].dtype == "int64" and _const_matches(graph, node.inputs[1], reps)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        reps = self._repeats(ctx.graph, node)
        xs, ys = list(_shape(ctx.graph, node.inputs[0])), list(_shape(ctx.graph, node.outputs[0]))
        if math.prod(ys) == 0:
            return check_ints(ctx, node.inputs[1], reps)
        var = ctx.fresh("tile")
        pad = 6 - len(xs)
        ctx.decls.append(f"static const int {var}_in[6] = {c_array(xs + [1] * pad)};")
        ctx.decls.append(f"static const int {var}_out[6] = {c_array(ys + [1] * pad)};")
        elem = storage_bytes(ctx.graph.values[node.inputs[0]].dtype)
        return check_ints(ctx, node.inputs[1], reps) + [
            f"wdn_tile({len(xs)}, {elem}, {var}_in, {var}_out, {ctx.ptr(node.inputs[0])}, {ctx.ptr(node.outputs[0])}, "
            "tid, nth);"]


class SplitDynEmitter(SplitEmitter):
    """Split whose sizes are a tensor computed at run time: the planned output sizes, checked."""

    rank = 1  # after SplitEmitter (constant sizes)
    ops = ("Split",)

    def _sizes(self, node: Node, graph: Graph):
        if len(node.inputs) < 2 or not node.inputs[1] or graph.values[node.inputs[1]].const is not None:
            return None
        x = _shape(graph, node.inputs[0])
        axis = int(node.attrs["axis"])
        axis = axis + len(x) if axis < 0 else axis
        if not 0 <= axis < len(x) or not all(graph.values.get(o) is not None and graph.values[o].is_static
                                               for o in node.outputs):
            return None
        if not _int_operand(graph, node.inputs[1], len(node.outputs)) or graph.values[node.inputs[1]].dtype != "int64":
            return None
        split = [_shape(graph, o)[axis] if len(_shape(graph, o)) == len(x) else -1 for o in node.outputs]
        if any(s < 0 for s in split) or sum(split) != x[axis]:
            return None
        return axis, split

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        _, split = self._sizes(node, ctx.graph)
        return check_ints(ctx, node.inputs[1], split) + super().emit(node, ctx)


class SliceDynEmitter(Emitter):
    """Slice (opset 10+) whose starts / ends / axes / steps are computed at run time (int32 / int64), any dtype."""

    rank = 1  # after SliceEmitter (constant operands)
    ops = ("Slice",)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or graph.opset_for(node.domain) < 10 or not 3 <= len(node.inputs) <= 5:
            return False
        x = node.inputs[0]
        if not x or not node.inputs[1] or not node.inputs[2]:
            return False
        if not all_static(graph, [x, y]) or graph.values[x].dtype != graph.values[y].dtype:
            return False
        rank = len(_shape(graph, x))
        if not 1 <= rank <= 6 or any(d >= 2 ** 31 for d in _shape(graph, x)):
            return False
        if all(not name or graph.values[name].const is not None for name in node.inputs[1:]):
            return False  # constant operands: SliceEmitter (or the js kernel when they contradict the shapes)
        n = math.prod(_shape(graph, node.inputs[1]))
        return all(not name or (_int_operand(graph, name, n) and len(_shape(graph, name)) == 1)
                   for name in node.inputs[1:])

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        g = ctx.graph
        ins = list(node.inputs) + [""] * (5 - len(node.inputs))
        x, y = ins[0], node.outputs[0]
        xs, ys = list(_shape(g, x)), list(_shape(g, y))
        pad = 6 - len(xs)

        def op(name: str) -> tuple[str, int]:
            return (ctx.ptr(name), int(g.values[name].dtype == "int64")) if name else ("0", 0)

        (sp, si), (ep, ei), (ap, ai), (tp, ti) = (op(n) for n in ins[1:5])
        var = ctx.fresh("slice")
        ctx.decls.append(struct_init("wdn_slice_dyn_params", var, {
            "rank": len(xs), "elem": storage_bytes(g.values[x].dtype), "n": math.prod(_shape(g, ins[1])),
            "op": ctx.op_index, "in_shape": c_array(xs + [1] * pad), "out_shape": c_array(ys + [1] * pad),
            "starts": sp, "ends": ep, "axes": ap, "steps": tp,
            "starts_i64": si, "ends_i64": ei, "axes_i64": ai, "steps_i64": ti, "x": ctx.ptr(x), "y": ctx.ptr(y)}))
        return [f"wdn_slice_dyn(&{var}, tid, nth);"]


class PadDynEmitter(Emitter):
    """Pad (opset 11+) whose pads (int64) or axes are computed at run time; value constant or one element."""

    rank = 1  # after PadEmitter (constant operands)
    ops = ("Pad",)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or graph.opset_for(node.domain) < 11 or not 2 <= len(node.inputs) <= 4:
            return False
        ins = list(node.inputs) + [""] * (4 - len(node.inputs))
        x = ins[0]
        if not x or not ins[1] or str_attr(node, "mode") not in PAD_MODES:
            return False
        if not all_static(graph, [x, y]) or graph.values[x].dtype != graph.values[y].dtype:
            return False
        xs = _shape(graph, x)
        if not 1 <= len(xs) <= 6 or len(_shape(graph, y)) != len(xs) or max(xs + _shape(graph, y)) >= 2 ** 31:
            return False
        naxes = math.prod(_shape(graph, ins[3])) if ins[3] else len(xs)
        if not _int_operand(graph, ins[1], 2 * naxes) or graph.values[ins[1]].dtype != "int64":
            return False
        if graph.values[ins[1]].const is not None and (not ins[3] or graph.values[ins[3]].const is not None):
            return False  # constant operands: PadEmitter (or the js kernel when they contradict the shapes)
        if ins[3] and not _int_operand(graph, ins[3], naxes):
            return False
        if ins[2]:
            v = graph.values.get(ins[2])
            if v is None or v.dtype != graph.values[x].dtype or not v.is_static or math.prod(v.shape) != 1:
                return False
            if v.const is None and storage_bytes(v.dtype) is None:
                return False
        return True

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        g = ctx.graph
        ins = list(node.inputs) + [""] * (4 - len(node.inputs))
        x, y = ins[0], node.outputs[0]
        xs, ys = list(_shape(g, x)), list(_shape(g, y))
        if math.prod(ys) == 0:
            return []
        dtype = g.values[x].dtype
        pad = 6 - len(xs)
        strides = [math.prod(xs[a + 1:]) for a in range(len(xs))]
        bits, value_ptr = 0, "0"
        if ins[2]:
            c = g.values[ins[2]].const
            if c is None:
                value_ptr = ctx.ptr(ins[2])
            else:
                v = np.asarray(c).ravel()[0].item()
                bits = _bits(bool(v) if dtype == "bool" else v, dtype)
        naxes = math.prod(_shape(g, ins[3])) if ins[3] else len(xs)
        var = ctx.fresh("padd")
        inner = {
            "rank": len(xs), "elem": storage_bytes(dtype), "mode": PAD_MODES[str_attr(node, "mode")],
            "in_shape": c_array(xs + [1] * pad), "out_shape": c_array(ys + [1] * pad), "pad_begin": c_array([0] * 6),
            "in_stride": c_array(strides + [0] * pad), "value": f"{int(bits)}ULL", "x": ctx.ptr(x), "y": ctx.ptr(y),
            "value_ptr": value_ptr}
        body = "{" + ", ".join(f".{k} = {v}" for k, v in inner.items()) + "}"
        ctx.decls.append(struct_init("wdn_pad_dyn_params", var, {
            "pad": body, "n": naxes, "op": ctx.op_index, "pads": ctx.ptr(ins[1]),
            "axes": ctx.ptr(ins[3]) if ins[3] else "0", "axes_i64": int(bool(ins[3]) and g.values[ins[3]].dtype == "int64")}))
        return [f"wdn_pad_dyn(&{var}, tid, nth);"]


class ConstantEmitter(Emitter):
    """Constant (a tensor value of a numeric dtype, or value_float(s) / value_int(s)) left in the graph: a copy of
    its bytes."""

    ops = ("Constant",)

    @staticmethod
    def _value(node: Node) -> Optional[np.ndarray]:
        a = node.attrs
        for key, dt in (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                        ("value_int", np.int64), ("value_ints", np.int64)):
            if key in a:
                v = np.asarray(a[key]) if dt is None else np.asarray(a[key], dt)
                return v if v.dtype.kind in "fiub" else None
        return None

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or node.inputs or not all_static(graph, [y], tuple(NUM_CODES)):
            return False
        v = self._value(node)
        return v is not None and tuple(v.shape) == _shape(graph, y)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        y = node.outputs[0]
        return copy_const(ctx, storage_array(self._value(node), ctx.graph.values[y].dtype), y, "constant")


class NonZeroEmitter(Emitter):
    """NonZero of a numeric tensor with the planned count of nonzeros (checked at run time)."""

    ops = ("NonZero",)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 1 or not node.inputs[0]:
            return False
        x = node.inputs[0]
        if not all_static(graph, [x], tuple(NUM_CODES)) or not all_static(graph, [y], ("int64",)):
            return False
        xs, ys = _shape(graph, x), _shape(graph, y)
        return 1 <= len(xs) <= 6 and len(ys) == 2 and ys[0] == len(xs)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x, y = node.inputs[0], node.outputs[0]
        xs = list(_shape(ctx.graph, x))
        var = ctx.fresh("nz")
        ctx.decls.append(f"static const int {var}[6] = {c_array(xs + [1] * (6 - len(xs)))};")
        return [f"wdn_nonzero({NUM_CODES[ctx.graph.values[x].dtype]}, {len(xs)}, {var}, {ctx.ptr(x)}, "
                f"{_shape(ctx.graph, y)[1]}, {ctx.ptr(y)}, {ctx.op_index}, tid);"]

"""Data movement of any dtype (csrc/indexing.c): Reshape & co. as byte copies, Gather, GatherND, Expand.

Elements are moved as bytes of the js backend's storage size, so every dtype the wasm memory holds
(bool, int64, float32, ...) is supported. Shapes must be static; a declared output shape that does not
match the op leaves the node to the js kernel (which computes shapes itself).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from webdnn_build.codegen import broadcast_strides, collapse_axes
from webdnn_build.errors import ShapeError
from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_static, c_array, storage_bytes, struct_init

INDEX_DTYPES = ("int32", "int64")


def _one_output(node: Node) -> Optional[str]:
    outs = [o for o in node.outputs if o]
    return outs[0] if len(outs) == 1 and outs[0] == node.outputs[0] else None


def _shape(graph: Graph, name: str) -> tuple[int, ...]:
    return tuple(graph.values[name].shape)  # type: ignore[arg-type]


def _indices_in_range(graph: Graph, name: str, dims: list[int]) -> bool:
    """Constant indices (last axis cycling over ``dims``) are all in [-dim, dim); others cannot be checked."""
    const = graph.values[name].const
    if const is None:
        return True
    idx = np.asarray(const, np.int64).reshape(-1, len(dims)) if dims else np.zeros((0, 0), np.int64)
    lim = np.asarray(dims, np.int64)
    return bool(np.all((idx >= -lim) & (idx < lim)))


class CopyEmitter(Emitter):
    """Reshape, Flatten, Squeeze, Unsqueeze, Identity of any dtype: the same bytes under a new shape."""
    rank = 1  # after UnaryEmitter: a Reshape it can alias needs no copy

    ops = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")
    symbolic = True

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or not node.inputs or not node.inputs[0] or not all_static(graph, [node.inputs[0], y]):
            return False
        x, out = graph.values[node.inputs[0]], graph.values[y]
        return x.dtype == out.dtype and math.prod(x.shape) == math.prod(out.shape)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x = node.inputs[0]
        nbytes = math.prod(ctx.shape(x)) * storage_bytes(ctx.graph.values[x].dtype)
        return [f"wdn_copy_bytes({nbytes}, {ctx.ptr(x)}, {ctx.ptr(node.outputs[0])}, tid, nth);"]


class GatherEmitter(Emitter):
    """Gather along any axis; indices int32/int64, negative ones count from the end. Only the gathered
    rows are read (an embedding table stays in the weight region)."""

    ops = ("Gather",)
    symbolic = True  # the indices' count may be known at run time only

    @staticmethod
    def _axis(node: Node, rank: int) -> Optional[int]:
        axis = int(node.attrs["axis"])
        axis = axis + rank if axis < 0 else axis
        return axis if 0 <= axis < rank else None

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 2 or not all(node.inputs):
            return False
        data, idx = node.inputs
        if not all_static(graph, [data, y]) or not all_static(graph, [idx], INDEX_DTYPES):
            return False
        if graph.values[data].dtype != graph.values[y].dtype:
            return False
        d, i = _shape(graph, data), _shape(graph, idx)
        axis = self._axis(node, len(d))
        if axis is None or _shape(graph, y) != d[:axis] + i + d[axis + 1:]:
            return False
        return _indices_in_range(graph, idx, [d[axis]])  # out of range: the js kernel reports it

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        data, idx = node.inputs
        d, i = ctx.shape(data), ctx.shape(idx)
        axis = self._axis(node, len(d))
        assert axis is not None
        row_bytes = math.prod(d[axis + 1:]) * storage_bytes(ctx.graph.values[data].dtype)
        i64 = int(ctx.graph.values[idx].dtype == "int64")
        return [f"wdn_gather({math.prod(d[:axis])}, {d[axis]}, {row_bytes}, {ctx.ptr(data)}, {ctx.ptr(idx)}, {i64}, "
                f"{math.prod(i)}, {ctx.ptr(node.outputs[0])}, {ctx.op_index}, tid, nth);"]


class GatherNDEmitter(Emitter):
    """GatherND with any batch_dims; index tuples of up to WDN_GATHER_ND_MAXK (8) entries."""

    ops = ("GatherND",)
    MAXK = 8

    def _layout(self, node: Node, graph: Graph):
        data, idx = node.inputs
        d, i = _shape(graph, data), _shape(graph, idx)
        b = int(node.attrs.get("batch_dims", 0))  # opset 12+
        if not i or b < 0 or b >= len(i):
            return None
        k = i[-1]
        if k > self.MAXK or b + k > len(d) or i[:b] != d[:b]:
            return None
        return d, i, b, k

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 2 or not all(node.inputs):
            return False
        data, idx = node.inputs
        if not all_static(graph, [data, y]) or not all_static(graph, [idx], INDEX_DTYPES):
            return False
        if graph.values[data].dtype != graph.values[y].dtype:
            return False
        lay = self._layout(node, graph)
        if lay is None:
            return False
        d, i, b, k = lay
        if _shape(graph, y) != i[:-1] + d[b + k:]:
            return False
        return _indices_in_range(graph, idx, list(d[b:b + k]))

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        data, idx = node.inputs
        d, i, b, k = self._layout(node, ctx.graph)
        elem = storage_bytes(ctx.graph.values[data].dtype)
        dims = list(d[b:b + k])
        strides = [math.prod(d[b + q + 1:]) * elem for q in range(k)]
        var = ctx.fresh("gnd")
        ctx.decls.append(struct_init("wdn_gather_nd_params", var, {
            "batch": math.prod(d[:b]), "tuples": math.prod(i[b:-1]), "k": k,
            "dims": c_array(dims + [0] * (self.MAXK - k)), "strides": c_array(strides + [0] * (self.MAXK - k)),
            "slice_bytes": math.prod(d[b + k:]) * elem, "batch_bytes": math.prod(d[b:]) * elem,
            "data": ctx.ptr(data), "indices": ctx.ptr(idx), "idx_i64": int(ctx.graph.values[idx].dtype == "int64"),
            "y": ctx.ptr(node.outputs[0]), "op": ctx.op_index,
        }))
        return [f"wdn_gather_nd(&{var}, tid, nth);"]


class ExpandEmitter(Emitter):
    """Expand of any dtype to the (static) output shape."""

    ops = ("Expand",)
    symbolic = True

    @staticmethod
    def _dims(node: Node, graph: Graph):
        x, y = _shape(graph, node.inputs[0]), _shape(graph, node.outputs[0])
        try:
            sx = broadcast_strides(x, y)
        except ShapeError:
            return None
        out = [math.prod(y[a + 1:]) for a in range(len(y))]
        dims, (sx, _) = collapse_axes(y, [sx, out], keep_one=True)
        return (dims, sx) if len(dims) <= 6 else None

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 2 or not node.inputs[0] or not all_static(graph, [node.inputs[0], y]):
            return False
        if graph.values[node.inputs[0]].dtype != graph.values[y].dtype:
            return False
        shape = graph.values[node.inputs[1]].const if node.inputs[1] in graph.values else None
        if shape is not None:  # the output is broadcast(x, shape): check the declared one
            try:
                full = np.broadcast_shapes(_shape(graph, node.inputs[0]), tuple(int(v) for v in np.ravel(shape)))
            except ValueError:
                return False
            if tuple(full) != _shape(graph, y):
                return False
        return self._dims(node, graph) is not None

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        dims, sx = self._dims(node, ctx.graph)
        pad = 6 - len(dims)
        var = ctx.fresh("expand")
        ctx.decls.append(struct_init("wdn_expand_params", var, {
            "rank": len(dims), "elem": storage_bytes(ctx.graph.values[node.inputs[0]].dtype),
            "shape": c_array(dims + [1] * pad), "stride": c_array(sx + [0] * pad),
            "x": ctx.ptr(node.inputs[0]), "y": ctx.ptr(node.outputs[0]),
        }))
        return [f"wdn_expand(&{var}, tid, nth);"]


def _merge_gather_elements(d, i, axis):
    """Shapes of data and indices with each non-axis dim that indices cover fully merged into its outer neighbour
    (a dense row-major view of both: merged dims keep a single data stride), and the new axis."""
    dd: list[int] = []
    ii: list[int] = []
    ax = -1
    for k, (dk, ik) in enumerate(zip(d, i)):
        if k != axis and dd and ax != len(dd) - 1 and ik == dk:
            dd[-1] *= dk
            ii[-1] *= ik
            continue
        if k == axis:
            ax = len(dd)
        dd.append(dk)
        ii.append(ik)
    return dd, ii, ax


class GatherElementsEmitter(Emitter):
    """GatherElements of any dtype along any axis; int32/int64 indices, negative ones count from the end; an index
    out of range at run time is a run-time error (reported as Gather's: kind WDN_ERR_GATHER_INDEX). Rank <= 6 after
    merging the dims the indices cover fully."""

    ops = ("GatherElements",)

    def supports(self, node: Node, graph: Graph) -> bool:
        y = _one_output(node)
        if y is None or len(node.inputs) != 2 or not all(node.inputs):
            return False
        data, idx = node.inputs
        if not all_static(graph, [data, y]) or not all_static(graph, [idx], INDEX_DTYPES):
            return False
        if graph.values[data].dtype != graph.values[y].dtype or storage_bytes(graph.values[data].dtype) is None:
            return False
        d, i = _shape(graph, data), _shape(graph, idx)
        axis = GatherEmitter._axis(node, len(d))
        if axis is None or len(i) != len(d) or not d or len(_merge_gather_elements(d, i, axis)[0]) > 6 \
                or _shape(graph, y) != i:
            return False
        if any(a > b for k, (a, b) in enumerate(zip(i, d)) if k != axis):
            return False
        return _indices_in_range(graph, idx, [d[axis]])

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        data, idx = node.inputs
        d, i = ctx.shape(data), ctx.shape(idx)
        if math.prod(i) == 0:
            return []
        d, i, axis = _merge_gather_elements(d, i, GatherEmitter._axis(node, len(d)))
        strides = [math.prod(d[k + 1:]) for k in range(len(d))]
        pad = 6 - len(d)
        var = ctx.fresh("gel")
        ctx.decls.append(struct_init("wdn_gather_elements_params", var, {
            "rank": len(d), "elem": storage_bytes(ctx.graph.values[data].dtype),
            "idx_i64": int(ctx.graph.values[idx].dtype == "int64"), "op": ctx.op_index,
            "shape": c_array(list(i) + [1] * pad),
            "stride": c_array([0 if k == axis else s for k, s in enumerate(strides)] + [0] * pad),
            "axis_dim": d[axis], "axis_stride": strides[axis],
            "data": ctx.ptr(data), "indices": ctx.ptr(idx), "y": ctx.ptr(node.outputs[0])}))
        return [f"wdn_gather_elements(&{var}, tid, nth);"]

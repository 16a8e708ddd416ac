"""Reduce* over any axes (csrc/reduce.c) and ArgMax / ArgMin.

Axes come from the `axes` attribute or a constant `axes` input; an empty or absent list reduces all axes,
or none with ``noop_with_empty_axes`` (each output is then the op applied to one element, as the js
kernel and the ONNX reference do). An `axes` input computed at run time (a 1-D int64 tensor of static
length) is read by the kernel (wdn_reduce_dyn), which builds the same layout and checks that it gives the
planned output shape. float32 and float64 (scalar, in double) for every op; int32/int64 for Sum/Max/Min/Prod
(wrapping); bool, uint8, int8, float16 and bfloat16 (stored as float32) for Max/Min.
"""

from __future__ import annotations

import math
from typing import Optional

from webdnn_build.ir import Graph, Node

from .base import DT_CODES, EmitContext, Emitter, all_static, c_array, struct_init
from .movement import const_ints

REDUCE_OPS = {"ReduceSum": "WDN_RED_SUM", "ReduceMean": "WDN_RED_MEAN", "ReduceMax": "WDN_RED_MAX",
              "ReduceMin": "WDN_RED_MIN", "ReduceProd": "WDN_RED_PROD", "ReduceL1": "WDN_RED_L1",
              "ReduceL2": "WDN_RED_L2", "ReduceLogSum": "WDN_RED_LOGSUM", "ReduceLogSumExp": "WDN_RED_LOGSUMEXP",
              "ReduceSumSquare": "WDN_RED_SUMSQ"}
INT_OPS = ("ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd")
BYTE_OPS = ("ReduceMax", "ReduceMin")


def _merge(axes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(dim, stride) pairs, outermost first: drop size-1 axes, merge contiguous neighbours; [(1, 0)] if none."""
    out: list[tuple[int, int]] = []
    for d, s in axes:
        if d == 1:
            continue
        if out and out[-1][1] == s * d:
            out[-1] = (out[-1][0] * d, s)
        else:
            out.append((d, s))
    return out or [(1, 0)]


class ReduceEmitter(Emitter):
    ops = tuple(REDUCE_OPS)

    @staticmethod
    def _runtime_axes(node: Node, graph: Graph) -> Optional[int]:
        """The length of an `axes` input known only at run time (1-D int64, static length), else None."""
        if len(node.inputs) < 2 or not node.inputs[1] or const_ints(graph, node.inputs[1]) is not None:
            return None
        v = graph.values.get(node.inputs[1])
        if v is None or v.dtype != "int64" or not v.is_static or len(v.shape) != 1:
            return None
        return int(v.shape[0])

    def _layout(self, node: Node, graph: Graph):
        x = tuple(graph.values[node.inputs[0]].shape)
        rank = len(x)
        if len(node.inputs) > 1 and node.inputs[1]:
            axes = const_ints(graph, node.inputs[1])
            if axes is None:
                if self._runtime_axes(node, graph) != 0:
                    return None
                axes = []  # an empty axes tensor: its values are known
        else:
            axes = [int(a) for a in node.attrs.get("axes", [])]
        if not axes:
            axes = [] if node.attrs.get("noop_with_empty_axes") else list(range(rank))  # opset 13/18+
        norm = [a + rank if a < 0 else a for a in axes]
        if any(not 0 <= a < rank for a in norm):
            return None
        red = set(norm)
        strides = [math.prod(x[a + 1:]) for a in range(rank)]
        kept = _merge([(x[a], strides[a]) for a in range(rank) if a not in red])
        rdims = _merge([(x[a], strides[a]) for a in range(rank) if a in red])
        if int(node.attrs["keepdims"]):
            out = tuple(1 if a in red else x[a] for a in range(rank))
        else:
            out = tuple(x[a] for a in range(rank) if a not in red)
        return kept, rdims, out

    def _dynamic_ok(self, node: Node, graph: Graph, naxes: int) -> bool:
        """Run-time axes: the planned output must be one that some choice of `naxes` axes gives."""
        x = tuple(graph.values[node.inputs[0]].shape)
        y = tuple(graph.values[node.outputs[0]].shape)
        if len(x) > 6 or naxes > len(x):
            return False
        if int(node.attrs["keepdims"]):
            return len(y) == len(x) and all(b in (a, 1) for a, b in zip(x, y))
        return len(y) == len(x) - naxes

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.outputs) != 1 or not node.inputs or not node.inputs[0] or "fused_activation" in node.attrs:
            return False
        dtypes = ("float32", "float64", "int32", "int64") if node.op_type in INT_OPS else ("float32", "float64")
        if node.op_type in BYTE_OPS:  # (float16 / bfloat16 are stored as float32: a max / min needs no rounding)
            dtypes += ("bool", "uint8", "int8", "float16", "bfloat16")
        if not all_static(graph, [node.inputs[0], node.outputs[0]], dtypes):
            return False
        if graph.values[node.inputs[0]].dtype != graph.values[node.outputs[0]].dtype:
            return False
        naxes = self._runtime_axes(node, graph)
        if naxes:
            return self._dynamic_ok(node, graph, naxes)
        lay = self._layout(node, graph)
        if lay is None:
            return False
        kept, rdims, out = lay
        return len(kept) <= 6 and len(rdims) <= 6 and out == tuple(graph.values[node.outputs[0]].shape)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        codes = {**DT_CODES, "float64": "WDN_DT_F64", "float16": "WDN_DT_F32", "bfloat16": "WDN_DT_F32"}
        dtype = codes[ctx.graph.values[node.inputs[0]].dtype]
        naxes = self._runtime_axes(node, ctx.graph)
        if naxes:
            x, y = ctx.shape(node.inputs[0]), ctx.shape(node.outputs[0])
            var = ctx.fresh("red")
            ctx.decls.append(struct_init("wdn_reduce_dyn_params", var, {
                "op": REDUCE_OPS[node.op_type], "dtype": dtype, "rank": len(x), "naxes": naxes,
                "noop": int(bool(node.attrs.get("noop_with_empty_axes"))),
                "keepdims": int(bool(node.attrs["keepdims"])), "yrank": len(y), "op_index": ctx.op_index,
                "xshape": c_array(list(x) + [1] * (6 - len(x))), "yshape": c_array(list(y) + [1] * (6 - len(y))),
                "axes": ctx.ptr(node.inputs[1]), "x": ctx.ptr(node.inputs[0]), "y": ctx.ptr(node.outputs[0]),
            }))
            return [f"wdn_reduce_dyn(&{var}, tid, nth);"]
        kept, rdims, _ = self._layout(node, ctx.graph)
        if math.prod(d for d, _ in kept) == 0:
            return []
        var = ctx.fresh("red")
        ctx.decls.append(struct_init("wdn_reduce_params", var, {
            "op": REDUCE_OPS[node.op_type], "dtype": dtype,
            "nk": len(kept), "nr": len(rdims),
            "kshape": c_array([d for d, _ in kept] + [1] * (6 - len(kept))),
            "kstride": c_array([s for _, s in kept] + [0] * (6 - len(kept))),
            "rshape": c_array([d for d, _ in rdims] + [1] * (6 - len(rdims))),
            "rstride": c_array([s for _, s in rdims] + [0] * (6 - len(rdims))),
            "x": ctx.ptr(node.inputs[0]), "y": ctx.ptr(node.outputs[0]),
        }))
        return [f"wdn_reduce(&{var}, tid, nth);"]


class ArgExtremeEmitter(Emitter):
    """ArgMax / ArgMin of float32 / int32 / int64 along one axis, keepdims, select_last_index -> int64."""

    ops = ("ArgMax", "ArgMin")

    def _layout(self, node: Node, graph: Graph) -> Optional[tuple[int, int, int, tuple[int, ...]]]:
        x = tuple(graph.values[node.inputs[0]].shape)
        rank = len(x)
        axis = int(node.attrs["axis"])
        axis = axis + rank if axis < 0 else axis
        if not 0 <= axis < rank:
            return None
        if int(node.attrs["keepdims"]):
            out = x[:axis] + (1,) + x[axis + 1:]
        else:
            out = x[:axis] + x[axis + 1:]
        return math.prod(x[:axis]), x[axis], math.prod(x[axis + 1:]), out

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.outputs) != 1 or len(node.inputs) != 1 or not node.inputs[0]:
            return False
        if not all_static(graph, node.inputs[:1], ("float32", "int32", "int64")):
            return False
        if not all_static(graph, node.outputs, ("int64",)):
            return False
        lay = self._layout(node, graph)
        return lay is not None and lay[1] > 0 and lay[3] == tuple(graph.values[node.outputs[0]].shape)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        outer, dim, inner, _ = self._layout(node, ctx.graph)
        return [f"wdn_argextreme({DT_CODES[ctx.graph.values[node.inputs[0]].dtype]}, {int(node.op_type == 'ArgMin')}, "
                f"{int(bool(node.attrs.get('select_last_index')))}, {outer}, {dim}, {inner}, "
                f"{ctx.ptr(node.inputs[0])}, {ctx.ptr(node.outputs[0])}, tid, nth);"]

"""Data movement and per-channel ops: Transpose (float32 kernel; other dtypes as strided byte copies), LRN,
BatchNormalization (unfolded). Concat: movement.py."""

from __future__ import annotations

import math

import numpy as np

from webdnn_build.ir import Graph, Node

from webdnn_build.codegen import collapse_axes
from webdnn_build.numerics import batchnorm_affine

from .base import (EmitContext, Emitter, act_struct, all_float32_static, all_static, c_array, cfloat, storage_bytes,
                   struct_init, supported_activation)


class TransposeEmitter(Emitter):
    ops = ("Transpose",)
    symbolic = True  # (its shape and stride tables then become segment locals)

    def supports(self, node: Node, graph: Graph) -> bool:
        return all_float32_static(graph, node.inputs + node.outputs) and len(graph.values[node.inputs[0]].shape) <= 6

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x = ctx.shape(node.inputs[0])
        rank = len(x)
        perm = node.attrs.get("perm", list(range(rank))[::-1])
        strides = [math.prod(x[i + 1:]) for i in range(rank)]
        out_shape = [x[p] for p in perm]
        in_strides = [strides[p] for p in perm]
        var = ctx.fresh("tr")
        ctx.decls.append(f"static const int {var}_shape[6] = {{{', '.join(map(str, out_shape + [1] * (6 - rank)))}}};")
        ctx.decls.append(f"static const int {var}_strides[6] = {{{', '.join(map(str, in_strides + [0] * (6 - rank)))}}};")
        return [f"wdn_transpose_f32({rank}, {var}_shape, {var}_strides, {ctx.ptr(node.inputs[0])}, "
                f"{ctx.ptr(node.outputs[0])}, tid, nth);"]


class TransposeAnyEmitter(Emitter):
    """Transpose of any other dtype (int64 shape math, bool masks, float16 ...): a strided byte copy (wdn_expand)
    over the permuted axes, rank <= 6 after merging axes that stay contiguous."""

    rank = 1  # after TransposeEmitter (float32)
    ops = ("Transpose",)

    @staticmethod
    def _layout(node: Node, graph: Graph):
        x = tuple(graph.values[node.inputs[0]].shape)
        rank = len(x)
        perm = [int(p) for p in node.attrs.get("perm", list(range(rank))[::-1])]
        if sorted(p % rank if rank else p for p in perm) != list(range(rank)):
            return None
        perm = [p % rank for p in perm]
        strides = [math.prod(x[i + 1:]) for i in range(rank)]
        out = [x[p] for p in perm]
        dense = [math.prod(out[i + 1:]) for i in range(rank)]
        dims, (sx, _) = collapse_axes(out, [[strides[p] for p in perm], dense], keep_one=True)
        return (out, dims, sx) if len(dims) <= 6 else None

    def supports(self, node: Node, graph: Graph) -> bool:
        outs = [o for o in node.outputs if o]
        if len(node.inputs) != 1 or not node.inputs[0] or len(outs) != 1 or outs[0] != node.outputs[0]:
            return False
        if not all_static(graph, [node.inputs[0], outs[0]]):
            return False
        x, y = graph.values[node.inputs[0]], graph.values[outs[0]]
        if x.dtype != y.dtype or storage_bytes(x.dtype) not in (1, 2, 4, 8):
            return False
        lay = self._layout(node, graph)
        return lay is not None and tuple(lay[0]) == tuple(y.shape)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        out, dims, sx = self._layout(node, ctx.graph)
        if math.prod(out) == 0:
            return []
        pad = 6 - len(dims)
        var = ctx.fresh("trany")
        ctx.decls.append(struct_init("wdn_expand_params", var, {
            "rank": len(dims), "elem": storage_bytes(ctx.graph.values[node.inputs[0]].dtype),
            "shape": c_array(dims + [1] * pad), "stride": c_array(sx + [0] * pad),
            "x": ctx.ptr(node.inputs[0]), "y": ctx.ptr(node.outputs[0])}))
        return [f"wdn_expand(&{var}, tid, nth);"]


class LRNEmitter(Emitter):
    ops = ("LRN",)

    def supports(self, node: Node, graph: Graph) -> bool:
        return all_float32_static(graph, node.inputs + node.outputs) and len(graph.values[node.inputs[0]].shape) >= 3

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x = ctx.shape(node.inputs[0])
        a = node.attrs
        return [f"wdn_lrn_f32({x[0]}, {x[1]}, {math.prod(x[2:])}, {int(a['size'])}, {cfloat(a['alpha'])}, "
                f"{cfloat(a['beta'])}, {cfloat(a['bias'])}, {ctx.ptr(node.inputs[0])}, "
                f"{ctx.ptr(node.outputs[0])}, tid, nth);"]


class BatchNormEmitter(Emitter):
    """Inference BatchNormalization with constant statistics: y = x * scale' + shift' per channel."""

    ops = ("BatchNormalization",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len([o for o in node.outputs if o]) != 1 or node.attrs.get("training_mode"):  # opset 14+
            return False
        if not all(graph.values[n].is_const for n in node.inputs[1:5]):
            return False
        return all_float32_static(graph, node.inputs[:1] + node.outputs[:1]) and supported_activation(node.attrs)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        s, t = batchnorm_affine(*(ctx.const(n) for n in node.inputs[1:5]), node.attrs["epsilon"])
        s_name = ctx.add_const(s, "bn_scale")
        t_name = ctx.add_const(t, "bn_shift")
        x = ctx.shape(node.inputs[0])
        return [f"wdn_channel_affine_f32({x[0]}, {x[1]}, {math.prod(x[2:])}, {ctx.ptr(node.inputs[0])}, {ctx.ptr(s_name)}, "
                f"{ctx.ptr(t_name)}, {ctx.ptr(node.outputs[0])}, (wdn_act){act_struct(node.attrs)}, tid, nth);"]

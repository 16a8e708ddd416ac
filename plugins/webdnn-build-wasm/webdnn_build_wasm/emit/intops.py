"""Integer bit ops and Mod on every integer dtype (csrc/intops.c): BitShift, BitwiseAnd/Or/Xor/Not, integer Mod
(fmod 0 or 1), with broadcasting; and Trilu of any dtype. Results equal the js kernels' (elementwise.js,
shape.js) bit for bit."""

from __future__ import annotations

import math

import numpy as np

from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_static, c_array, storage_bytes, struct_init
from .logical import broadcast_layout

INT_TYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")
IOPS = {"BitwiseAnd": "WDN_IOP_AND", "BitwiseOr": "WDN_IOP_OR", "BitwiseXor": "WDN_IOP_XOR",
        "BitwiseNot": "WDN_IOP_NOT"}


def _op_code(node: Node) -> str | None:
    if node.op_type == "BitShift":
        return {"LEFT": "WDN_IOP_SHL", "RIGHT": "WDN_IOP_SHR"}.get(node.attrs.get("direction"))
    if node.op_type == "Mod":
        return "WDN_IOP_FMOD" if node.attrs["fmod"] else "WDN_IOP_MOD"
    return IOPS.get(node.op_type)


class IntBitEmitter(Emitter):
    ops = ("BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "Mod")

    def supports(self, node: Node, graph: Graph) -> bool:
        n_in = 1 if node.op_type == "BitwiseNot" else 2
        outs = [o for o in node.outputs if o]
        if _op_code(node) is None or len(node.inputs) != n_in or not all(node.inputs) or len(outs) != 1 \
                or outs[0] != node.outputs[0]:
            return False
        if not all_static(graph, node.inputs + outs, INT_TYPES) or storage_bytes(graph.values[outs[0]].dtype) is None:
            return False
        if {graph.values[n].dtype for n in node.inputs + outs} != {graph.values[outs[0]].dtype}:
            return False
        if storage_bytes(graph.values[outs[0]].dtype) not in (1, 2, 4, 8):
            return False
        return broadcast_layout(graph, node.inputs, outs[0]) is not None

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        y = node.outputs[0]
        dtype = ctx.graph.values[y].dtype
        dims, strides = broadcast_layout(ctx.graph, node.inputs, y)
        sa = strides[0]
        sb = strides[1] if len(strides) > 1 else [0] * len(dims)
        pad = 6 - len(dims)
        var = ctx.fresh("iop")
        ctx.decls.append(struct_init("wdn_int_binary_params", var, {
            "op": _op_code(node), "elem": storage_bytes(dtype), "is_signed": int(not dtype.startswith("u")),
            "rank": len(dims), "shape": c_array(dims + [1] * pad), "stride_a": c_array(sa + [0] * pad),
            "stride_b": c_array(sb + [0] * pad), "a": ctx.ptr(node.inputs[0]),
            "b": ctx.ptr(node.inputs[1]) if len(node.inputs) > 1 else "0", "y": ctx.ptr(y)}))
        return [f"wdn_int_binary(&{var}, tid, nth);"]


class TriluEmitter(Emitter):
    """Trilu of any dtype stored in wasm memory; k constant or a one-element int64 computed at run time."""

    ops = ("Trilu",)

    def supports(self, node: Node, graph: Graph) -> bool:
        outs = [o for o in node.outputs if o]
        if not node.inputs or not node.inputs[0] or len(outs) != 1 or len(node.inputs) > 2:
            return False
        if not all_static(graph, [node.inputs[0], outs[0]]):
            return False
        x, y = graph.values[node.inputs[0]], graph.values[outs[0]]
        if x.dtype != y.dtype or tuple(x.shape) != tuple(y.shape) or len(x.shape) < 2 \
                or storage_bytes(x.dtype) not in (1, 2, 4, 8):
            return False
        k = node.inputs[1] if len(node.inputs) > 1 else ""
        return not k or (all_static(graph, [k], ("int64",)) and math.prod(graph.values[k].shape) == 1)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        shape = ctx.shape(node.inputs[0])
        if math.prod(shape) == 0:
            return []
        k = node.inputs[1] if len(node.inputs) > 1 else ""
        kc = ctx.const(k) if k else None
        var = ctx.fresh("trilu")
        ctx.decls.append(struct_init("wdn_trilu_params", var, {
            "mats": math.prod(shape[:-2]), "rows": shape[-2], "cols": shape[-1],
            "elem": storage_bytes(ctx.graph.values[node.inputs[0]].dtype), "upper": int(node.attrs["upper"] != 0),
            "k": f"{int(np.asarray(kc).ravel()[0])}LL" if kc is not None else "0",
            "k_ptr": ctx.ptr(k) if k and kc is None else "0",
            "x": ctx.ptr(node.inputs[0]), "y": ctx.ptr(node.outputs[0])}))
        return [f"wdn_trilu(&{var}, tid, nth);"]

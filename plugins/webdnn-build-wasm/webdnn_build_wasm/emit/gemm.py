"""Gemm and MatMul (2-D, or batched with a shared 2-D right operand / equal batches) → wdn_gemm_f32."""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import (EmitContext, Emitter, act_struct, all_float32_static, cfloat, prepared_buffer, struct_init,
                   supported_activation)


#: a constant B is packed once at load (wdn_prepare) when M is at most this: the run-time packing of B
#: costs K·N copies per call against M·K·N multiply-adds, a third of the GEMM at the 16-token M of a
#: sentence encoder and nothing at M in the hundreds (conv nets, long sequences)
PREPACK_MAX_M = 64
#: packed copies take wasm memory next to the weights: at most this much per model
PREPACK_BUDGET = 64 << 20


def _packed_b(ctx: EmitContext, b: str, k: int, n: int, trans_b: int) -> str:
    """A static buffer holding the constant ``b`` packed for wdn_gemm_core, filled at wdn_prepare; "0" when
    the budget is spent."""
    buf = prepared_buffer(ctx, f"{b}/{trans_b}", f"WDN_GEMM_PREPACKED_FLOATS({k}, {n})", 4 * k * ((n + 7) // 8 * 8),
                          PREPACK_BUDGET, f"wdn_gemm_prepack_b({ctx.ptr(b)}, {k}, {n}, {trans_b}, {{buf}});")
    return buf or "0"


def _gemm_call(ctx: EmitContext, fields: dict, b_name: str = "") -> str:
    """``b_name``: the value B comes from, when it is the whole of a constant 2-D value (it may be prepacked)."""
    var = ctx.fresh("gemm")
    m = fields["m"]  # a size known at run time (symbolic.CExpr): packed at load, whatever M turns out to be
    if b_name and ctx.fixed(b_name) and (not isinstance(m, int) or 2 <= m <= PREPACK_MAX_M):
        fields = {**fields, "packed_b": _packed_b(ctx, b_name, fields["k"], fields["n"], fields.get("trans_b", 0))}
    ctx.scratch.append(f"WDN_GEMM_SCRATCH_BYTES({fields['m']}, {fields['n']}, {fields['k']})")
    base = {"bias": "0", "bias_kind": 0, "alpha": "1.0f", "beta": "1.0f", "residual": "0",
            "scratch": "wdn_scratch", "scratch_stride": "WDN_SCRATCH_STRIDE", "act": "{WDN_ACT_NONE, 0.f, 0.f}",
            "trans_a": 0, "trans_b": 0}
    base.update(fields)
    ctx.decls.append(struct_init("wdn_gemm_params", var, base))
    return f"wdn_gemm_f32(&{var}, tid, nth);"


class GemmEmitter(Emitter):
    ops = ("Gemm",)
    symbolic = True  # M may be a size known at run time

    def supports(self, node: Node, graph: Graph) -> bool:
        return all_float32_static(graph, node.inputs + node.outputs) and supported_activation(node.attrs)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        ta, tb = int(node.attrs["transA"]), int(node.attrs["transB"])
        a_shape, b_shape = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
        m, k = (a_shape[1], a_shape[0]) if ta else a_shape
        n = b_shape[0] if tb else b_shape[1]
        fields = {"m": m, "n": n, "k": k, "trans_a": ta, "trans_b": tb, "a": ctx.ptr(node.inputs[0]),
                  "b": ctx.ptr(node.inputs[1]), "y": ctx.ptr(node.outputs[0]),
                  "alpha": cfloat(node.attrs["alpha"]), "beta": cfloat(node.attrs["beta"]),
                  "act": act_struct(node.attrs)}
        if len(node.inputs) > 2 and node.inputs[2]:
            c_shape = ctx.shape(node.inputs[2])
            size = math.prod(c_shape)
            if size == 1:
                kind = 4
            elif size == m * n and len(c_shape) == 2 and c_shape[0] == m:
                kind = 3
            elif c_shape[-1] == n and size == n:
                kind = 2
            else:  # [m, 1]
                kind = 1
            fields.update(bias=ctx.ptr(node.inputs[2]), bias_kind=kind)
        return [_gemm_call(ctx, fields, node.inputs[1])]


class MatMulEmitter(Emitter):
    ops = ("MatMul",)
    symbolic = True  # M, and K / N of a batched product, may be sizes known at run time

    def supports(self, node: Node, graph: Graph) -> bool:
        if not all_float32_static(graph, node.inputs + node.outputs) or not supported_activation(node.attrs):
            return False
        a, b = graph.values[node.inputs[0]].shape, graph.values[node.inputs[1]].shape
        if len(a) < 2 or len(b) < 2:
            return False
        return len(b) == 2 or (len(a) == len(b) and tuple(a[:-2]) == tuple(b[:-2]))

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        a_shape, b_shape = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
        k, n = b_shape[-2], b_shape[-1]
        common = {"k": k, "n": n, "act": act_struct(node.attrs)}
        if len(b_shape) == 2:  # fold A's batch dims into M
            m = math.prod(a_shape[:-1])
            return [_gemm_call(ctx, {**common, "m": m, "a": ctx.ptr(node.inputs[0]), "b": ctx.ptr(node.inputs[1]),
                                     "y": ctx.ptr(node.outputs[0])}, node.inputs[1])]
        m = a_shape[-2]
        calls = []
        for i in range(math.prod(a_shape[:-2])):
            calls.append(_gemm_call(ctx, {
                **common, "m": m,
                "a": f"({ctx.ptr(node.inputs[0])} + {i * m * k})", "b": f"({ctx.ptr(node.inputs[1])} + {i * k * n})",
                "y": f"({ctx.ptr(node.outputs[0])} + {i * m * n})"}))
        return calls

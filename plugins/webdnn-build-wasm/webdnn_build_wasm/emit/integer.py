"""Integer arithmetic on int32 / int64 (csrc/logical.c): Add, Sub, Mul, Div, Max, Min with broadcasting,
Neg and Abs. Results wrap modulo 2^bits and Div truncates toward zero with x / 0 = 0, as in the js kernels."""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import DT_CODES, EmitContext, Emitter, all_static
from .logical import binary_supports, typed_binary

INT_DTYPES = ("int32", "int64")
INT_BINARY = {"Add": "WDN_BIN_ADD", "Sub": "WDN_BIN_SUB", "Mul": "WDN_BIN_MUL", "Div": "WDN_BIN_DIV",
              "Max": "WDN_BIN_MAX", "Min": "WDN_BIN_MIN"}
INT_UNARY = {"Neg": "WDN_UT_NEG", "Abs": "WDN_UT_ABS"}


class IntBinaryEmitter(Emitter):
    rank = 1  # after the float32 emitter of the same ops
    ops = tuple(INT_BINARY)
    symbolic = True

    def supports(self, node: Node, graph: Graph) -> bool:
        if node.attrs.get("fused_activation"):
            return False
        return binary_supports(node, graph, INT_DTYPES, None)  # Max/Min: two inputs only

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        return typed_binary(node, ctx, INT_BINARY[node.op_type], ctx.graph.values[node.inputs[0]].dtype)


class IntUnaryEmitter(Emitter):
    rank = 1  # after the float32 emitter of the same ops
    ops = tuple(INT_UNARY)
    symbolic = True

    def supports(self, node: Node, graph: Graph) -> bool:
        outs = [o for o in node.outputs if o]
        if len(node.inputs) != 1 or not node.inputs[0] or len(outs) != 1 or outs[0] != node.outputs[0]:
            return False
        if not all_static(graph, node.inputs + outs, INT_DTYPES):
            return False
        x, y = graph.values[node.inputs[0]], graph.values[outs[0]]
        return x.dtype == y.dtype and tuple(x.shape) == tuple(y.shape)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        dtype = ctx.graph.values[node.inputs[0]].dtype
        count = math.prod(ctx.shape(node.outputs[0]))
        return [f"wdn_unary_typed({INT_UNARY[node.op_type]}, {DT_CODES[dtype]}, {count}, {ctx.ptr(node.inputs[0])}, "
                f"{ctx.ptr(node.outputs[0])}, tid, nth);"]

"""Cast and CastLike between float32, int32, int64, uint8, int8 and bool (csrc/cast.c), with the js kernel's
semantics for out-of-range and non-finite values (see kernels.h)."""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import DT_CODES, EmitContext, Emitter, all_static

#: ONNX TensorProto data types of the dtypes the kernel converts
ONNX_TYPES = {1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 9: "bool"}


class CastEmitter(Emitter):
    ops = ("Cast", "CastLike")
    symbolic = True

    def supports(self, node: Node, graph: Graph) -> bool:
        outs = [o for o in node.outputs if o]
        want = 2 if node.op_type == "CastLike" else 1
        if len(node.inputs) != want or not all(node.inputs) or len(outs) != 1 or outs[0] != node.outputs[0]:
            return False
        if not all_static(graph, node.inputs[:1] + outs, tuple(DT_CODES)):
            return False
        x, y = graph.values[node.inputs[0]], graph.values[outs[0]]
        if node.op_type == "Cast":
            to = node.attrs.get("to")
            if not isinstance(to, int) or ONNX_TYPES.get(to) != y.dtype:
                return False
        elif graph.values[node.inputs[1]].dtype != y.dtype:
            return False
        return tuple(x.shape) == tuple(y.shape)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x, y = ctx.graph.values[node.inputs[0]], ctx.graph.values[node.outputs[0]]
        count = math.prod(ctx.shape(node.outputs[0]))
        return [f"wdn_cast({DT_CODES[x.dtype]}, {DT_CODES[y.dtype]}, {count}, {ctx.ptr(node.inputs[0])}, "
                f"{ctx.ptr(node.outputs[0])}, tid, nth);"]

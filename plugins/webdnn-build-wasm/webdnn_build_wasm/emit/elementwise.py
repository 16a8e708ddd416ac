"""Binary ops with broadcasting (variadic Sum / Max / Min as chains of them), and unary ops."""

from __future__ import annotations

import math

import numpy as np

from webdnn_build.codegen import broadcast_strides, collapse_axes
from webdnn_build.errors import ShapeError
from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, act_struct, all_float32_static, cfloat, struct_init, supported_activation

BINARY = {"Add": "WDN_BIN_ADD", "Sub": "WDN_BIN_SUB", "Mul": "WDN_BIN_MUL", "Div": "WDN_BIN_DIV",
          "Max": "WDN_BIN_MAX", "Min": "WDN_BIN_MIN", "Pow": "WDN_BIN_POW", "Sum": "WDN_BIN_ADD"}
UNARY = {"Relu": "WDN_UN_RELU", "Sigmoid": "WDN_UN_SIGMOID", "Tanh": "WDN_UN_TANH", "Exp": "WDN_UN_EXP",
         "Log": "WDN_UN_LOG", "Sqrt": "WDN_UN_SQRT", "Abs": "WDN_UN_ABS", "Neg": "WDN_UN_NEG", "Clip": "WDN_UN_CLIP",
         "LeakyRelu": "WDN_UN_LEAKY_RELU", "HardSigmoid": "WDN_UN_HARD_SIGMOID", "HardSwish": "WDN_UN_HARD_SWISH",
         "Erf": "WDN_UN_ERF", "Gelu": "WDN_UN_GELU", "Swish": "WDN_UN_SWISH", "Reciprocal": "WDN_UN_RECIPROCAL", "Identity": "WDN_UN_COPY",
         "Dropout": "WDN_UN_COPY", "Reshape": "WDN_UN_COPY", "Flatten": "WDN_UN_COPY", "Squeeze": "WDN_UN_COPY",
         "Unsqueeze": "WDN_UN_COPY"}
#: less common activations: csrc/activation.c (wdn_unary_ext_f32), linked only by models that use them
UNARY_EXT = {"Floor": "WDN_UN_FLOOR", "Ceil": "WDN_UN_CEIL", "Round": "WDN_UN_ROUND", "Sign": "WDN_UN_SIGN",
             "Softplus": "WDN_UN_SOFTPLUS", "Softsign": "WDN_UN_SOFTSIGN", "Elu": "WDN_UN_ELU", "Selu": "WDN_UN_SELU",
             "Celu": "WDN_UN_CELU", "ThresholdedRelu": "WDN_UN_THRESHOLDED_RELU", "Mish": "WDN_UN_MISH"}


def collapse(shape: tuple[int, ...], sa: list[int], sb: list[int]) -> tuple[list[int], list[int], list[int]]:
    """Merge adjacent axes that are contiguous in both inputs (fewer, longer loops); drop size-1 axes."""
    dims, (a, b) = collapse_axes(shape, [sa, sb], keep_one=True)
    return dims, a, b


class BinaryEmitter(Emitter):
    ops = tuple(BINARY)
    symbolic = True  # broadcast shapes and strides may be sizes known at run time

    def supports(self, node: Node, graph: Graph) -> bool:
        if not all_float32_static(graph, node.inputs + node.outputs) or not supported_activation(node.attrs):
            return False
        variadic = node.op_type in ("Sum", "Max", "Min")  # chained: ((x0 op x1) op x2) ...
        if len(node.inputs) < 2 or (not variadic and len(node.inputs) != 2) or not all(node.inputs):
            return False
        accs = [node.inputs[0]] + [node.outputs[0]] * (len(node.inputs) - 2)
        return all(len(self._dims(node, graph, acc, b)[0]) <= 6 for acc, b in zip(accs, node.inputs[1:]))

    @staticmethod
    def _dims(node: Node, graph: Graph, a: str, b: str):
        out = tuple(graph.values[node.outputs[0]].shape)
        try:
            sa = broadcast_strides(tuple(graph.values[a].shape), out)
            sb = broadcast_strides(tuple(graph.values[b].shape), out)
        except ShapeError as exc:
            raise ShapeError(f"{graph.source or graph.name}: {node.describe()}: the model's declared shapes "
                             f"contradict the op: {exc}") from None
        return collapse(out, sa, sb)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        calls = []
        acc = node.inputs[0]
        y = node.outputs[0]
        for i, b in enumerate(node.inputs[1:]):  # Sum / Max / Min of n inputs: y = ((a + b) + c) + ...
            last = i == len(node.inputs) - 2
            shape, sa, sb = self._dims(node, ctx.graph, acc, b)
            var = ctx.fresh("bin")
            pad = 6 - len(shape)
            ctx.decls.append(struct_init("wdn_binary_params", var, {
                "op": BINARY[node.op_type], "rank": len(shape),
                "shape": "{" + ", ".join(map(str, shape + [1] * pad)) + "}",
                "stride_a": "{" + ", ".join(map(str, sa + [0] * pad)) + "}",
                "stride_b": "{" + ", ".join(map(str, sb + [0] * pad)) + "}",
                "a": ctx.ptr(acc), "b": ctx.ptr(b), "y": ctx.ptr(y),
                "act": act_struct(node.attrs) if last else "{WDN_ACT_NONE, 0.f, 0.f}",
            }))
            calls.append(f"wdn_binary_f32(&{var}, tid, nth);")
            if not last:
                calls.append("wdn_barrier(nth);")  # the next step reads y written by other threads
            acc = y
        return calls


class UnaryEmitter(Emitter):
    ops = (*UNARY, *UNARY_EXT)
    symbolic = True  # the element count may be known at run time only

    def supports(self, node: Node, graph: Graph) -> bool:
        outs = [o for o in node.outputs if o]
        if len(outs) != 1 or outs[0] != node.outputs[0]:
            return False
        if not all_float32_static(graph, node.inputs[:1] + outs):
            return False
        if node.op_type == "Dropout" and len(node.inputs) > 2 and node.inputs[2]:
            return False  # training_mode input: leave it to the js kernel (it checks the value)
        if node.op_type == "Clip":  # bounds: constants, or one-element float32 values read at run time
            return all(not n or graph.values[n].is_const or (all_float32_static(graph, [n])
                                                             and math.prod(graph.values[n].shape) == 1)
                       for n in node.inputs[1:])
        if node.op_type == "Gelu" and node.attrs["approximate"] not in ("none", "tanh"):
            return False
        return True

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        a, b = 0.0, 0.0
        attrs = node.attrs
        if node.op_type == "Clip":
            lo = ctx.const(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1] else None
            hi = ctx.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
            # no bound input: the attribute before opset 11 (declared default: the float32 range), else open
            a = float(np.asarray(lo).ravel()[0]) if lo is not None else attrs.get("min", -math.inf)
            b = float(np.asarray(hi).ravel()[0]) if hi is not None else attrs.get("max", math.inf)
            # a bound computed at run time: the call reads it (C expression)
            if lo is None and len(node.inputs) > 1 and node.inputs[1]:
                a = f"(*{ctx.ptr(node.inputs[1])})"
            if hi is None and len(node.inputs) > 2 and node.inputs[2]:
                b = f"(*{ctx.ptr(node.inputs[2])})"
        elif node.op_type == "LeakyRelu":
            a = attrs["alpha"]
        elif node.op_type == "HardSigmoid":
            a, b = attrs["alpha"], attrs["beta"]
        elif node.op_type in ("Elu", "Celu", "ThresholdedRelu", "Swish"):
            a = attrs["alpha"]
        elif node.op_type == "Selu":
            a, b = attrs["alpha"], attrs["gamma"]
        op = UNARY.get(node.op_type) or UNARY_EXT[node.op_type]
        count = math.prod(ctx.shape(node.outputs[0]))
        if op == "WDN_UN_COPY":  # a plain copy (memory.copy), not the whole unary kernel
            return [f"wdn_copy_bytes({4 * count}, {ctx.ptr(node.inputs[0])}, {ctx.ptr(node.outputs[0])}, tid, nth);"]
        if node.op_type == "Gelu" and attrs["approximate"] == "tanh":
            op = "WDN_UN_GELU_TANH"
        fn = "wdn_unary_ext_f32" if node.op_type in UNARY_EXT else "wdn_unary_f32"
        call = (f"{fn}({op}, {count}, {ctx.ptr(node.inputs[0])}, {ctx.ptr(node.outputs[0])}, "
                f"{a if isinstance(a, str) else cfloat(a)}, {b if isinstance(b, str) else cfloat(b)}, tid, nth);")
        return [call]


class PReluEmitter(Emitter):
    """PRelu (csrc/activation.c): y = x < 0 ? x * slope : x, slope broadcast to x (rank <= 6)."""

    ops = ("PRelu",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) != 2 or not all(node.inputs) or len([o for o in node.outputs if o]) != 1:
            return False
        if not all_float32_static(graph, node.inputs + node.outputs[:1]) or node.attrs.get("fused_activation"):
            return False
        x, y = (tuple(graph.values[n].shape) for n in (node.inputs[0], node.outputs[0]))
        if x != y:
            return False
        try:
            broadcast_strides(tuple(graph.values[node.inputs[1]].shape), x)
        except ShapeError:
            return False
        return len(x) <= 6

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x, slope = node.inputs
        shape = list(ctx.shape(x)) or [1]
        ss = broadcast_strides(ctx.shape(slope), tuple(shape)) if ctx.shape(x) else [0]
        pad = 6 - len(shape)
        var = ctx.fresh("prelu")
        ctx.decls.append(struct_init("wdn_prelu_params", var, {
            "rank": len(shape), "shape": "{" + ", ".join(map(str, shape + [1] * pad)) + "}",
            "stride_s": "{" + ", ".join(map(str, list(ss) + [0] * pad)) + "}",
            "x": ctx.ptr(x), "slope": ctx.ptr(slope), "y": ctx.ptr(node.outputs[0])}))
        return [f"wdn_prelu_f32(&{var}, tid, nth);"]

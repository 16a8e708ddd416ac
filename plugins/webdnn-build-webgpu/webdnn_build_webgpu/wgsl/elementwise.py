"""Elementwise ops: unary, binary/variadic with broadcasting, and fused chains of them.

Every elementwise node is a chain of length one; the backend's ``fuse_elementwise`` merges a
node into its only consumer, so ``Add → Relu → Mul(0.5)`` becomes one kernel that computes the
whole expression per output element. Broadcasting composes (an input broadcast into an
intermediate that is broadcast into the output is the input broadcast into the output), so each
external input is read at its own broadcast index of the final output. Constant scalars (and
Clip's bounds) become literals in the source.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from webdnn_build.ir import Graph, Node

from .base import (Dispatch, Emitter, KernelBuilder, KernelContext, activation_expr, broadcast_strides, collapse,
                   contiguous_strides, decompose, dot, f32lit, float32_static, linear_kernel, supported_activation,
                   with_helpers)

FUSED_OP = "__webgpu_elementwise"

F = Callable[[list[str], dict], str]

UNARY: dict[str, F] = {
    "Relu": lambda a, at: f"max({a[0]}, 0.0f)",
    "Sigmoid": lambda a, at: f"sigm({a[0]})",
    "Tanh": lambda a, at: f"tanh_({a[0]})",
    "Exp": lambda a, at: f"exp({a[0]})",
    "Log": lambda a, at: f"log({a[0]})",
    "Sqrt": lambda a, at: f"sqrt({a[0]})",
    "Abs": lambda a, at: f"abs({a[0]})",
    "Neg": lambda a, at: f"(-{a[0]})",
    "Reciprocal": lambda a, at: f"(1.0f / {a[0]})",
    "Floor": lambda a, at: f"floor({a[0]})",
    "Ceil": lambda a, at: f"ceil({a[0]})",
    "Round": lambda a, at: f"round({a[0]})",
    "Sign": lambda a, at: f"sign({a[0]})",
    "Sin": lambda a, at: f"sin({a[0]})",
    "Cos": lambda a, at: f"cos({a[0]})",
    "Erf": lambda a, at: f"erf_({a[0]})",
    "Softplus": lambda a, at: f"softplus_({a[0]})",
    "Softsign": lambda a, at: f"({a[0]} / (1.0f + abs({a[0]})))",
    "LeakyRelu": lambda a, at: f"leaky({a[0]}, {f32lit(at.get('alpha', 0.01))})",
    "Elu": lambda a, at: f"select({f32lit(at.get('alpha', 1.0))} * (exp({a[0]}) - 1.0f), {a[0]}, {a[0]} > 0.0f)",
    "Selu": lambda a, at: (f"({f32lit(at.get('gamma', 1.0507009873554805))} * select({f32lit(at.get('alpha', 1.6732632423543772))}"
                           f" * (exp({a[0]}) - 1.0f), {a[0]}, {a[0]} > 0.0f))"),
    "Celu": lambda a, at: (f"(max({a[0]}, 0.0f) + min(0.0f, {f32lit(at.get('alpha', 1.0))} * "
                           f"(exp({a[0]} / {f32lit(at.get('alpha', 1.0))}) - 1.0f)))"),
    "ThresholdedRelu": lambda a, at: f"select(0.0f, {a[0]}, {a[0]} > {f32lit(at.get('alpha', 1.0))})",
    "HardSigmoid": lambda a, at: f"clamp({f32lit(at.get('alpha', 0.2))} * {a[0]} + {f32lit(at.get('beta', 0.5))}, 0.0f, 1.0f)",
    "HardSwish": lambda a, at: f"({a[0]} * clamp({a[0]} / 6.0f + 0.5f, 0.0f, 1.0f))",
    "Gelu": lambda a, at: f"(0.5f * {a[0]} * (1.0f + erf_({a[0]} * 0.7071067811865476f)))",
    "Mish": lambda a, at: f"({a[0]} * tanh_(softplus_({a[0]})))",
    "Identity": lambda a, at: a[0],
    "Dropout": lambda a, at: a[0],
    "Clip": lambda a, at: f"min(max({a[0]}, {a[1]}), {a[2]})",
}

BINARY: dict[str, F] = {
    "Add": lambda a, at: f"({a[0]} + {a[1]})",
    "Sub": lambda a, at: f"({a[0]} - {a[1]})",
    "Mul": lambda a, at: f"({a[0]} * {a[1]})",
    "Div": lambda a, at: f"({a[0]} / {a[1]})",
    "Pow": lambda a, at: f"powf({a[0]}, {a[1]})",
    "PRelu": lambda a, at: f"select({a[0]} * {a[1]}, {a[0]}, {a[0]} >= 0.0f)",
}

VARIADIC: dict[str, F] = {
    "Sum": lambda a, at: "(" + " + ".join(a) + ")",
    "Mean": lambda a, at: "((" + " + ".join(a) + f") / {f32lit(len(a))})",
    "Max": lambda a, at: _fold("max", a),
    "Min": lambda a, at: _fold("min", a),
}


def _fold(fn: str, a: list[str]) -> str:
    acc = a[0]
    for x in a[1:]:
        acc = f"{fn}({acc}, {x})"
    return acc


def _clip_bounds(node: Node, graph: Graph) -> Optional[tuple[float, float]]:
    if len(node.inputs) > 1 or "min" not in node.attrs and "max" not in node.attrs:
        bounds = []
        for k, default in ((1, -3.4028234663852886e38), (2, 3.4028234663852886e38)):
            name = node.inputs[k] if len(node.inputs) > k else ""
            if not name:
                bounds.append(default)
                continue
            v = graph.values.get(name)
            if v is None or v.const is None:
                return None
            bounds.append(float(np.asarray(v.const).ravel()[0]))
        return bounds[0], bounds[1]
    return float(node.attrs.get("min", -3.4028234663852886e38)), float(node.attrs.get("max", 3.4028234663852886e38))


def data_inputs(node: Node) -> list[str]:
    """The inputs an elementwise node computes with (Clip's bounds and Dropout's extras are not)."""
    if node.op_type in UNARY:
        return node.inputs[:1]
    return list(node.inputs)


def is_elementwise(node: Node, graph: Graph) -> bool:
    if node.domain:
        return False
    op = node.op_type
    if op not in UNARY and op not in BINARY and op not in VARIADIC:
        return False
    outs = [o for o in node.outputs if o]
    if len(outs) != 1 or outs[0] != node.outputs[0]:
        return False
    if not supported_activation(node.attrs):
        return False
    ins = data_inputs(node)
    if not ins or not all(ins) or not float32_static(graph, ins + outs):
        return False
    if op in BINARY and len(ins) != 2:
        return False
    if op == "Clip" and _clip_bounds(node, graph) is None:
        return False
    if op == "Dropout":
        if len(node.inputs) > 2 and node.inputs[2]:
            t = graph.values.get(node.inputs[2])
            if t is None or t.const is None or bool(np.asarray(t.const).ravel()[0]):
                return False
    if op == "Gelu" and node.attrs.get("approximate", "none") not in ("none", b"none"):
        return False
    out = tuple(graph.values[outs[0]].shape)
    for i in ins:  # inputs must broadcast to the output (unidirectionally)
        s = tuple(graph.values[i].shape)
        if len(s) > len(out) or any(a != 1 and a != b for a, b in zip(s[::-1], out[::-1])):
            return False
    return True


def _scalar_const(graph: Graph, name: str) -> Optional[float]:
    v = graph.values.get(name)
    if v is None or v.const is None or v.numel() != 1:
        return None
    return float(np.asarray(v.const).ravel()[0])


def chain_of(node: Node) -> list[Node]:
    return node.attrs["$chain"] if node.op_type == FUSED_OP else [node]


def external_inputs(chain: list[Node], graph: Graph) -> list[str]:
    produced = {n.outputs[0] for n in chain}
    seen: list[str] = []
    for n in chain:
        for i in data_inputs(n):
            if i not in produced and i not in seen and _scalar_const(graph, i) is None:
                seen.append(i)
    return seen


def make_fused(chain: list[Node]) -> Node:
    """A pseudo node standing for ``chain`` (topologically ordered; the last one is the root)."""
    produced = {n.outputs[0] for n in chain}
    inputs: list[str] = []
    for n in chain:
        for i in n.reads():
            if i not in produced and i not in inputs:
                inputs.append(i)
    root = chain[-1]
    return Node(FUSED_OP, inputs, [root.outputs[0]], {"$chain": chain}, "", root.name)


class ElementwiseEmitter(Emitter):
    ops = (*UNARY, *BINARY, *VARIADIC, FUSED_OP)

    def supports(self, node: Node, graph: Graph) -> bool:
        if node.op_type == FUSED_OP:
            return True
        return is_elementwise(node, graph)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        graph = ctx.graph
        chain = chain_of(node)
        out = chain[-1].outputs[0]
        out_shape = ctx.shape(out)
        total = math.prod(out_shape)
        ext = external_inputs(chain, graph)
        dims, strides = collapse(out_shape, [contiguous_strides(out_shape)] + [broadcast_strides(ctx.shape(x), out_shape) for x in ext])
        kb = KernelBuilder(ctx)
        lines = decompose("i", dims) if any(s != strides[0] for s in strides[1:]) else []
        coords = [f"c{d}" for d in range(len(dims))]
        names: dict[str, str] = {}
        for j, x in enumerate(ext):
            ld = kb.load(f"x{j}", x)
            idx = "i" if strides[j + 1] == strides[0] else dot(coords, strides[j + 1])
            lines.append(f"let v{j} = {ld}({idx});")
            names[x] = f"v{j}"
        exprs = []
        for k, n in enumerate(chain):
            args = []
            for i in data_inputs(n):
                if i in names:
                    args.append(names[i])
                else:
                    args.append(f32lit(_scalar_const(graph, i)))  # type: ignore[arg-type]
            if n.op_type == "Clip":
                lo, hi = _clip_bounds(n, graph)  # type: ignore[misc]
                args = [args[0], f32lit(lo), f32lit(hi)]
            fn = UNARY.get(n.op_type) or BINARY.get(n.op_type) or VARIADIC[n.op_type]
            e = activation_expr(n.attrs, fn(args, n.attrs))
            exprs.append(e)
            lines.append(f"let t{k} = {e};")
            names[n.outputs[0]] = f"t{k}"
        st = kb.store("y", out)
        lines.append(f"{st}(i, t{len(chain) - 1});")
        with_helpers(kb, *exprs)
        return [linear_kernel(kb, total, "\n".join(lines), wg=256)]

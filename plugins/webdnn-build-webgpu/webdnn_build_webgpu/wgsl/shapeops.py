"""Ops whose result follows from shapes and attributes alone, plus Dropout with its mask.

Shape and Size write their (build-time) values from a constant; ConstantOfShape fills with the
``value`` attribute baked in as a literal; EyeLike writes 1 on its diagonal. Numbers only reach the
WGSL source (no strings from the model).

Dropout: without training (``training_mode`` absent or a constant false) y = x and the mask is all
true; a ``training_mode`` read at run time takes effect only when it is true and the ratio is above
0: elements are then dropped by a hash of (index, seed) and the kept ones scaled by 1 / (1 - ratio)
(ratio ≥ 1 drops everything).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from webdnn_build.ir import Graph, Node

from .base import (COPY_DTYPES, STORABLE_DTYPES, Dispatch, Emitter, KernelBuilder, KernelContext, f32lit, gpu_static, linear_kernel, literal, u)


def _copy_const(ctx: KernelContext, data: np.ndarray, out: str, hint: str) -> Dispatch:
    name = ctx.add_const(data, hint)
    kb = KernelBuilder(ctx)
    lx, st = kb.load("x", name), kb.store("y", out)
    return linear_kernel(kb, max(int(data.size), 1), f"{st}(i, {lx}(i));", wg=64)


def _shape_slice(node: Node, graph: Graph) -> Optional[list[int]]:
    x = graph.values.get(node.inputs[0])
    if x is None or not x.is_static:
        return None
    rank = len(x.shape)
    start, end = int(node.attrs.get("start", 0)), node.attrs.get("end")  # opset 15+; no default
    end = rank if end is None else int(end)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return [int(d) for d in x.shape[start:end]]


class ShapeSizeEmitter(Emitter):
    """Shape (with start/end) and Size of a statically shaped input."""

    ops = ("Shape", "Size")

    def _values(self, node: Node, graph: Graph) -> Optional[list[int]]:
        if node.op_type == "Shape":
            return _shape_slice(node, graph)
        x = graph.values.get(node.inputs[0])
        return [int(x.numel())] if x is not None and x.is_static else None

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.outputs) != 1 or not gpu_static(graph, node.outputs, ("int64", "int32")):
            return False
        vals = self._values(node, graph)
        out = graph.values[node.outputs[0]]
        return (vals is not None and len(vals) == out.numel() and len(vals) > 0
                and all(literal(out.dtype, v) is not None for v in vals))

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        vals = self._values(node, ctx.graph)
        shape = ctx.shape(node.outputs[0])
        return [_copy_const(ctx, np.asarray(vals, np.int64).reshape(shape), node.outputs[0], node.op_type.lower())]


def _attr_value(node: Node) -> Any:
    v = node.attrs.get("value")
    if v is None:
        return 0.0
    a = np.asarray(v)
    return a.ravel()[0].item() if a.size else 0.0


class ConstantOfShapeEmitter(Emitter):
    ops = ("ConstantOfShape",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.outputs) != 1 or not gpu_static(graph, node.outputs, COPY_DTYPES):
            return False
        v = node.attrs.get("value")
        if v is not None and np.asarray(v).size != 1:
            return False
        return literal(graph.values[node.outputs[0]].dtype, _attr_value(node)) is not None

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        out = node.outputs[0]
        kb = KernelBuilder(ctx)
        st = kb.store("y", out)
        lit = literal(ctx.graph.values[out].dtype, _attr_value(node))
        return [linear_kernel(kb, ctx.numel(out), f"{st}(i, {lit});", wg=256)]


class EyeLikeEmitter(Emitter):
    """0 and 1 are exact in every dtype's GPU form, float64 (held as f32) included."""

    ops = ("EyeLike",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.outputs) != 1 or not gpu_static(graph, node.outputs, STORABLE_DTYPES):
            return False
        x = graph.values.get(node.inputs[0])
        return x is not None and x.is_static and len(x.shape) == 2 and tuple(x.shape) == tuple(graph.values[node.outputs[0]].shape)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        out = node.outputs[0]
        rows, cols = ctx.shape(out)
        k = int(node.attrs["k"])
        dt = ctx.graph.values[out].dtype
        dt = "float32" if dt == "float64" else dt
        kb = KernelBuilder(ctx)
        st = kb.store("y", out)
        body = (f"let r = i32(i / {u(cols)});\nlet c = i32(i % {u(cols)});\n"
                f"{st}(i, select({literal(dt, 0)}, {literal(dt, 1)}, c - r == {k}i));")
        return [linear_kernel(kb, rows * cols, body, wg=256)]


# ---------------------------------------------------------------- Dropout

def _input(node: Node, k: int) -> str:
    return node.inputs[k] if len(node.inputs) > k else ""


class DropoutEmitter(Emitter):
    """Dropout with a mask output or a training_mode known only at run time (the single-output inference
    form is an elementwise identity, wgsl/elementwise.py)."""

    ops = ("Dropout",)
    rank = 1

    def supports(self, node: Node, graph: Graph) -> bool:
        x, y = node.inputs[0], node.outputs[0]
        if not x or not y or not gpu_static(graph, [x, y], ("float32",)):
            return False
        if len(node.outputs) > 1 and node.outputs[1]:
            if not gpu_static(graph, node.outputs[1:2], ("bool",)):
                return False
            if tuple(graph.values[node.outputs[1]].shape) != tuple(graph.values[x].shape):
                return False
        if tuple(graph.values[y].shape) != tuple(graph.values[x].shape):
            return False
        for k, dt in ((1, ("float32",)), (2, ("bool",))):
            name = _input(node, k)
            if name and (not gpu_static(graph, [name], dt) or graph.values[name].numel() != 1):
                return False
        return len([o for o in node.outputs if o]) <= 2

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        g = ctx.graph
        x, y = node.inputs[0], node.outputs[0]
        mask = node.outputs[1] if len(node.outputs) > 1 else ""
        kb = KernelBuilder(ctx)
        lx, sy = kb.load("x", x), kb.store("y", y)
        lines = [f"let x = {lx}(i);", "var keep = true;", "var scale = 1.0f;"]
        tm_name, r_name = _input(node, 2), _input(node, 1)
        tm_const = g.values[tm_name].const if tm_name else np.asarray(False)
        if tm_const is None or bool(np.asarray(tm_const).ravel()[0]):
            tm = "true" if tm_const is not None else f"{kb.load('tm', tm_name)}(0u)"
            if r_name and g.values[r_name].const is not None:
                r = f32lit(float(np.asarray(g.values[r_name].const).ravel()[0]))
            elif r_name:
                r = f"{kb.load('r', r_name)}(0u)"
            else:
                r = f32lit(0.5)
            seed = int(node.attrs.get("seed", 0)) & 0xFFFFFFFF
            kb.decls.append("fn hash_(v: u32) -> u32 {\n"
                            "  var h = v * 747796405u + 2891336453u;\n"
                            "  h = ((h >> ((h >> 28u) + 4u)) ^ h) * 277803737u;\n"
                            "  return (h >> 22u) ^ h;\n"
                            "}")
            lines += [f"let r = {r};",
                      f"if ({tm} && r > 0.0f) {{",
                      f"  let rnd = f32(hash_(i ^ hash_({u(seed)})) >> 8u) * {f32lit(1.0 / (1 << 24))};",
                      "  keep = r < 1.0f && rnd >= r;",
                      "  scale = select(0.0f, 1.0f / (1.0f - r), r < 1.0f);",
                      "}"]
        lines.append(f"{sy}(i, select(0.0f, x * scale, keep));")
        if mask:
            lines.append(f"{kb.store('m', mask)}(i, keep);")
        return [linear_kernel(kb, ctx.numel(x), "\n".join(lines), wg=256)]

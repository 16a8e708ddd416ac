"""Softmax / LogSoftmax over any axis (a workgroup per row: max, then sum of exponentials)."""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import ROW_HEADER, Dispatch, Emitter, KernelBuilder, KernelContext, float32_static, reduce_fn, row_workgroups, u


def softmax_geometry(node: Node, graph: Graph) -> tuple[int, int, int]:
    """(outer, cols, inner): element (o, j, q) of a row is at (o·cols + j)·inner + q."""
    shape = tuple(graph.values[node.inputs[0]].shape)
    rank = max(len(shape), 1)
    opset = graph.opset_for(node.domain)
    axis = node.attrs["axis"]  # the declared default: 1 before opset 13, then -1
    axis = axis + rank if axis < 0 else axis
    if not shape:
        return 1, 1, 1
    if opset < 13:  # coerced to 2-D at `axis`
        return math.prod(shape[:axis]), math.prod(shape[axis:]), 1
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])


class SoftmaxEmitter(Emitter):
    ops = ("Softmax", "LogSoftmax")
    symbolic = True  # rows and row length may be sizes known at run time

    def supports(self, node: Node, graph: Graph) -> bool:
        return float32_static(graph, node.inputs + node.outputs)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        outer, cols, inner = softmax_geometry(node, ctx.graph)
        rows = outer * inner
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        kb.override("WG_X", 64)
        kb.decls.append("var<workgroup> red: array<f32, WG_X>;")
        kb.decls.append(reduce_fn("wg_max", "max({a}, {b})"))
        kb.decls.append(reduce_fn("wg_sum", "{a} + {b}"))
        log = node.op_type == "LogSoftmax"
        out = "v - mx - log(s)" if log else "exp(v - mx) / s"
        body = ROW_HEADER + f"""
  if (row >= {u(rows)}) {{ return; }}
  let base = (row / {u(inner)}) * {u(cols * inner)} + row % {u(inner)};
  var m = f32_bits(0xff800000u);
  for (var j = li; j < {u(cols)}; j = j + WG_X) {{ m = max(m, {lx}(base + j * {u(inner)})); }}
  let mx = wg_max(li, m);
  var acc = 0.0f;
  for (var j = li; j < {u(cols)}; j = j + WG_X) {{ acc = acc + exp({lx}(base + j * {u(inner)}) - mx); }}
  let s = wg_sum(li, acc);
  for (var j = li; j < {u(cols)}; j = j + WG_X) {{
    let v = {lx}(base + j * {u(inner)});
    {st}(base + j * {u(inner)}, {out});
  }}
}}
"""
        return [kb.dispatch(body, workgroups=row_workgroups(rows))]

"""Det: one thread per matrix, Gaussian elimination with partial pivoting in f32 (matrices up to
``MAX_N`` × ``MAX_N``, held in the thread's private memory)."""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import Dispatch, Emitter, KernelBuilder, KernelContext, gpu_static, linear_kernel, u

MAX_N = 12


class DetEmitter(Emitter):
    ops = ("Det",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) != 1 or len(node.outputs) != 1 or not gpu_static(graph, node.inputs + node.outputs, ("float32",)):
            return False
        xs = graph.values[node.inputs[0]].shape
        return (len(xs) >= 2 and xs[-1] == xs[-2] and 1 <= xs[-1] <= MAX_N
                and tuple(graph.values[node.outputs[0]].shape) == tuple(xs[:-2]))

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        xs = ctx.shape(node.inputs[0])
        n = xs[-1]
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        body = f"""
var a: array<f32, {n * n}>;
for (var k = 0u; k < {u(n * n)}; k = k + 1u) {{ a[k] = {lx}(i * {u(n * n)} + k); }}
var det = 1.0f;
for (var c = 0u; c < {u(n)}; c = c + 1u) {{
  var p = c;
  for (var r = c + 1u; r < {u(n)}; r = r + 1u) {{
    if (abs(a[r * {u(n)} + c]) > abs(a[p * {u(n)} + c])) {{ p = r; }}
  }}
  if (p != c) {{
    for (var j = 0u; j < {u(n)}; j = j + 1u) {{
      let t = a[c * {u(n)} + j]; a[c * {u(n)} + j] = a[p * {u(n)} + j]; a[p * {u(n)} + j] = t;
    }}
    det = -det;
  }}
  let piv = a[c * {u(n)} + c];
  det = det * piv;
  if (piv == 0.0f) {{ break; }}
  for (var r = c + 1u; r < {u(n)}; r = r + 1u) {{
    let f = a[r * {u(n)} + c] / piv;
    for (var j = c + 1u; j < {u(n)}; j = j + 1u) {{ a[r * {u(n)} + j] = a[r * {u(n)} + j] - f * a[c * {u(n)} + j]; }}
  }}
}}
{st}(i, det);
"""
        return [linear_kernel(kb, math.prod(xs[:-2]), body, wg=64)]

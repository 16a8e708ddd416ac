"""BatchNormalization with statistics read at run time (inputs, not constants) and in training mode.

Inference: y = (x - mean[c]) / sqrt(var[c] + eps) · scale[c] + bias[c]. Training mode (opset 14+):
one workgroup per channel computes the batch mean and (biased) variance, writes them to a scratch
value and the running statistics (input · momentum + batch · (1 - momentum)) to the extra outputs;
then y is normalized with the batch statistics. The constant-statistics inference form is
wgsl/norm.py's (folded at build time); this emitter takes the rest.
"""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import (ROW_HEADER, Dispatch, Emitter, KernelBuilder, KernelContext, f32lit, gpu_static, linear_kernel,
                   reduce_fn, row_workgroups, u)


class BatchNormStatsEmitter(Emitter):
    ops = ("BatchNormalization",)
    rank = 1

    def _training(self, node: Node) -> bool:
        return bool(int(node.attrs.get("training_mode", 0)))  # opset 14+

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) != 5 or not all(node.inputs) or not node.outputs[0]:
            return False
        if node.attrs.get("fused_activation") or graph.opset_for(node.domain) < 14 and len(node.outputs) > 1:
            return False
        outs = [o for o in node.outputs if o]
        if not gpu_static(graph, node.inputs + outs, ("float32",)):
            return False
        xs = graph.values[node.inputs[0]].shape
        if len(xs) < 2 or tuple(graph.values[node.outputs[0]].shape) != tuple(xs):
            return False
        c = xs[1]
        if any(tuple(graph.values[n].shape) != (c,) for n in node.inputs[1:] + outs[1:]):
            return False
        if not self._training(node):
            return len(outs) == 1
        return len(node.outputs) <= 3

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x, scale, bias, mean, var = node.inputs
        y = node.outputs[0]
        xs = ctx.shape(x)
        n, c, inner = xs[0], xs[1], math.prod(xs[2:])
        eps = float(node.attrs["epsilon"])
        out: list[Dispatch] = []
        if self._training(node):
            momentum = float(node.attrs["momentum"])
            stats = ctx.add_temp((2 * c,), "float32", "bn_stats")
            kb = KernelBuilder(ctx)
            kb.override("WG_X", 64)
            kb.decls.append("var<workgroup> red: array<f32, WG_X>;")
            kb.decls.append(reduce_fn("wg_sum", "{a} + {b}"))
            lx, ss = kb.load("x", x), kb.store("s", stats)
            count = n * inner
            body = [f"  if (row >= {u(c)}) {{ return; }}",
                    "  var acc = 0.0f;",
                    f"  for (var j = li; j < {u(count)}; j = j + WG_X) {{",
                    f"    acc = acc + {lx}(((j / {u(inner)}) * {u(c)} + row) * {u(inner)} + j % {u(inner)});",
                    "  }",
                    f"  let m = wg_sum(li, acc) / {f32lit(count)};",
                    "  var acc2 = 0.0f;",
                    f"  for (var j = li; j < {u(count)}; j = j + WG_X) {{",
                    f"    let d = {lx}(((j / {u(inner)}) * {u(c)} + row) * {u(inner)} + j % {u(inner)}) - m;",
                    "    acc2 = acc2 + d * d;",
                    "  }",
                    f"  let v = wg_sum(li, acc2) / {f32lit(count)};",
                    "  if (li == 0u) {",
                    f"    {ss}(row, m);", f"    {ss}(row + {u(c)}, v);"]
            for k, (src, stat) in enumerate(((mean, "m"), (var, "v"))):
                dst = node.outputs[k + 1] if len(node.outputs) > k + 1 else ""
                if dst:
                    ld, sd = kb.load(f"r{k}", src), kb.store(f"o{k}", dst)
                    body.append(f"    {sd}(row, {ld}(row) * {f32lit(momentum)} + {stat} * {f32lit(1.0 - momentum)});")
            body += ["  }", "}"]
            out.append(kb.dispatch(ROW_HEADER + "\n".join(body) + "\n", workgroups=row_workgroups(c)))
            kb = KernelBuilder(ctx)
            ls = kb.load("s", stats)
            ld_m, ld_v = f"{ls}(ch)", f"{ls}(ch + {u(c)})"
        else:
            kb = KernelBuilder(ctx)
            ld_m, ld_v = f"{kb.load('m', mean)}(ch)", f"{kb.load('v', var)}(ch)"
        lx, lsc, lb, st = kb.load("x", x), kb.load("sc", scale), kb.load("b", bias), kb.store("y", y)
        body = (f"let ch = (i / {u(inner)}) % {u(c)};\n"
                f"{st}(i, ({lx}(i) - {ld_m}) / sqrt({ld_v} + {f32lit(eps)}) * {lsc}(ch) + {lb}(ch));")
        out.append(linear_kernel(kb, math.prod(xs), body, wg=256))
        return out

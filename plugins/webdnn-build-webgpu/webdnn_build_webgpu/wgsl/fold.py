"""Col2Im: sums sliding blocks back into an image (N-d), the inverse layout of im2col.

One thread per output pixel adds up every (block position, column) pair that lands on it. The image
shape is the output's; ``block_shape`` may be a constant or a value read at run time (its product is
known from the shapes: input dim 1 / channels).
"""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import Dispatch, Emitter, KernelBuilder, KernelContext, const_ints, decompose, gpu_static, linear_kernel, u

INDEX_DTYPES = ("int32", "int64")


class Col2ImEmitter(Emitter):
    ops = ("Col2Im",)

    def _attrs(self, node: Node, n: int):
        dil = list(node.attrs.get("dilations") or [1] * n)
        pads = list(node.attrs.get("pads") or [0] * (2 * n))
        strides = list(node.attrs.get("strides") or [1] * n)
        return dil, pads, strides

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) != 3 or not all(node.inputs) or len(node.outputs) != 1:
            return False
        x, img, blk = node.inputs
        out = node.outputs[0]
        if not gpu_static(graph, [x, out], ("float32",)):
            return False
        xs, os_ = graph.values[x].shape, graph.values[out].shape
        n = len(os_) - 2
        if len(xs) != 3 or n < 1 or xs[0] != os_[0] or os_[1] == 0 or xs[1] % os_[1] != 0:
            return False
        dil, pads, strides = self._attrs(node, n)
        if len(dil) != n or len(pads) != 2 * n or len(strides) != n or min(strides) < 1 or min(dil) < 1:
            return False
        shape = const_ints(graph, img)
        if shape is not None and tuple(shape) != tuple(os_[2:]):
            return False
        b = const_ints(graph, blk)
        if b is None:
            return gpu_static(graph, [blk], INDEX_DTYPES) and graph.values[blk].numel() == n
        return len(b) == n and math.prod(b) * os_[1] == xs[1]

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x, _, blk = node.inputs
        out = node.outputs[0]
        xs, os_ = ctx.shape(x), list(ctx.shape(out))
        n = len(os_) - 2
        dil, pads, strides = self._attrs(node, n)
        C = os_[1]
        P = xs[1] // C          # block positions
        L = xs[2]
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", x), kb.store("y", out)
        b = const_ints(ctx.graph, blk)
        lines = decompose("i", os_)
        if b is None:
            lb = kb.load("b", blk)
            lines.append(f"var blk = array<i32, {n}>({', '.join(f'{lb}({u(d)})' for d in range(n))});")
        else:
            lines.append(f"var blk = array<i32, {n}>({', '.join(f'{v}i' for v in b)});")
        for d in range(n):
            lines.append(f"let cols{d} = max(({os_[d + 2] + pads[d] + pads[d + n]}i - {dil[d]}i * (blk[{d}] - 1i) - 1i)"
                         f" / {strides[d]}i + 1i, 1i);")
        lines += ["var acc = 0.0f;",
                  f"for (var kk = 0u; kk < {u(P)}; kk = kk + 1u) {{",
                  "  var rem = i32(kk);"]
        for d in range(n - 1, -1, -1):
            lines.append(f"  let k{d} = rem % max(blk[{d}], 1i); rem = rem / max(blk[{d}], 1i);")
        lines += ["  var ok = true;", "  var col = 0i;"]
        for d in range(n):
            lines += [f"  let p{d} = i32(c{d + 2}) + {pads[d]}i - k{d} * {dil[d]}i;",
                      f"  if (p{d} < 0i || p{d} % {strides[d]}i != 0i || p{d} / {strides[d]}i >= cols{d}) {{ ok = false; }}",
                      f"  col = col * cols{d} + p{d} / {strides[d]}i;"]
        lines += [f"  if (ok && col < {L}i) {{",
                  f"    acc = acc + {lx}(((c0 * {u(C)} + c1) * {u(P)} + kk) * {u(L)} + u32(col));",
                  "  }", "}", f"{st}(i, acc);"]
        return [linear_kernel(kb, math.prod(os_), "\n".join(lines), wg=256)]

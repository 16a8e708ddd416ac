"""CumSum / CumProd (axis read at run time or constant) and TopK (one invocation per element computes its rank).

CumSum accumulates float32 or int32 (wrapping like the js kernel's Int32Array accumulator), CumProd float32 or
int32 (the float64 product modulo 2^32, like the js kernel): every step is rounded to the element type, as the
js kernel does, so the sequential results agree exactly.
"""

from __future__ import annotations

import math

from webdnn_build.ir import Graph, Node

from .base import (Dispatch, Emitter, KernelBuilder, KernelContext, const_ints, gpu_static, linear_kernel, u)

CUM_DTYPES = {"CumSum": ("float32", "int32"), "CumProd": ("float32", "int32")}

#: int32 a·b as the js kernel stores it: the float64 product (rounded to 53 significant bits, ties to even) taken
#: modulo 2^32. The exact product is formed in two u32 halves.
IMUL_JS = """fn imul_js_(a: i32, b: i32) -> i32 {
  let ua = select(bitcast<u32>(a), 0u - bitcast<u32>(a), a < 0i);
  let ub = select(bitcast<u32>(b), 0u - bitcast<u32>(b), b < 0i);
  let a0 = ua & 0xffffu; let a1 = ua >> 16u; let b0 = ub & 0xffffu; let b1 = ub >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  let lo = (p00 & 0xffffu) | (mid << 16u);
  let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
  var low = lo;
  if (hi >= 0x200000u) {  // 2^53 or more: float64 keeps the top 53 bits
    let sh = 11u - countLeadingZeros(hi);  // bits dropped: the bit length (64 - clz) less 53, 1..9
    let rem = lo & ((1u << sh) - 1u);
    let half = 1u << (sh - 1u);
    let q = lo >> sh;
    let odd = (q & 1u) == 1u;
    let up = rem > half || (rem == half && odd);
    low = (q + select(0u, 1u, up)) << sh;
  }
  return bitcast<i32>(select(low, 0u - low, (a < 0i) != (b < 0i)));
}"""
#: TopK's rank count costs O(n) per element: longer axes (a vocabulary) sort faster on the CPU
MAX_TOPK_DIM = 4096


class CumulativeEmitter(Emitter):
    """One invocation per element: those at coordinate 0 along the axis walk their lane (forward or reverse,
    inclusive or exclusive); the others return. The axis may come at run time (the lanes follow from it)."""

    ops = ("CumSum", "CumProd")

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) < 2 or not all(node.inputs[:2]) or len(node.outputs) != 1:
            return False
        dts = CUM_DTYPES[node.op_type]
        if not gpu_static(graph, node.inputs[:1] + node.outputs, dts):
            return False
        x, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
        if x.dtype != y.dtype or not x.shape or tuple(x.shape) != tuple(y.shape) or x.numel() == 0:
            return False
        if not gpu_static(graph, node.inputs[1:2], ("int32", "int64")) or graph.values[node.inputs[1]].numel() != 1:
            return False
        ax = const_ints(graph, node.inputs[1])
        return ax is None or -len(x.shape) <= ax[0] < len(x.shape)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        shape = list(ctx.shape(node.inputs[0]))
        rank = len(shape)
        dtype = ctx.graph.values[node.inputs[0]].dtype
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        ax = const_ints(ctx, node.inputs[1])
        lines = []
        if ax is not None:
            a = ax[0] % rank
            lines += [f"let dim = {u(shape[a])};", f"let inner = {u(math.prod(shape[a + 1:]))};"]
        else:
            la = kb.load("axis", node.inputs[1])
            lines += [f"var a = {la}(0u);", f"if (a < 0i) {{ a = a + {rank}i; }}", "var dim = 1u;", "var inner = 1u;"]
            for d in range(rank):
                lines.append(f"if (a == {d}i) {{ dim = {u(shape[d])}; }}")
                if d > 0:
                    lines.append(f"if (a < {d}i) {{ inner = inner * {u(shape[d])}; }}")
        if node.op_type == "CumSum":
            ident, comb = ("0.0f", "acc + v") if dtype == "float32" else ("0i", "acc + v")
        elif dtype == "float32":
            ident, comb = "1.0f", "acc * v"
        else:
            kb.decls.append(IMUL_JS)
            ident, comb = "1i", "imul_js_(acc, v)"
        exclusive = bool(node.attrs["exclusive"])
        reverse = bool(node.attrs["reverse"])
        pos = "dim - 1u - s" if reverse else "s"
        lines += ["if ((i / inner) % dim != 0u) { return; }",
                  f"var acc = {ident};",
                  "for (var s = 0u; s < dim; s = s + 1u) {",
                  f"  let p = i + ({pos}) * inner;",
                  f"  let v = {lx}(p);"]
        if exclusive:
            lines += [f"  {st}(p, acc);", f"  acc = {comb};"]
        else:
            lines += [f"  acc = {comb};", f"  {st}(p, acc);"]
        lines.append("}")
        return [linear_kernel(kb, math.prod(shape), "\n".join(lines))]


class TopKEmitter(Emitter):
    """TopK (opset 10+, k from the static output shape) of float32 / int32 / int64 / uint64 data: each element
    counts the lane's elements ordered before it (larger first, or smaller with largest=0; NaN as the largest
    value; ties by index, like the js kernel's stable sort) and, when its rank is below k, writes itself and
    its index there."""

    ops = ("TopK",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if graph.opset_for(node.domain) < 10 or len(node.inputs) < 2 or not all(node.inputs[:2]):
            return False
        outs = node.outputs
        if len(outs) != 2 or not all(outs):
            return False
        if not gpu_static(graph, node.inputs[:1] + outs[:1], ("float32", "int32", "int64", "uint64")) \
                or not gpu_static(graph, outs[1:], ("int64",)):
            return False
        x, y, yi = (graph.values[n] for n in (node.inputs[0], outs[0], outs[1]))
        if x.dtype != y.dtype or not x.shape or tuple(y.shape) != tuple(yi.shape) or len(y.shape) != len(x.shape):
            return False
        axis = int(node.attrs["axis"])
        if not -len(x.shape) <= axis < len(x.shape):
            return False
        axis %= len(x.shape)
        if any(a != b for d, (a, b) in enumerate(zip(x.shape, y.shape)) if d != axis) or x.numel() == 0:
            return False
        k = y.shape[axis]
        if not 0 < k <= x.shape[axis] <= MAX_TOPK_DIM or not gpu_static(graph, node.inputs[1:2], ("int64",)):
            return False
        kc = const_ints(graph, node.inputs[1])
        return kc is None or kc == [k]

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        shape = list(ctx.shape(node.inputs[0]))
        axis = int(node.attrs["axis"]) % len(shape)
        dim, inner = shape[axis], math.prod(shape[axis + 1:])
        k = ctx.shape(node.outputs[0])[axis]
        dtype = ctx.graph.values[node.inputs[0]].dtype
        kb = KernelBuilder(ctx)
        lx, sv, si = kb.load("x", node.inputs[0]), kb.store("v", node.outputs[0]), kb.store("ix", node.outputs[1])
        largest = bool(node.attrs.get("largest", 1))  # opset 11+
        if dtype == "float32":  # NaN sorts as the largest value
            gt = "fn gt_(a: f32, b: f32) -> bool { return a > b || (isnan_(a) && !isnan_(b)); }"
            eq = "fn eq_(a: f32, b: f32) -> bool { return a == b || (isnan_(a) && isnan_(b)); }"
        else:  # int32 / int64 as i32, uint64 as u32 (the runtime refuses values that do not fit)
            t = "u32" if dtype == "uint64" else "i32"
            gt = f"fn gt_(a: {t}, b: {t}) -> bool {{ return a > b; }}"
            eq = f"fn eq_(a: {t}, b: {t}) -> bool {{ return a == b; }}"
        kb.decls += [gt, eq]
        first = "gt_(w, v)" if largest else "gt_(v, w)"   # w (at q) comes before v (at j)
        body = f"""
let j = (i / {u(inner)}) % {u(dim)};
let lane = i - j * {u(inner)};
let outer = i / {u(dim * inner)};
let q0 = i % {u(inner)};
let v = {lx}(i);
var rank = 0u;
for (var q = 0u; q < {u(dim)}; q = q + 1u) {{
  let w = {lx}(lane + q * {u(inner)});
  if ({first} || (eq_(w, v) && q < j)) {{ rank = rank + 1u; }}
}}
if (rank < {u(k)}) {{
  let o = (outer * {u(k)} + rank) * {u(inner)} + q0;
  {sv}(o, v);
  {si}(o, i32(j));
}}
"""
        return [linear_kernel(kb, math.prod(shape), body)]

"""MaxPool (with Indices) / AveragePool / LpPool (1-D to 3-D; one invocation per output) and the global pools (a
workgroup per channel)."""

from __future__ import annotations

import math
from typing import Optional

from webdnn_build.ir import Graph, Node
from webdnn_build.numerics import avgpool_column_first

from .base import (ROW_HEADER, Dispatch, Emitter, KernelBuilder, KernelContext, RuntimeSize, at_most, f32lit,
                   float32_static, gpu_static, i32_of, linear_kernel, reduce_fn, row_workgroups, u)


def pool_geometry(node: Node, x: tuple[int, ...]) -> Optional[tuple[list[int], list[int], list[int], list[int],
                                                                    list[int], list[int]]]:
    """(out, begin, end, kernel, strides, dilations) per spatial axis, as the js kernels' windowGeometry
    (auto_pad, ceil_mode); None for attributes the kernels reject."""
    rank = len(x) - 2
    a = node.attrs
    kernel = [int(k) for k in a.get("kernel_shape", [])]
    if len(kernel) != rank or any(k < 1 for k in kernel):
        return None
    strides = [int(v) for v in a.get("strides", [1] * rank)]
    dil = [int(v) for v in a.get("dilations", [1] * rank)]
    pads = [int(v) for v in a.get("pads", [0] * (2 * rank))]
    auto = a["auto_pad"]
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if len(strides) != rank or len(dil) != rank or len(pads) != 2 * rank or min(strides + dil) < 1:
        return None
    ceil = bool(a.get("ceil_mode"))  # opset 10+ (LpPool 18+)
    out, begin, end = [], [], []
    for i in range(rank):
        ek = (kernel[i] - 1) * dil[i] + 1
        n, s = x[i + 2], strides[i]
        if auto == "NOTSET":
            b, e = pads[i], pads[i + rank]
            span = n + b + e - ek
            if ceil:
                o = -(-span // s) + 1
                if (o - 1) * s >= n + b:
                    o -= 1
            else:
                o = span // s + 1
        elif auto == "VALID":
            b = e = 0
            o = (-(-(n - ek) // s) if ceil else (n - ek) // s) + 1
        elif auto in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-n // s)
            total = max(0, (o - 1) * s + ek - n)
            small = total // 2
            b = small if auto == "SAME_UPPER" else total - small
            e = total - b
        else:
            return None
        out.append(o if isinstance(o, RuntimeSize) else max(o, 0))
        begin.append(b)
        end.append(e)
    return out, begin, end, kernel, strides, dil


MAX_DTYPES = ("float32", "int32", "uint8")


class PoolEmitter(Emitter):
    """MaxPool (with its Indices output, storage_order 0 or 1), AveragePool and LpPool over 1 to 3 spatial
    dims: one invocation per output, the window walked as the js kernels do (window geometry, the first valid
    element wins MaxPool ties, AveragePool divides by the valid count or the count inside the explicit pads)."""

    ops = ("MaxPool", "AveragePool", "LpPool")
    symbolic = True  # the image size may be known at run time only (explicit pads, no ceil_mode)

    def supports(self, node: Node, graph: Graph) -> bool:
        outs = node.outputs
        if not outs or not outs[0] or len(outs) > (2 if node.op_type == "MaxPool" else 1):
            return False
        if node.op_type == "MaxPool":
            if not gpu_static(graph, node.inputs[:1] + outs[:1], MAX_DTYPES):
                return False
            if graph.values[node.inputs[0]].dtype != graph.values[outs[0]].dtype:
                return False
            if len(outs) > 1 and outs[1] and not gpu_static(graph, outs[1:2], ("int64",)):
                return False
        elif not float32_static(graph, node.inputs[:1] + outs[:1]):
            return False
        # p = 1: the js kernel sums x (not |x|); kept on the CPU rather than copying or contradicting it
        if node.op_type == "LpPool" and not 1 <= int(node.attrs["p"]) <= 8:
            return False
        x = tuple(graph.values[node.inputs[0]].shape)
        if not 3 <= len(x) <= 5 or not at_most(graph, math.prod(x), (1 << 31) - 1):
            return False
        geo = pool_geometry(node, x)
        if geo is None or tuple(graph.values[outs[0]].shape) != (x[0], x[1], *geo[0]):
            return False
        return all(tuple(graph.values[o].shape) == tuple(graph.values[outs[0]].shape) for o in outs if o)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x = ctx.shape(node.inputs[0])
        out, begin, end, kernel, strides, dil = pool_geometry(node, x)  # type: ignore[misc]
        sp = list(x[2:])
        rank = len(sp)
        S, P = math.prod(sp), math.prod(out)
        sst = [math.prod(sp[a + 1:]) for a in range(rank)]
        op = node.op_type
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        dtype = ctx.graph.values[node.inputs[0]].dtype
        lines = [f"let plane = i / {u(P)};", f"var rem = i % {u(P)};"]
        for a in range(rank - 1, -1, -1):
            lines.append(f"let o{a} = i32(rem % {u(out[a])}); rem = rem / {u(out[a])};")
        lines.append(f"let xoff = plane * {u(S)};")
        if op == "MaxPool":
            t = {"float32": "f32", "uint8": "u32"}.get(dtype, "i32")
            zero = {"f32": "f32_bits(0xff800000u)", "u32": "0u", "i32": "0i"}[t]
            lines += [f"var best = {zero};", "var arg = -1i;"]
        else:
            lines += ["var s = 0.0f;", "var n = 0u;"]
        inner = []
        depth = 0
        # AveragePool sums in onnxruntime's order (webdnn_build/numerics.py): 2-D with a horizontal stride
        # <= 2 column by column (the window's last axis outer, each column's sum added to s), else row by row.
        column_first = op == "AveragePool" and avgpool_column_first(tuple(kernel), tuple(strides))
        axes = [1, 0] if column_first else list(range(rank))
        for a in axes:
            pad = "  " * depth
            inner += [f"{pad}for (var k{a} = 0i; k{a} < {kernel[a]}i; k{a} = k{a} + 1i) {{",
                      f"{pad}  let c{a} = o{a} * {strides[a]}i - {begin[a]}i + k{a} * {dil[a]}i;",
                      f"{pad}  if (c{a} < 0i || c{a} >= {i32_of(sp[a])}) {{ continue; }}"]
            if column_first and a == 1:
                inner.append(f"{pad}  var col = 0.0f;")
            depth += 1
        pad = "  " * depth
        src = " + ".join(f"c{a} * {i32_of(sst[a])}" if sst[a] != 1 else f"c{a}" for a in range(rank))
        inner.append(f"{pad}let src = {src};")
        inner.append(f"{pad}let v = {lx}(xoff + u32(src));")
        if op == "MaxPool":
            inner.append(f"{pad}if (arg < 0i || v > best) {{ best = v; arg = src; }}")
        elif op == "AveragePool":
            inner.append(f"{pad}{'col = col + v' if column_first else 's = s + v'}; n = n + 1u;")
        else:
            p = int(node.attrs["p"])
            term = " * ".join(["av"] * p)
            inner.append(f"{pad}let av = abs(v);")
            inner.append(f"{pad}s = s + {term}; n = n + 1u;")
        for a in range(rank - 1, -1, -1):
            if column_first and a == 0:
                inner.append("  s = s + col;")
            inner.append("  " * a + "}")
        lines += [ln for ln in inner if ln.strip()]
        if op == "MaxPool":
            lines.append(f"{st}(i, best);")
            if len(node.outputs) > 1 and node.outputs[1]:
                si = kb.store("ind", node.outputs[1])
                if int(node.attrs.get("storage_order", 0)) == 1:  # (opset 8+) column-major spatial offset
                    cm, mul = [], 1
                    for a in range(rank):
                        cm.append(f"((arg / {sst[a]}i) % {sp[a]}i) * {mul}i")
                        mul *= sp[a]
                    idx = " + ".join(cm)
                else:
                    idx = "arg"
                lines.append(f"if (arg >= 0i) {{ {si}(i, i32(xoff) + {idx}); }} else {{ {si}(i, 0i); }}")
        elif op == "AveragePool":
            if int(node.attrs["count_include_pad"]):
                lines.append("var cnt = 1u;")
                for a in range(rank):
                    lines += [f"var m{a} = 0u;",
                              f"for (var k = 0i; k < {kernel[a]}i; k = k + 1i) {{",
                              f"  let c = o{a} * {strides[a]}i - {begin[a]}i + k * {dil[a]}i;",
                              f"  if (c >= {-begin[a]}i && c < {sp[a] + end[a]}i) {{ m{a} = m{a} + 1u; }}",
                              "}",
                              f"cnt = cnt * m{a};"]
                lines.append(f"{st}(i, s / f32(cnt));")
            else:
                lines.append(f"{st}(i, s / f32(n));")
        else:
            p = int(node.attrs["p"])
            fin = "s" if p == 1 else "sqrt(s)" if p == 2 else f"pow(s, {f32lit(1.0 / p)})"
            lines.append(f"{st}(i, {fin});")
        return [linear_kernel(kb, x[0] * x[1] * P, "\n".join(lines))]


class GlobalPoolEmitter(Emitter):
    ops = ("GlobalAveragePool", "GlobalMaxPool")
    symbolic = True  # the plane size may be known at run time only

    def supports(self, node: Node, graph: Graph) -> bool:
        return float32_static(graph, node.inputs + node.outputs) and len(graph.values[node.inputs[0]].shape) >= 3

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x = ctx.shape(node.inputs[0])
        rows, cols = x[0] * x[1], math.prod(x[2:])
        is_max = node.op_type == "GlobalMaxPool"
        if not is_max and at_most(ctx.graph, cols, SERIAL_MEAN_MAX_COLS):
            return [_serial_mean(ctx, node.inputs[0], node.outputs[0], rows, cols)]
        return [row_reduce(ctx, node.inputs[0], node.outputs[0], rows, cols, "max" if is_max else "mean")]


#: GlobalAveragePool over planes up to this size: one invocation per plane, summing in onnxruntime's order
#: (a quantized model re-quantizes the result); larger planes: a workgroup reduction per plane.
SERIAL_MEAN_MAX_COLS = 1024


def _serial_mean(ctx: KernelContext, x: str, y: str, rows: int, cols: int) -> Dispatch:
    """y[row] = mean of the row, summed as onnxruntime's CPU kernel does (the js kernel's
    globalSumFloat32Order): four running sums over j % 4, combined (s0 + s2) + (s1 + s3), then the tail."""
    kb = KernelBuilder(ctx)
    lx, st = kb.load("x", x), kb.store("y", y)
    quads = cols // 4 * 4
    body = (f"let base = i * {u(cols)};\n"
            "var s0 = 0.0f; var s1 = 0.0f; var s2 = 0.0f; var s3 = 0.0f;\n"
            f"for (var j = 0u; j < {u(quads)}; j = j + 4u) {{\n"
            f"  s0 = s0 + {lx}(base + j); s1 = s1 + {lx}(base + j + 1u);\n"
            f"  s2 = s2 + {lx}(base + j + 2u); s3 = s3 + {lx}(base + j + 3u);\n"
            "}\n"
            "var s = (s0 + s2) + (s1 + s3);\n"
            f"for (var j = {u(quads)}; j < {u(cols)}; j = j + 1u) {{ s = s + {lx}(base + j); }}\n"
            f"{st}(i, s / {f32lit(cols)});")
    return linear_kernel(kb, rows, body)


REDUCE_OPS = {
    # kind: (init, combine(a, b), map(v), final(acc, count))
    "sum": ("0.0f", "{a} + {b}", "{v}", "{acc}"),
    "mean": ("0.0f", "{a} + {b}", "{v}", "{acc} / {n}"),
    "max": ("f32_bits(0xff800000u)", "max({a}, {b})", "{v}", "{acc}"),
    "min": ("f32_bits(0x7f800000u)", "min({a}, {b})", "{v}", "{acc}"),
    "prod": ("1.0f", "{a} * {b}", "{v}", "{acc}"),
    "sumsquare": ("0.0f", "{a} + {b}", "{v} * {v}", "{acc}"),
    "l1": ("0.0f", "{a} + {b}", "abs({v})", "{acc}"),
    "l2": ("0.0f", "{a} + {b}", "{v} * {v}", "sqrt({acc})"),
    "logsum": ("0.0f", "{a} + {b}", "{v}", "log({acc})"),
}


def row_reduce(ctx: KernelContext, x: str, y: str, rows: int, cols: int, kind: str,
               offset_expr: str = "row * {cols} + j") -> Dispatch:
    """y[row] = reduce over j < cols of x[offset(row, j)]; one workgroup per row."""
    init, comb, mp, fin = REDUCE_OPS[kind]
    kb = KernelBuilder(ctx)
    lx, st = kb.load("x", x), kb.store("y", y)
    kb.override("WG_X", 64)
    kb.decls.append("var<workgroup> red: array<f32, WG_X>;")
    kb.decls.append(reduce_fn("wg_reduce", comb))
    off = offset_expr.format(cols=u(cols))
    body = ROW_HEADER + f"""
  if (row >= {u(rows)}) {{ return; }}
  var acc = {init};
  for (var j = li; j < {u(cols)}; j = j + WG_X) {{
    let v = {lx}({off});
    acc = {comb.format(a='acc', b=mp.format(v='v'))};
  }}
  let total = wg_reduce(li, acc);
  if (li == 0u) {{ {st}(row, {fin.format(acc='total', n=f32lit(cols))}); }}
}}
"""
    return kb.dispatch(body, workgroups=row_workgroups(rows))

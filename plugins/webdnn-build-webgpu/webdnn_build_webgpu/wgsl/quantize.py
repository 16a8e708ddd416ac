"""Linear quantization: DequantizeLinear, QuantizeLinear, DynamicQuantizeLinear, MatMulInteger, and
com.microsoft MatMulNBits (4-bit blocks), with the js kernels' (quantize.js, contrib.js) semantics.

8-bit activations live on the GPU one element per 32-bit word (int8 as i32, uint8 as u32). Constant 8-bit
weights of MatMulInteger and the 4-bit blocks of MatMulNBits are repacked at build time into uint32 words
(4 bytes per word, little-endian: the bytes of the model as they are) and unpacked in the kernel, so the
weights take their packed size in GPU memory.

Supported: uint8 / int8 quantized side (DequantizeLinear also int32), float32 scales, zero points of the
quantized type; per tensor or per axis; no ``block_size`` (opset 21). QuantizeLinear rounds half to even,
saturates, and maps NaN to the type's minimum (as onnxruntime). MatMulInteger accumulates in i32 on the
tiled GEMM template. MatMulNBits: bits 4, packed uint8 / float / no zero points, optional bias, no g_idx.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from webdnn_build.ir import Graph, Node
from webdnn_build.opforms import dynamic_quantize_form, matmul_nbits_form

from .base import (ROW_HEADER, Dispatch, Emitter, KernelBuilder, KernelContext, gpu_static, linear_kernel,
                   reduce_fn, u)
from .matmul import gemm_dispatch

Q8 = ("uint8", "int8")
FLOAT = 1  # TensorProto.FLOAT
ONNX_Q = {2: "uint8", 3: "int8"}
RANGE = {"uint8": (0, 255), "int8": (-128, 127)}


def _dtype(graph: Graph, name: str) -> Optional[str]:
    v = graph.values.get(name) if name else None
    return None if v is None else v.dtype


def _inp(node: Node, i: int) -> str:
    return node.inputs[i] if len(node.inputs) > i else ""


def _layout(node: Node, graph: Graph) -> Optional[tuple[int, int]]:
    """(chan, inner) of x for the node's scale and zero point: chan = 1 per tensor, else along ``axis``."""
    shape = tuple(graph.values[node.inputs[0]].shape)
    params = [n for n in node.inputs[1:3] if n]
    sizes = {math.prod(graph.values[n].shape) for n in params}
    ranks = {len(graph.values[n].shape) for n in params}
    if sizes == {1} and ranks <= {0, 1}:
        return 1, max(math.prod(shape), 1)
    if len(sizes) != 1 or ranks != {1}:
        return None
    axis = int(node.attrs.get("axis", 1))  # opset 13+ (before, scales are per tensor)
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis < len(shape) or shape[axis] != sizes.pop():
        return None
    return shape[axis], math.prod(shape[axis + 1:])


def _quant_supports(node: Node, graph: Graph, qside: str, fside: str, qdtypes: tuple[str, ...]) -> bool:
    if node.attrs.get("block_size") or len(node.inputs) < 2 or not node.inputs[0] or not node.inputs[1]:
        return False
    if len([o for o in node.outputs if o]) != 1 or not node.outputs[0]:
        return False
    zp = _inp(node, 2)
    if not gpu_static(graph, [node.inputs[0], node.inputs[1], node.outputs[0], zp]):
        return False
    if _dtype(graph, qside) not in qdtypes or _dtype(graph, fside) != "float32" or _dtype(graph, node.inputs[1]) != "float32":
        return False
    if zp and _dtype(graph, zp) != _dtype(graph, qside):
        return False
    if tuple(graph.values[node.inputs[0]].shape) != tuple(graph.values[node.outputs[0]].shape):
        return False
    return _layout(node, graph) is not None


def _params(node: Node, ctx: KernelContext, kb: KernelBuilder) -> tuple[str, str]:
    """WGSL statements giving ``sc`` (f32) and ``zp`` (f32) of element ``i``."""
    chan, inner = _layout(node, ctx.graph)  # type: ignore[misc]
    c = "0u" if chan == 1 else f"(i / {u(inner)}) % {u(chan)}"
    ls = kb.load("scale", node.inputs[1])
    zp = _inp(node, 2)
    lines = f"let ch = {c};\nlet sc = {ls}(ch);\n"
    lines += f"let zp = f32({kb.load('zp', zp)}(ch));" if zp else "let zp = 0.0f;"
    return lines, c


class DequantizeEmitter(Emitter):
    """y = (x - zero_point) * scale (the difference formed in f32): uint8 / int8 / int32 x, float32 y."""

    ops = ("DequantizeLinear",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if node.attrs.get("output_dtype") not in (None, 0, FLOAT):  # opset 23+; 0: the scale's type
            return False
        return _quant_supports(node, graph, node.inputs[0], node.outputs[0], (*Q8, "int32"))

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        pre, _ = _params(node, ctx, kb)
        zp = _inp(node, 2)
        # the difference in i32 (exact for 8-bit types), then rounded to f32 like the js kernel
        diff = f"f32(i32({lx}(i)) - i32({kb.load('zpi', zp)}(ch)))" if zp else f"f32({lx}(i))"
        return [linear_kernel(kb, ctx.numel(node.outputs[0]), f"{pre}\n{st}(i, {diff} * sc);", wg=256)]


def _quantize_expr(v: str, zp: str, qdtype: str) -> str:
    """saturate(round_half_even(v) + zp), NaN -> the type's minimum, as the quantized compute type."""
    lo, hi = RANGE[qdtype]
    t = "u32" if qdtype == "uint8" else "i32"
    return f"select({t}(clamp(round({v}) + {zp}, {float(lo)}f, {float(hi)}f)), {lo}{t[0]}, isnan_({v}))"


class QuantizeEmitter(Emitter):
    """y = saturate(rint(x / scale) + zero_point): float32 x, uint8 / int8 y."""

    ops = ("QuantizeLinear",)

    def supports(self, node: Node, graph: Graph) -> bool:
        # saturate: opset 19+; precision: opset 23+, 0 (its default) is the scale's type
        if node.attrs.get("saturate", 1) != 1 or node.attrs.get("precision") not in (None, 0, FLOAT):
            return False
        want = node.attrs.get("output_dtype")  # opset 21+; 0: the zero point's type
        if want and ONNX_Q.get(want) != _dtype(graph, node.outputs[0]):
            return False
        return _quant_supports(node, graph, node.outputs[0], node.inputs[0], Q8)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        kb = KernelBuilder(ctx)
        lx, st = kb.load("x", node.inputs[0]), kb.store("y", node.outputs[0])
        pre, _ = _params(node, ctx, kb)
        body = f"{pre}\nlet v = {lx}(i) / sc;\n{st}(i, {_quantize_expr('v', 'zp', _dtype(ctx.graph, node.outputs[0]))});"
        return [linear_kernel(kb, ctx.numel(node.outputs[0]), body, wg=256)]


#: a / 255 correctly rounded (a >= 0, normal): WGSL's division may be 2.5 ULP off (lavapipe multiplies by the
#: reciprocal) and a scale 1 ULP off onnxruntime's moves many quantized values. The quotient's neighbours are
#: tried with the exact error q·255 − a = (q·256 − a) − q (both subtractions exact by Sterbenz's lemma).
DIV255 = """fn div255_(a: f32) -> f32 {
  var best = a / 255.0f;
  var err = abs((best * 256.0f - a) - best);
  let b0 = bitcast<u32>(best);
  for (var k = 0u; k < 2u; k = k + 1u) {
    let c = bitcast<f32>(select(b0 - 1u, b0 + 1u, k == 1u));
    let e = abs((c * 256.0f - a) - c);
    if (e < err || (e == err && (bitcast<u32>(c) & 1u) == 0u)) { best = c; err = e; }
  }
  return best;
}"""


class DynamicQuantizeEmitter(Emitter):
    """float32 x -> uint8 y, scale, zero point. Two dispatches: one workgroup reduces min and max and writes
    scale and zero point; then one invocation per element quantizes with them."""

    ops = ("DynamicQuantizeLinear",)

    def supports(self, node: Node, graph: Graph) -> bool:
        return dynamic_quantize_form(node, graph) and gpu_static(graph, node.inputs + node.outputs)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        x = node.inputs[0]
        y, s, z = node.outputs
        total = ctx.numel(x)
        kb = KernelBuilder(ctx)
        lx, sts, stz = kb.load("x", x), kb.store("s", s), kb.store("z", z)
        kb.override("WG_X", 256)
        kb.decls += ["var<workgroup> red: array<f32, WG_X>;", DIV255, reduce_fn("wg_min", "min({a}, {b})"),
                     reduce_fn("wg_max", "max({a}, {b})")]
        body = ROW_HEADER + f"""
  var lo = 0.0f;
  var hi = 0.0f;
  for (var j = li; j < {u(total)}; j = j + WG_X) {{ let v = {lx}(j); lo = min(lo, v); hi = max(hi, v); }}
  let mn = wg_min(li, lo);
  let mx = wg_max(li, hi);
  if (li == 0u) {{
    let scale = div255_(select(mx - mn, 1.0f, mx == mn));
    {sts}(0u, scale);
    {stz}(0u, u32(clamp(round(0.0f - mn / scale), 0.0f, 255.0f)));
  }}
}}
"""
        first = kb.dispatch(body, workgroups=[1, 1, 1])
        kb2 = KernelBuilder(ctx)
        lx2, lsc, lzp, st = kb2.load("x", x), kb2.load("s", s), kb2.load("z", z), kb2.store("y", y)
        body2 = f"let v = {lx2}(i) / {lsc}(0u);\n{st}(i, {_quantize_expr('v', f'f32({lzp}(0u))', 'uint8')});"
        return [first, linear_kernel(kb2, total, body2, wg=256)]


def pack_words(a: np.ndarray) -> np.ndarray:
    """The bytes of a uint8 / int8 array as little-endian uint32 words (zero padded to a multiple of 4)."""
    b = np.ascontiguousarray(a).view(np.uint8).ravel()
    b = np.concatenate([b, np.zeros((-len(b)) % 4, np.uint8)])
    return b.view("<u4").astype(np.uint32)


def byte_fn(name: str, ld: str, signed: bool) -> str:
    """``fn <name>(i: u32) -> i32``: byte ``i`` of packed words read by ``ld`` (sign-extended for int8)."""
    if signed:
        get = f"bitcast<i32>({ld}(i >> 2u) << (24u - 8u * (i & 3u))) >> 24u"
    else:
        get = f"i32(({ld}(i >> 2u) >> (8u * (i & 3u))) & 0xffu)"
    return f"fn {name}(i: u32) -> i32 {{ return {get}; }}"


class MatMulIntegerEmitter(Emitter):
    """int32 Y = (A - a_zp) @ (B - b_zp), numpy broadcasting of batch dims, uint8 / int8 operands, a_zp one
    element (or per row of a 2-D A), b_zp one element (or per column of a 2-D B). Constant operands are read
    packed (4 per word)."""

    ops = ("MatMulInteger",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) < 2 or not node.inputs[0] or not node.inputs[1] or len(node.outputs) != 1:
            return False
        a, b, y = node.inputs[0], node.inputs[1], node.outputs[0]
        if not gpu_static(graph, [a, b], Q8) or not gpu_static(graph, [y], ("int32",)):
            return False
        sa, sb = tuple(graph.values[a].shape), tuple(graph.values[b].shape)
        if len(sa) < 2 or len(sb) < 2 or sa[-1] != sb[-2]:
            return False
        if not (len(sb) == 2 or (len(sa) == len(sb) and sa[:-2] == sb[:-2])):
            return False
        if tuple(graph.values[y].shape) != sa[:-1] + sb[-1:] or math.prod(sa[:-2]) > 65535:
            return False
        for zp, src in ((_inp(node, 2), a), (_inp(node, 3), b)):
            if zp and (not gpu_static(graph, [zp]) or _dtype(graph, zp) != _dtype(graph, src)
                       or len(graph.values[zp].shape) > 1):
                return False
        a_zp, b_zp = _inp(node, 2), _inp(node, 3)
        if a_zp and math.prod(graph.values[a_zp].shape) not in ({1, sa[-2]} if len(sa) == 2 else {1}):
            return False
        if b_zp and math.prod(graph.values[b_zp].shape) not in ({1, sb[-1]} if len(sb) == 2 else {1}):
            return False
        return True

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        a, b, y = node.inputs[0], node.inputs[1], node.outputs[0]
        a_zp, b_zp = _inp(node, 2), _inp(node, 3)
        sa, sb = ctx.shape(a), ctx.shape(b)
        k, n = sb[-2], sb[-1]
        if len(sb) == 2:
            m, batches = math.prod(sa[:-1]), 1
        else:
            m, batches = sa[-2], math.prod(sa[:-2])
        kb = KernelBuilder(ctx)
        funcs = []

        def operand(var: str, name: str) -> str:
            v = ctx.graph.values[name]
            if v.is_const:  # packed words
                ld = kb.load(var + "w", ctx.add_const(pack_words(np.asarray(v.const)), f"{var}_packed"))
                funcs.append(byte_fn(f"ld_{var}b", ld, v.dtype == "int8"))
                return f"ld_{var}b"
            ld = kb.load(var, name)
            return ld if v.dtype == "int8" else f"i32({ld}"

        def get(fn: str, idx: str) -> str:
            return f"{fn}{idx})" if fn.startswith("i32(") else f"{fn}({idx})"

        la, lb = operand("a", a), operand("b", b)

        def zero(var: str, name: str, per: str) -> str:
            if not name:
                return ""
            ld = kb.load(var, name)
            idx = per if math.prod(ctx.shape(name)) > 1 else "0u"
            return f" - {ld}({idx})" if _dtype(ctx.graph, name) == "int8" else f" - i32({ld}({idx}))"

        za, zb = zero("za", a_zp, "m"), zero("zb", b_zp, "n")
        st = kb.store("y", y)
        funcs += [
            f"fn la(bt: u32, m: u32, k: u32) -> i32 {{ return {get(la, f'(bt * {u(m * k)} + m * {u(k)} + k)')}{za}; }}",
            f"fn lb(bt: u32, k: u32, n: u32) -> i32 {{ return {get(lb, f'(bt * {u(k * n)} + k * {u(n)} + n)')}{zb}; }}",
            f"fn epi(bt: u32, m: u32, n: u32, v: i32) {{ {st}((bt * {u(m)} + m) * {u(n)} + n, v); }}",
        ]
        return [gemm_dispatch(kb, m, n, k, batches, "\n".join(funcs), elem="i32")]


class MatMulNBitsEmitter(Emitter):
    """Y = A @ dequant(B)ᵀ + bias; B [N, blocks, block/2] 4-bit codes read from packed words, dequantized as
    (code - zero_point) · scale while staging the GEMM's B tile."""

    ops = ("MatMulNBits",)
    domain = "com.microsoft"

    def supports(self, node: Node, graph: Graph) -> bool:
        form = matmul_nbits_form(node, graph)  # the form both native backends take (webdnn_build.opforms)
        if form is None or not gpu_static(graph, [n for n in node.inputs if n] + node.outputs[:1]):
            return False
        b, zp = _inp(node, 1), _inp(node, 3)
        # the codes (and packed zero points) are repacked into u32 words at build time: constants only
        return graph.values[b].const is not None and (form.zero_point != "uint8" or graph.values[zp].const is not None)

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        a, b, scales, zp, bias = _inp(node, 0), _inp(node, 1), _inp(node, 2), _inp(node, 3), _inp(node, 5)
        k, n, block = node.attrs["K"], node.attrs["N"], node.attrs["block_size"]
        blocks = -(-k // block)
        m = math.prod(ctx.shape(a)[:-1])
        kb = KernelBuilder(ctx)
        la = kb.load("a", a)
        lw = kb.load("bw", ctx.add_const(pack_words(np.asarray(ctx.const(b))), "nbits_packed"))
        ls = kb.load("scale", scales)
        funcs = [f"fn code(i: u32) -> u32 {{ return ({lw}(i >> 3u) >> (4u * (i & 7u))) & 0xfu; }}"]
        if not zp:
            zexpr = "8.0f"
        elif ctx.graph.values[zp].dtype == "uint8":
            stride = -(-blocks // 2)
            lz = kb.load("zw", ctx.add_const(pack_words(np.asarray(ctx.const(zp))), "nbits_zp_packed"))
            funcs.append(f"fn zcode(i: u32) -> u32 {{ return ({lz}(i >> 3u) >> (4u * (i & 7u))) & 0xfu; }}")
            zexpr = f"f32(zcode(n * {u(2 * stride)} + kb))"
        else:
            zexpr = f"{kb.load('zf', zp)}(n * {u(blocks)} + kb)"
        st = kb.store("y", node.outputs[0])
        v = f"v + {kb.load('bias', bias)}(n)" if bias else "v"
        # code index of (n, k): nibble (n * blocks + k / block) * block + k % block, low nibble first
        funcs += [
            f"fn la(bt: u32, m: u32, k: u32) -> f32 {{ return {la}(m * {u(k)} + k); }}",
            "fn lb(bt: u32, k: u32, n: u32) -> f32 {",
            f"  let kb = k / {u(block)};",
            f"  let q = f32(code((n * {u(blocks)} + kb) * {u(block)} + k % {u(block)}));",
            f"  return (q - {zexpr}) * {ls}(n * {u(blocks)} + kb);",
            "}",
            f"fn epi(bt: u32, m: u32, n: u32, v: f32) {{ {st}(m * {u(n)} + n, {v}); }}",
        ]
        return [gemm_dispatch(kb, m, n, k, 1, "\n".join(funcs), b_n_fast=False)]


class ConvIntegerEmitter(Emitter):
    """int32 Y = conv(X - x_zp, W - w_zp): 1-D / 2-D, any group, strides, dilations, pads / auto_pad; uint8 /
    int8 X and W, x_zp one element, w_zp one element or one per output channel. The implicit GEMM of conv.py
    in i32 (exact sums); padding reads as the zero point (0 after subtracting it), like the js kernel.
    Constant weights are read packed (4 per word)."""

    ops = ("ConvInteger",)

    def supports(self, node: Node, graph: Graph) -> bool:
        x, w, y = _inp(node, 0), _inp(node, 1), node.outputs[0] if node.outputs else ""
        if not (x and w and y) or len(node.outputs) != 1:
            return False
        if not gpu_static(graph, [x, w], Q8) or not gpu_static(graph, [y], ("int32",)):
            return False
        sx, sw = tuple(graph.values[x].shape), tuple(graph.values[w].shape)
        if len(sx) not in (3, 4) or len(sw) != len(sx):
            return False
        group = int(node.attrs["group"])
        if group < 1 or sx[1] % group or sw[0] % group or sw[1] * group != sx[1]:
            return False
        for zp, src, sizes in ((_inp(node, 2), x, {1}), (_inp(node, 3), w, {1, sw[0]})):
            if zp and (not gpu_static(graph, [zp]) or _dtype(graph, zp) != _dtype(graph, src)
                       or len(graph.values[zp].shape) > 1 or math.prod(graph.values[zp].shape) not in sizes):
                return False
        return math.prod(sx[:1]) * group <= 65535

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        from webdnn_build.codegen import spatial_params  # the geometry of conv.py
        x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
        x_zp, w_zp = _inp(node, 2), _inp(node, 3)
        x_shape, w_shape, y_shape = ctx.shape(x), ctx.shape(w), ctx.shape(y)
        h, wd, oh, ow, (kh, kw), (sh, sw), (dh, dw), (pt, pl, _, _) = spatial_params(node, x_shape, w_shape[2:], y_shape)
        n, cin, cout = x_shape[0], x_shape[1], y_shape[1]
        group = int(node.attrs["group"])
        cin_g, cout_g = cin // group, cout // group
        kk, ohw = cin_g * kh * kw, oh * ow
        kb = KernelBuilder(ctx)
        funcs = []
        wv = ctx.graph.values[w]
        if wv.is_const:
            ld = kb.load("ww", ctx.add_const(pack_words(np.asarray(wv.const)), "w_packed"))
            funcs.append(byte_fn("ld_wb", ld, wv.dtype == "int8"))
            lw = "ld_wb({})"
        else:
            lw = kb.load("w", w) + "({})"
            lw = lw if wv.dtype == "int8" else f"i32({lw})"
        lx = kb.load("x", x) + "({})"
        lx = lx if _dtype(ctx.graph, x) == "int8" else f"i32({lx})"

        def zero(var: str, name: str, idx: str) -> str:
            if not name:
                return ""
            ld = kb.load(var, name)
            i = idx if math.prod(ctx.shape(name)) > 1 else "0u"
            return f" - {ld}({i})" if _dtype(ctx.graph, name) == "int8" else f" - i32({ld}({i}))"

        zx, zw = zero("zx", x_zp, "0u"), zero("zw", w_zp, "co")
        st = kb.store("y", y)
        funcs.append(f"""
fn la(b: u32, m: u32, k: u32) -> i32 {{
  let co = (b % {u(group)}) * {u(cout_g)} + m;
  return {lw.format(f'co * {u(kk)} + k')}{zw};
}}
fn lb(b: u32, k: u32, p: u32) -> i32 {{
  let ni = b / {u(group)};
  let g = b % {u(group)};
  let ci = k / {u(kh * kw)};
  let r = k % {u(kh * kw)};
  let iy = i32((p / {u(ow)}) * {u(sh)} + (r / {u(kw)}) * {u(dh)}) - {pt}i;
  let ix = i32((p % {u(ow)}) * {u(sw)} + (r % {u(kw)}) * {u(dw)}) - {pl}i;
  if (iy < 0i || iy >= {h}i || ix < 0i || ix >= {wd}i) {{ return 0i; }}
  return {lx.format(f'((ni * {u(cin)} + g * {u(cin_g)} + ci) * {u(h)} + u32(iy)) * {u(wd)} + u32(ix)')}{zx};
}}
fn epi(b: u32, m: u32, p: u32, v: i32) {{
  let co = (b % {u(group)}) * {u(cout_g)} + m;
  {st}(((b / {u(group)}) * {u(cout)} + co) * {u(ohw)} + p, v);
}}
""")
        return [gemm_dispatch(kb, cout_g, ohw, kk, n * group, "\n".join(funcs), elem="i32")]

"""Linear quantization (csrc/quantize.c): DequantizeLinear, QuantizeLinear, DynamicQuantizeLinear and
MatMulInteger, with the js kernels' (quantize.js, matmul.js) and onnxruntime's semantics.

Supported: quantized side uint8 / int8 (DequantizeLinear also int32), float32 scales, zero points of the
quantized type; per-tensor or per-axis (opset 13 ``axis``) scales; no ``block_size`` (opset 21 blocked
quantization) and no float8/int4/16-bit types: such nodes run as js steps.
"""

from __future__ import annotations

import math
from typing import Optional

from webdnn_build.ir import Graph, Node
from webdnn_build.opforms import dynamic_quantize_form

from .base import DT_CODES, EmitContext, Emitter, all_static, prepared_buffer, struct_init

Q8 = ("uint8", "int8")
FLOAT = 1  # TensorProto.FLOAT
ONNX_Q = {2: "uint8", 3: "int8"}


def _outs(node: Node) -> list[str]:
    return [o for o in node.outputs if o]


def _dtype(graph: Graph, name: str) -> Optional[str]:
    v = graph.values.get(name)
    return None if v is None else v.dtype


def _layout(node: Node, graph: Graph, x: str) -> Optional[tuple[int, int, int]]:
    """(outer, chan, inner) of x for the node's scale (and zero point): per tensor or along ``axis``."""
    shape = tuple(graph.values[x].shape)
    total = math.prod(shape)
    params = [n for n in node.inputs[1:3] if n]
    sizes = {math.prod(graph.values[n].shape) for n in params}
    ranks = {len(graph.values[n].shape) for n in params}
    if sizes == {1} and ranks <= {0, 1}:
        return 1, 1, total
    if len(sizes) != 1 or ranks != {1}:
        return None
    axis = int(node.attrs.get("axis", 1))  # opset 13+ (before, scales are per tensor)
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis < len(shape) or shape[axis] != sizes.pop():
        return None
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])


def _quant_supports(node: Node, graph: Graph, qside: str, fside: str, qdtypes: tuple[str, ...]) -> bool:
    if node.attrs.get("block_size") or len(node.inputs) < 2 or not node.inputs[0] or not node.inputs[1]:
        return False
    if not all_static(graph, [node.inputs[0], node.inputs[1], node.outputs[0]]):
        return False
    if _dtype(graph, qside) not in qdtypes or _dtype(graph, fside) != "float32" or _dtype(graph, node.inputs[1]) != "float32":
        return False
    zp = node.inputs[2] if len(node.inputs) > 2 else ""
    if zp and (not all_static(graph, [zp]) or _dtype(graph, zp) != _dtype(graph, qside)):
        return False
    if tuple(graph.values[node.inputs[0]].shape) != tuple(graph.values[node.outputs[0]].shape):
        return False
    return _layout(node, graph, node.inputs[0]) is not None


def _quant_call(node: Node, ctx: EmitContext, fn: str, q: str, f: str) -> list[str]:
    outer, chan, inner = _layout(node, ctx.graph, node.inputs[0])
    zp = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else ""
    var = ctx.fresh("quant")
    ctx.decls.append(struct_init("wdn_quant_params", var, {
        "outer": outer, "chan": chan, "inner": inner, "qdt": DT_CODES[ctx.graph.values[q].dtype],
        "q": f"(void*){ctx.ptr(q)}", "scale": ctx.ptr(node.inputs[1]), "zp": ctx.ptr(zp) if zp else "0",
        "f": f"(float*){ctx.ptr(f)}"}))
    return [f"{fn}(&{var}, tid, nth);"]


class DequantizeEmitter(Emitter):
    """y = (x - zero_point) * scale: uint8 / int8 / int32 x, float32 y."""

    ops = ("DequantizeLinear",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(_outs(node)) != 1 or node.attrs.get("output_dtype") not in (None, 0, FLOAT):  # 0: the scale's type
            return False
        return _quant_supports(node, graph, node.inputs[0], node.outputs[0], (*Q8, "int32"))

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        return _quant_call(node, ctx, "wdn_dequantize_linear", node.inputs[0], node.outputs[0])


class QuantizeEmitter(Emitter):
    """y = saturate(rint(x / scale) + zero_point): float32 x, uint8 / int8 y."""

    ops = ("QuantizeLinear",)

    def supports(self, node: Node, graph: Graph) -> bool:
        # saturate: opset 19+; precision: opset 23+, 0 (its default) is the scale's type
        if len(_outs(node)) != 1 or node.attrs.get("saturate", 1) != 1 \
                or node.attrs.get("precision") not in (None, 0, FLOAT):
            return False
        want = node.attrs.get("output_dtype")  # opset 21+; 0: the zero point's type
        if want and ONNX_Q.get(want) != _dtype(graph, node.outputs[0]):
            return False
        return _quant_supports(node, graph, node.outputs[0], node.inputs[0], Q8)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        return _quant_call(node, ctx, "wdn_quantize_linear", node.outputs[0], node.inputs[0])


class DynamicQuantizeEmitter(Emitter):
    """float32 x -> uint8 y, float32 scale, uint8 zero point (all three outputs used)."""

    ops = ("DynamicQuantizeLinear",)

    def supports(self, node: Node, graph: Graph) -> bool:
        return dynamic_quantize_form(node, graph)  # (webdnn_build.opforms: the form both backends take)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x = node.inputs[0]
        y, s, z = node.outputs
        return [f"wdn_dynamic_quantize_linear({math.prod(ctx.shape(x))}, {ctx.ptr(x)}, {ctx.ptr(y)}, {ctx.ptr(s)}, "
                f"{ctx.ptr(z)}, tid, nth);"]


#: constant B operands of MatMulInteger packed at load (int16, zero point subtracted: twice their size) take
#: wasm memory next to the weights: at most this much per model; past it B is packed per run
PREPACK_BUDGET = 64 << 20


def _packed_b(ctx: EmitContext, b: str, b_zp: str, k: int, n: int, b_fields: dict) -> str:
    """A static buffer with the constant ``b`` packed for wdn_matmul_integer (wdn_matmul_integer_prepack_b at
    wdn_prepare); "0" when the budget is spent."""
    i16 = ((n + 3) // 4 * 4) * ((k + 7) // 8 * 8)
    var = ctx.fresh("mmi_pack")
    fields = ", ".join(f".{key} = {v}" for key, v in b_fields.items())
    # (a str.format template: braces doubled, {buf} the buffer)
    fill = (f"{{{{ const wdn_matmul_integer_params {var} = {{{{{fields}}}}}; "
            f"wdn_matmul_integer_prepack_b(&{var}, (int16_t*){{buf}}); }}}}")
    buf = prepared_buffer(ctx, f"mmi/{b}/{b_zp}", f"(WDN_MATMUL_INTEGER_PACKED_I16({k}, {n}) + 1) / 2", 2 * i16,
                          PREPACK_BUDGET, fill)
    return f"((const int16_t*){buf})" if buf else "0"


def _matmul_integer_supports(graph: Graph, a: str, b: str, a_zp: str, b_zp: str, y: str, y_dtype: str,
                             b_2d: bool) -> bool:
    """A [..., M, K] and B [K, N] (or, unless ``b_2d``, both with equal batch dims) of uint8 / int8; a_zp one
    element, b_zp one element or per column (2-D B); y of A's shape with N columns."""
    if not all_static(graph, [a, b], Q8) or not all_static(graph, [y], (y_dtype,)):
        return False
    sa, sb = tuple(graph.values[a].shape), tuple(graph.values[b].shape)
    if len(sa) < 2 or len(sb) < 2 or sa[-1] != sb[-2] or (b_2d and len(sb) != 2):
        return False
    if not (len(sb) == 2 or (len(sa) == len(sb) and sa[:-2] == sb[:-2])):
        return False
    if tuple(graph.values[y].shape) != sa[:-1] + sb[-1:]:
        return False
    for zp, src, allowed in ((a_zp, a, {1}), (b_zp, b, {1, sb[-1]} if len(sb) == 2 else {1})):
        if zp and (not all_static(graph, [zp]) or _dtype(graph, zp) != _dtype(graph, src)
                   or math.prod(graph.values[zp].shape) not in allowed or len(graph.values[zp].shape) > 1):
            return False
    return True


def _matmul_integer_calls(ctx: EmitContext, a: str, b: str, a_zp: str, b_zp: str, y: str,
                          epilogue: Optional[dict] = None) -> list[str]:
    """wdn_matmul_integer calls (one per batch of a batched B); ``epilogue``: the to_float fields."""
    sa, sb = ctx.shape(a), ctx.shape(b)
    k, n = sb[-2], sb[-1]
    ctx.scratch.append(f"WDN_MATMUL_INTEGER_SCRATCH_BYTES({k})")
    if len(sb) == 2:
        m, batches = math.prod(sa[:-1]), 1
    else:
        m, batches = sa[-2], math.prod(sa[:-2])
    pa, pb, py = ctx.ptr(a), ctx.ptr(b), ctx.ptr(y)
    b_fields = {"b_signed": int(ctx.graph.values[b].dtype == "int8"), "b": pb, "n": n, "k": k,
                "b_zp": ctx.ptr(b_zp) if b_zp else "0",
                "b_zp_per_col": int(bool(b_zp) and math.prod(ctx.shape(b_zp)) == n and n > 1)}
    packed = "0"
    if len(sb) == 2 and ctx.const(b) is not None and (not b_zp or ctx.const(b_zp) is not None):
        packed = _packed_b(ctx, b, b_zp, k, n, b_fields)
    calls = []
    for i in range(batches):
        var = ctx.fresh("mmi")
        ctx.decls.append(struct_init("wdn_matmul_integer_params", var, {
            **b_fields, "m": m, "a_signed": int(ctx.graph.values[a].dtype == "int8"),
            "a": f"({pa} + {i * m * k})", "b": f"({pb} + {i * k * n})", "a_zp": ctx.ptr(a_zp) if a_zp else "0",
            "y": f"(int32_t*)({py} + {i * m * n})", "scratch": "wdn_scratch", "scratch_stride": "WDN_SCRATCH_STRIDE",
            "b_packed": packed, **(epilogue or {})}))
        calls.append(f"wdn_matmul_integer(&{var}, tid, nth);")
    return calls


def _input(node: Node, i: int) -> str:
    return node.inputs[i] if len(node.inputs) > i and node.inputs[i] else ""


class MatMulIntegerEmitter(Emitter):
    """int32 Y = (A - a_zp) @ (B - b_zp): A [..., M, K], B [K, N] (A's batch dims folded into M) or both with
    equal batch dims; uint8 / int8 operands; a_zp one element, b_zp one element or per column (2-D B)."""

    ops = ("MatMulInteger",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) < 2 or not node.inputs[0] or not node.inputs[1] or len(_outs(node)) != 1:
            return False
        return _matmul_integer_supports(graph, node.inputs[0], node.inputs[1], _input(node, 2), _input(node, 3),
                                        node.outputs[0], "int32", False)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        return _matmul_integer_calls(ctx, node.inputs[0], node.inputs[1], _input(node, 2), _input(node, 3),
                                     node.outputs[0])


class MatMulIntegerToFloatEmitter(Emitter):
    """com.microsoft MatMulIntegerToFloat (A, B, a_scale, b_scale, a_zero_point, b_zero_point, bias): float32
    Y = ((A - a_zp) @ (B - b_zp)) * (a_scale * b_scale) + bias, as onnxruntime (the product of the scales
    rounded, then the int32 sum times it, then the bias); a 2-D B, a_scale one element, b_scale and bias one
    element / per column. The wasm backend also makes it from QDQ MatMuls (qdq_matmul.py)."""

    ops = ("MatMulIntegerToFloat",)
    domain = "com.microsoft"

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) < 4 or not all(node.inputs[:4]) or len(_outs(node)) != 1:
            return False
        a, b, a_scale, b_scale = node.inputs[:4]
        if not _matmul_integer_supports(graph, a, b, _input(node, 4), _input(node, 5), node.outputs[0], "float32", True):
            return False
        n = graph.values[b].shape[-1]
        for name, allowed in ((a_scale, {1}), (b_scale, {1, n}), (_input(node, 6), {n})):
            if name and (not all_static(graph, [name], ("float32",)) or len(graph.values[name].shape) > 1
                         or math.prod(graph.values[name].shape) not in allowed):
                return False
        return True

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        a, b, a_scale, b_scale = node.inputs[:4]
        n = ctx.shape(b)[-1]
        bias = _input(node, 6)
        epilogue = {"to_float": 1, "a_scale": ctx.ptr(a_scale), "b_scale": ctx.ptr(b_scale),
                    "b_scale_per_col": int(math.prod(ctx.shape(b_scale)) == n and n > 1),
                    "bias": ctx.ptr(bias) if bias else "0"}
        return _matmul_integer_calls(ctx, a, b, _input(node, 4), _input(node, 5), node.outputs[0], epilogue)


class ConvIntegerEmitter(Emitter):
    """int32 Y = conv(X - x_zp, W - w_zp): 1-D / 2-D, any strides, dilations, pads and group; uint8 / int8
    operands; zero points of one element (onnxruntime rejects per-channel w_zp; the kernel could take it)."""

    ops = ("ConvInteger",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) < 2 or not node.inputs[0] or not node.inputs[1] or len(_outs(node)) != 1:
            return False
        x, w = node.inputs[:2]
        y = node.outputs[0]
        if not all_static(graph, [x, w], Q8) or not all_static(graph, [y], ("int32",)):
            return False
        sx, sw, sy = (tuple(graph.values[n].shape) for n in (x, w, y))
        group = int(node.attrs["group"])
        if len(sx) not in (3, 4) or len(sw) != len(sx) or len(sy) != len(sx) or group < 1:
            return False
        if sx[1] % group or sw[0] % group or sw[1] * group != sx[1] or sy[:2] != (sx[0], sw[0]):
            return False
        for zp, src, allowed in ((node.inputs[2] if len(node.inputs) > 2 else "", x, {1}),
                                 (node.inputs[3] if len(node.inputs) > 3 else "", w, {1})):
            if zp and (not all_static(graph, [zp]) or _dtype(graph, zp) != _dtype(graph, src)
                       or math.prod(graph.values[zp].shape) not in allowed or len(graph.values[zp].shape) > 1):
                return False
        return True

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        from webdnn_build.codegen import spatial_params
        x, w = node.inputs[:2]
        x_zp = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else ""
        w_zp = node.inputs[3] if len(node.inputs) > 3 and node.inputs[3] else ""
        sx, sw, sy = ctx.shape(x), ctx.shape(w), ctx.shape(node.outputs[0])
        h, wd, oh, ow, k, s, d, (pt, pl, _pb, _pr) = spatial_params(node, sx, sw, sy)
        group = int(node.attrs["group"])
        ctx.scratch.append(f"WDN_CONV_INTEGER_SCRATCH_BYTES({sw[1] * k[0] * k[1]})")
        var = ctx.fresh("convi")
        ctx.decls.append(struct_init("wdn_conv_integer_params", var, {
            "n": sx[0], "cin": sx[1], "h": h, "w": wd, "cout": sw[0], "oh": oh, "ow": ow,
            "kh": k[0], "kw": k[1], "sh": s[0], "sw": s[1], "dh": d[0], "dw": d[1], "pad_t": pt, "pad_l": pl,
            "group": group, "x_signed": int(ctx.graph.values[x].dtype == "int8"),
            "w_signed": int(ctx.graph.values[w].dtype == "int8"), "x": ctx.ptr(x), "weight": ctx.ptr(w),
            "x_zp": ctx.ptr(x_zp) if x_zp else "0", "w_zp": ctx.ptr(w_zp) if w_zp else "0",
            "w_zp_per_oc": int(bool(w_zp) and math.prod(ctx.shape(w_zp)) == sw[0] and sw[0] > 1),
            "y": ctx.ptr(node.outputs[0]), "scratch": "wdn_scratch", "scratch_stride": "WDN_SCRATCH_STRIDE"}))
        return [f"wdn_conv_integer(&{var}, tid, nth);"]

"""Conv (1-D and 2-D, any group) → wdn_conv2d_f32 (im2col + GEMM), wdn_conv2d_dw_f32 (depthwise) or
wdn_conv3x3_wino_f32 (Winograd), with an optional fused residual input.

The residual form is produced by ``fuse_residual`` in the backend: Conv followed by an Add of a
same-shape tensor becomes one Conv whose 4th input is that tensor (added before the activation).
"""

from __future__ import annotations

from webdnn_build.codegen import option_flag, spatial_params
from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, act_struct, all_float32_static, prepared_buffer, struct_init, supported_activation

#: Winograd F(2x2, 3x3) (csrc/conv_winograd.c) for 3x3 stride-1 convs with at least this many input and
#: output channels: below it the input and output transforms (per tile and channel) cost more than the
#: multiply-adds they save
WINOGRAD_MIN_CHANNELS = 32
#: the transformed weights (16/9 of the 3x3 weights) take wasm memory next to the weights: at most this much
#: per model, the convs after it use im2col
WINOGRAD_BUDGET = 256 << 20


#: a 1x1 conv over fewer pixels than this, not a multiple of 8 (the 7x7 maps of a classifier's last stage),
#: runs transposed (pixels as the GEMM's rows: no narrow edge column) on weights packed once at load
TRANSPOSED_POINTWISE_MAX_PIXELS = 128


def _transposed_pointwise_weights(node: Node, ctx: EmitContext, w_shape, pixels: int, k, s, pads) -> str | None:
    """The static buffer of W^T packed as a GEMM B when the 1x1 conv takes the transposed path, else None."""
    from .gemm import PREPACK_BUDGET

    cout, cin = w_shape[0], w_shape[1]
    if (tuple(k) != (1, 1) or any(v != 1 for v in s) or any(pads) or int(node.attrs["group"]) != 1
            or pixels >= TRANSPOSED_POINTWISE_MAX_PIXELS or pixels % 8 == 0 or ctx.const(node.inputs[1]) is None):
        return None
    npad = (cout + 7) // 8 * 8
    return prepared_buffer(ctx, f"{node.inputs[1]}/1", f"WDN_GEMM_PREPACKED_FLOATS({cin}, {cout})", 4 * cin * npad,
                           PREPACK_BUDGET, f"wdn_gemm_prepack_b({ctx.ptr(node.inputs[1])}, {cin}, {cout}, 1, {{buf}});")


def _winograd_weights(node: Node, ctx: EmitContext, x_shape, w_shape, k, s, d) -> str | None:
    """The static buffer of the Winograd-transformed weights when the conv takes that path, else None."""
    group = int(node.attrs["group"])
    cout, cin = w_shape[0], w_shape[1]
    if (len(x_shape) != 4 or tuple(k) != (3, 3) or tuple(s) != (1, 1) or tuple(d) != (1, 1) or group != 1
            or min(cin, cout) < WINOGRAD_MIN_CHANNELS or ctx.const(node.inputs[1]) is None
            or not option_flag(ctx.options, "winograd", True)):
        return None
    npad = (cout + 7) // 8 * 8
    return prepared_buffer(ctx, f"wino/{node.inputs[1]}", f"WDN_CONV_WINO_U_FLOATS({cin}, {cout})",
                           4 * 16 * cin * npad, WINOGRAD_BUDGET,
                           f"wdn_conv3x3_wino_prepare({ctx.ptr(node.inputs[1])}, {cout}, {cin}, {{buf}});")


class ConvEmitter(Emitter):
    ops = ("Conv",)

    def supports(self, node: Node, graph: Graph) -> bool:
        if not all_float32_static(graph, node.inputs + node.outputs) or not supported_activation(node.attrs):
            return False
        x = graph.values[node.inputs[0]].shape
        return x is not None and len(x) in (3, 4)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x_shape, w_shape, y_shape = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1]), ctx.shape(node.outputs[0])
        h, w, oh, ow, k, s, d, (pt, pl, pb, pr) = spatial_params(node, x_shape, w_shape, y_shape)
        group = int(node.attrs["group"])
        bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
        residual = node.inputs[3] if len(node.inputs) > 3 and node.inputs[3] else None
        cin_g = x_shape[1] // group
        # one kernel per conv family, so that a model links only the ones it uses
        wino_u = _winograd_weights(node, ctx, x_shape, w_shape, k, s, d)
        packed_wt = None if wino_u else _transposed_pointwise_weights(node, ctx, w_shape, oh * ow, k, s, (pt, pl, pb, pr))
        if wino_u:
            fn = "wdn_conv3x3_wino_f32"
            ctx.scratch.append(f"WDN_CONV_WINO_SCRATCH_BYTES({cin_g}, {y_shape[1]})")
        elif group > 1 and group == x_shape[1] == y_shape[1]:
            fn = "wdn_conv2d_dw_f32"
        elif packed_wt:
            fn = "wdn_conv2d_f32"
            ctx.scratch.append(f"WDN_CONV1X1_T_SCRATCH_BYTES({cin_g}, {y_shape[1]}, {oh * ow})")
        else:
            fn = "wdn_conv2d_f32"
            ctx.scratch.append(f"WDN_CONV2D_SCRATCH_BYTES({cin_g}, {k[0]}, {k[1]}, {oh}, {ow})")
        var = ctx.fresh("conv")
        ctx.decls.append(struct_init("wdn_conv2d_params", var, {
            "n": x_shape[0], "cin": x_shape[1], "h": h, "w": w, "cout": y_shape[1], "oh": oh, "ow": ow,
            "kh": k[0], "kw": k[1], "sh": s[0], "sw": s[1], "dh": d[0], "dw": d[1],
            "pad_t": pt, "pad_l": pl, "pad_b": pb, "pad_r": pr, "group": group,
            "x": ctx.ptr(node.inputs[0]), "weight": ctx.ptr(node.inputs[1]),
            "bias": ctx.ptr(bias) if bias else "0", "residual": ctx.ptr(residual) if residual else "0",
            "y": ctx.ptr(node.outputs[0]), "scratch": "wdn_scratch", "scratch_stride": "WDN_SCRATCH_STRIDE",
            "act": act_struct(node.attrs), "wino_u": wino_u or "0", "packed_wt": packed_wt or "0",
        }))
        return [f"{fn}(&{var}, tid, nth);"]

"""ConvTranspose, 1-D and 2-D (1-D lifted to a height of 1), any strides, dilations, explicit pads,
output_padding and group (csrc/convtranspose.c). Not taken: auto_pad SAME_* and the output_shape attribute
(the pads they imply are left to the js kernel), fused activations."""

from __future__ import annotations

from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_float32_static, struct_init
from .movement import str_attr


class ConvTransposeEmitter(Emitter):
    ops = ("ConvTranspose",)

    def _geometry(self, node: Node, graph: Graph):
        x = tuple(graph.values[node.inputs[0]].shape)
        wt = tuple(graph.values[node.inputs[1]].shape)
        y = tuple(graph.values[node.outputs[0]].shape)
        if len(x) not in (3, 4) or len(wt) != len(x) or len(y) != len(x):
            return None
        sp = len(x) - 2
        group = int(node.attrs["group"])
        if group <= 0 or x[1] % group or wt[0] != x[1]:
            return None
        cout = wt[1] * group
        if y[:2] != (x[0], cout):
            return None
        ks = [int(v) for v in node.attrs.get("kernel_shape", wt[2:])]
        if tuple(ks) != wt[2:]:
            return None
        strides = [int(v) for v in node.attrs.get("strides", [1] * sp)]
        dil = [int(v) for v in node.attrs.get("dilations", [1] * sp)]
        opad = [int(v) for v in node.attrs.get("output_padding", [0] * sp)]
        auto = str_attr(node, "auto_pad")
        if "output_shape" in node.attrs or auto not in ("NOTSET", "VALID"):
            return None
        pads = [int(v) for v in node.attrs.get("pads", [0] * (2 * sp))] if auto == "NOTSET" else [0] * (2 * sp)
        if len(strides) != sp or len(dil) != sp or len(opad) != sp or len(pads) != 2 * sp:
            return None
        if min(strides + dil) <= 0 or min(pads) < 0:
            return None
        out = [strides[i] * (x[2 + i] - 1) + opad[i] + (ks[i] - 1) * dil[i] + 1 - pads[i] - pads[i + sp]
               for i in range(sp)]
        if tuple(out) != y[2:]:
            return None
        if sp == 1:  # lift to 2-D
            return dict(n=x[0], cin=x[1], h=1, w=x[2], cout=cout, oh=1, ow=y[2], kh=1, kw=ks[0], sh=1, sw=strides[0],
                        dh=1, dw=dil[0], pad_t=0, pad_l=pads[0], group=group)
        return dict(n=x[0], cin=x[1], h=x[2], w=x[3], cout=cout, oh=y[2], ow=y[3], kh=ks[0], kw=ks[1],
                    sh=strides[0], sw=strides[1], dh=dil[0], dw=dil[1], pad_t=pads[0], pad_l=pads[1], group=group)

    def supports(self, node: Node, graph: Graph) -> bool:
        if len(node.inputs) not in (2, 3) or not node.inputs[0] or not node.inputs[1] or len(node.outputs) != 1:
            return False
        if "fused_activation" in node.attrs or not all_float32_static(graph, node.inputs + node.outputs):
            return False
        geo = self._geometry(node, graph)
        if geo is None:
            return False
        bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
        return bias is None or tuple(graph.values[bias].shape) == (geo["cout"],)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        geo = self._geometry(node, ctx.graph)
        bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
        var = ctx.fresh("convt")
        ctx.decls.append(struct_init("wdn_convtranspose2d_params", var, {
            **geo, "x": ctx.ptr(node.inputs[0]), "weight": ctx.ptr(node.inputs[1]),
            "bias": ctx.ptr(bias) if bias else "0", "y": ctx.ptr(node.outputs[0]),
        }))
        return [f"wdn_convtranspose2d_f32(&{var}, tid, nth);"]

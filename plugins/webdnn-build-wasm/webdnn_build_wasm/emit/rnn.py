"""LSTM and GRU (csrc/rnn.c): layout 0, forward / reverse / bidirectional, default activations, optional
biases, initial states and LSTM peepholes, GRU linear_before_reset either way. Not taken (left to the js
kernel): sequence_lens, clip, other activations, input_forget, layout 1."""

from __future__ import annotations

from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_float32_static, struct_init
from .movement import str_attr

DEFAULT_ACTS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"]}


class RNNEmitter(Emitter):
    ops = ("LSTM", "GRU")

    def _geometry(self, node: Node, graph: Graph):
        a = node.attrs
        direction = str_attr(node, "direction")
        if direction not in ("forward", "reverse", "bidirectional"):
            return None
        if "clip" in a or a.get("layout") or a.get("input_forget"):  # layout: opset 14+; input_forget: LSTM's
            return None
        d = 2 if direction == "bidirectional" else 1
        acts = a.get("activations")
        if acts is not None:
            names = [(v.decode() if isinstance(v, bytes) else str(v)).lower() for v in acts]
            if names != DEFAULT_ACTS[node.op_type] * d or a.get("activation_alpha") or a.get("activation_beta"):
                return None
        ins = list(node.inputs) + [""] * (8 - len(node.inputs))
        x, w, r = (tuple(graph.values[n].shape) if n else None for n in ins[:3])
        if x is None or w is None or r is None or len(x) != 3:
            return None
        t, n, i = x
        g = 4 if node.op_type == "LSTM" else 3
        h = int(a.get("hidden_size", r[-1]))
        if w != (d, g * h, i) or r != (d, g * h, h) or ins[4]:
            return None
        shapes = {"b": (d, 2 * g * h), "h0": (d, n, h), "c0": (d, n, h), "p": (d, 3 * h)}
        opt = {"b": ins[3], "h0": ins[5]}
        if node.op_type == "LSTM":
            opt.update(c0=ins[6], p=ins[7])
        elif ins[6] or ins[7]:
            return None
        for k, name in opt.items():
            if name and tuple(graph.values[name].shape) != shapes[k]:
                return None
        outs = list(node.outputs) + [""] * (3 - len(node.outputs))
        want = [(t, d, n, h), (d, n, h), (d, n, h) if node.op_type == "LSTM" else None]
        for o, sh in zip(outs, want):
            if o and (sh is None or tuple(graph.values[o].shape) != sh):
                return None
        return dict(seq=t, batch=n, input=i, hidden=h, num_dir=d, reverse=int(direction == "reverse"),
                    lbr=int(bool(a.get("linear_before_reset"))), g=g, opt=opt, outs=outs)  # lbr: GRU's

    def supports(self, node: Node, graph: Graph) -> bool:
        if not node.inputs or len(node.inputs) < 3 or not all(node.inputs[:3]) or len(node.outputs) > 3:
            return False
        if not all_float32_static(graph, [n for n in node.inputs if n] + [o for o in node.outputs if o]):
            return False
        return self._geometry(node, graph) is not None

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        geo = self._geometry(node, ctx.graph)
        opt, outs = geo.pop("opt"), geo.pop("outs")
        g = geo.pop("g")

        def p(name: str) -> str:
            return ctx.ptr(name) if name else "0"

        ctx.scratch.append(f"WDN_RNN_SCRATCH_BYTES({g}, {geo['hidden']})")
        var = ctx.fresh("rnn")
        ctx.decls.append(struct_init("wdn_rnn_params", var, {
            "kind": int(node.op_type == "GRU"), **geo,
            "x": p(node.inputs[0]), "w": p(node.inputs[1]), "r": p(node.inputs[2]), "b": p(opt["b"]),
            "h0": p(opt["h0"]), "c0": p(opt.get("c0", "")), "p": p(opt.get("p", "")),
            "y": p(outs[0]), "yh": p(outs[1]), "yc": p(outs[2]),
            "scratch": "wdn_scratch", "scratch_stride": "WDN_SCRATCH_STRIDE",
        }))
        return [f"wdn_rnn_f32(&{var}, tid, nth);"]

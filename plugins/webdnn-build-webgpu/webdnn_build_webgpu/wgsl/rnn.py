"""Recurrent layers: RNN, GRU, LSTM (layout 0, forward / reverse / bidirectional), in two dispatches.

1. The input projection ``XW[d, t·N + b, :] = X[t, b]·W[d]ᵀ + Wb[d] (+ Rb[d])`` of every time step and
   direction at once, on the tiled GEMM template (batch = direction), into a scratch value of the node.
2. The recurrence: **one workgroup per (direction, batch row) loops over the time steps**. Its hidden
   (and cell) state stays in workgroup memory; per step the invocations compute the gate rows
   ``XW + h·Rᵀ`` (rows split over the invocations), a barrier, then the state update of the hidden
   units, another barrier. A time step has only ``G·H`` independent dot products, so a dispatch per step
   would leave the GPU as idle while paying T dispatches and T round trips of the state through global
   memory; one workgroup per sequence keeps the whole loop in one dispatch. Hidden sizes up to
   ``MAX_HIDDEN`` (the state and gate rows fit in workgroup memory) run this way; larger ones stay on the CPU.

Recurrent biases are folded into XW except GRU's ``Rbh`` with ``linear_before_reset=1`` (inside r ⊙ (…)).
Not on the GPU: sequence_lens, clip, LSTM input_forget, layout 1 (the js kernels run those).
Activations: the ONNX list (Relu Tanh Sigmoid Affine LeakyRelu ThresholdedRelu ScaledTanh HardSigmoid
Elu Softsign Softplus) with activation_alpha/beta, matched by name to fixed WGSL expressions.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

from webdnn_build.ir import Graph, Node
from webdnn_build.opdecl import RNN_ACTIVATION_PARAMS

from .base import Dispatch, Emitter, KernelBuilder, KernelContext, f32lit, gpu_static, u, with_helpers
from .matmul import gemm_dispatch

MAX_HIDDEN = 256
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
DEFAULTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}

#: lower-case name -> (x, a, b) -> WGSL expression; which take alpha / beta and their defaults:
#: opdecl.RNN_ACTIVATION_PARAMS (shared with the js kernel)
EXPRS: dict[str, Callable[[str, str, str], str]] = {
    "relu": lambda x, a, b: f"max({x}, 0.0f)",
    "tanh": lambda x, a, b: f"tanh_({x})",
    "sigmoid": lambda x, a, b: f"sigm({x})",
    "affine": lambda x, a, b: f"({a} * {x} + {b})",
    "leakyrelu": lambda x, a, b: f"select({a} * {x}, {x}, {x} >= 0.0f)",
    "thresholdedrelu": lambda x, a, b: f"select(0.0f, {x}, {x} > {a})",
    "scaledtanh": lambda x, a, b: f"({a} * tanh_({b} * {x}))",
    "hardsigmoid": lambda x, a, b: f"clamp({a} * {x} + {b}, 0.0f, 1.0f)",
    "elu": lambda x, a, b: f"select({a} * (exp({x}) - 1.0f), {x}, {x} >= 0.0f)",
    "softsign": lambda x, a, b: f"({x} / (1.0f + abs({x})))",
    "softplus": lambda x, a, b: f"softplus_({x})",
}


def _name(a: object) -> str:
    return a.decode() if isinstance(a, bytes) else str(a)


def _inp(node: Node, i: int) -> str:
    return node.inputs[i] if len(node.inputs) > i else ""


def _out(node: Node, i: int) -> str:
    return node.outputs[i] if len(node.outputs) > i else ""


def activations(node: Node, num_dir: int) -> Optional[list[list[Callable[[str], str]]]]:
    """Per direction, the activation functions as ``x -> WGSL expression`` (None: one is not supported)."""
    defaults = DEFAULTS[node.op_type]
    names = [_name(a) for a in node.attrs.get("activations", [])] or defaults * num_dir
    if len(names) != len(defaults) * num_dir:
        return None
    alphas, betas = list(node.attrs.get("activation_alpha", [])), list(node.attrs.get("activation_beta", []))
    fns = []
    for name in names:
        make, params = EXPRS.get(name.lower()), RNN_ACTIVATION_PARAMS.get(name.lower())
        if make is None or params is None:
            return None
        ua, ub, da, db = params
        a = f32lit(alphas.pop(0) if ua and alphas else da)
        b = f32lit(betas.pop(0) if ub and betas else db)
        fns.append(lambda x, make=make, a=a, b=b: make(x, a, b))
    k = len(defaults)
    return [fns[d * k:(d + 1) * k] for d in range(num_dir)]


class RecurrentEmitter(Emitter):
    ops = ("RNN", "GRU", "LSTM")

    def supports(self, node: Node, graph: Graph) -> bool:
        op = node.op_type
        x, w, r = _inp(node, 0), _inp(node, 1), _inp(node, 2)
        if not (x and w and r) or _inp(node, 4) or node.attrs.get("clip") is not None:
            return False
        # layout: opset 14+; input_forget: LSTM's
        if int(node.attrs.get("layout", 0)) != 0 or int(node.attrs.get("input_forget", 0)) != 0:
            return False
        direction = _name(node.attrs["direction"])
        if direction not in ("forward", "reverse", "bidirectional"):
            return False
        num_dir = 2 if direction == "bidirectional" else 1
        if activations(node, num_dir) is None:
            return False
        extra = [_inp(node, 3), _inp(node, 5)] + ([_inp(node, 6), _inp(node, 7)] if op == "LSTM" else [])
        outs = [o for o in node.outputs if o]
        if not outs or len(node.outputs) > (3 if op == "LSTM" else 2):
            return False
        if not gpu_static(graph, [x, w, r, *extra, *outs], ("float32",)):
            return False
        sx, sw, sr = (tuple(graph.values[n].shape) for n in (x, w, r))
        if len(sx) != 3 or len(sw) != 3 or len(sr) != 3:
            return False
        t, n, i = sx
        g = GATES[op]
        h = int(node.attrs.get("hidden_size", sr[2]))
        if not 0 < h <= MAX_HIDDEN or t < 1 or n < 1 or n * num_dir > 65535:
            return False
        if sw != (num_dir, g * h, i) or sr != (num_dir, g * h, h):
            return False
        want = {3: (num_dir, 2 * g * h), 5: (num_dir, n, h), 6: (num_dir, n, h), 7: (num_dir, 3 * h)}
        for k, shape in want.items():
            name = _inp(node, k)
            if name and (k < 6 or op == "LSTM") and tuple(graph.values[name].shape) != shape:
                return False
        if num_dir * t * n * g * h * 4 > (128 << 20):
            return False
        shapes = [(t, num_dir, n, h), (num_dir, n, h), (num_dir, n, h)]
        return all(not o or tuple(graph.values[o].shape) == s for o, s in zip(node.outputs, shapes))

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        op = node.op_type
        x, w, r, bias, h0 = (_inp(node, k) for k in (0, 1, 2, 3, 5))
        c0, peep = (_inp(node, 6), _inp(node, 7)) if op == "LSTM" else ("", "")
        direction = _name(node.attrs["direction"])
        nd = 2 if direction == "bidirectional" else 1
        t, n, i = ctx.shape(x)
        g = GATES[op]
        h = ctx.shape(r)[2]
        gh = g * h
        lbr = op == "GRU" and int(node.attrs["linear_before_reset"]) != 0
        acts = activations(node, nd)
        assert acts is not None
        xw = ctx.add_temp((nd, t * n, gh), "float32", "rnn_xw")

        # ---- 1. XW = X·Wᵀ + Wb + Rb (Rbh stays out with linear_before_reset: it is scaled by r)
        kb = KernelBuilder(ctx)
        lx, lw = kb.load("x", x), kb.load("w", w)
        st = kb.store("xw", xw)
        v = "v"
        if bias:
            lb_ = kb.load("bias", bias)
            rb = f"{lb_}(b * {u(2 * gh)} + {u(gh)} + n)"
            v = f"v + {lb_}(b * {u(2 * gh)} + n) + " + (f"select({rb}, 0.0f, n >= {u(2 * h)})" if lbr else rb)
        funcs = f"""
fn la(b: u32, m: u32, k: u32) -> f32 {{ return {lx}(m * {u(i)} + k); }}
fn lb(b: u32, k: u32, n: u32) -> f32 {{ return {lw}((b * {u(gh)} + n) * {u(i)} + k); }}
fn epi(b: u32, m: u32, n: u32, v: f32) {{ {st}((b * {u(t * n)} + m) * {u(gh)} + n, {v}); }}
"""
        proj = gemm_dispatch(kb, t * n, gh, i, nd, funcs, b_n_fast=False)

        # ---- 2. the recurrence: workgroup (d, b) loops over time
        kb = KernelBuilder(ctx)
        lxw, lr = kb.load("xw", xw), kb.load("r", r)
        y, yh, yc = _out(node, 0), _out(node, 1), _out(node, 2) if op == "LSTM" else ""
        sy = kb.store("y", y) if y else None
        syh = kb.store("yh", yh) if yh else None
        syc = kb.store("yc", yc) if yc else None
        lh0 = kb.load("h0", h0) if h0 else None
        lc0 = kb.load("c0", c0) if c0 else None
        lp = kb.load("p", peep) if peep else None
        lbias = kb.load("bias", bias) if (lbr and bias) else None
        rev = {"forward": "false", "reverse": "true"}.get(direction, "d == 1u")

        def act(k: int, e: str) -> str:
            """Activation k of this workgroup's direction (the two directions' lists may differ)."""
            if nd == 1 or acts[0][k](e) == acts[1][k](e):
                return acts[0][k](e)
            return f"select({acts[0][k](e)}, {acts[1][k](e)}, d == 1u)"

        def matvec(rows_from: int, rows: int, src: str) -> str:
            """gs[j] = src · R[d, j]ᵀ for rows j in [rows_from, rows_from + rows)."""
            return f"""
for (var j = {u(rows_from)} + li; j < {u(rows_from + rows)}; j = j + WG_X) {{
  let rrow = (d * {u(gh)} + j) * {u(h)};
  var acc = 0.0f;
  for (var k = 0u; k < {u(h)}; k = k + 1u) {{ acc = fma({src}[k], {lr}(rrow + k), acc); }}
  gs[j] = acc;
}}
workgroupBarrier();"""

        decls = [f"var<workgroup> hs: array<f32, {h}>;", f"var<workgroup> gs: array<f32, {gh}>;"]
        if op == "LSTM":
            decls.append(f"var<workgroup> cs: array<f32, {h}>;")
        xrow = "xr"
        if op == "RNN":
            steps = matvec(0, gh, "hs")
            update = f"let hn = {act(0, f'({lxw}({xrow} + j) + gs[j])')};"
        elif op == "GRU":
            f_, g_ = (lambda e: act(0, e)), (lambda e: act(1, e))
            z = f_(f"({lxw}({xrow} + j) + gs[j])")
            if lbr:
                steps = matvec(0, gh, "hs")
                rbh = f" + {lbias}(d * {u(2 * gh)} + {u(gh + 2 * h)} + j)" if lbias else ""
                r_ = f_(f"({lxw}({xrow} + {u(h)} + j) + gs[{u(h)} + j])")
                hh = g_(f"({lxw}({xrow} + {u(2 * h)} + j) + {r_} * (gs[{u(2 * h)} + j]{rbh}))")
            else:
                decls.append(f"var<workgroup> rh: array<f32, {h}>;")
                r_ = f_(f"({lxw}({xrow} + {u(h)} + k) + gs[{u(h)} + k])")
                steps = matvec(0, 2 * h, "hs") + f"""
for (var k = li; k < {u(h)}; k = k + WG_X) {{ rh[k] = {r_} * hs[k]; }}
workgroupBarrier();""" + matvec(2 * h, h, "rh")
                hh = g_(f"({lxw}({xrow} + {u(2 * h)} + j) + gs[{u(2 * h)} + j])")
            update = f"let zt = {z};\nlet hn = (1.0f - zt) * {hh} + zt * hs[j];"
        else:  # LSTM: gates i, o, f, c; peepholes P = [Pi, Po, Pf]
            f_, g_, h_ = (lambda e: act(0, e)), (lambda e: act(1, e)), (lambda e: act(2, e))
            steps = matvec(0, gh, "hs")

            def pre(k: int, peep_k: Optional[int], cell: str) -> str:
                e = f"{lxw}({xrow} + {u(k * h)} + j) + gs[{u(k * h)} + j]"
                if lp and peep_k is not None:
                    e += f" + {lp}(d * {u(3 * h)} + {u(peep_k * h)} + j) * {cell}"
                return f"({e})"
            update = (f"let cp = cs[j];\n"
                      f"let it = {f_(pre(0, 0, 'cp'))};\n"
                      f"let ft = {f_(pre(2, 2, 'cp'))};\n"
                      f"let ct = ft * cp + it * {g_(pre(3, None, 'cp'))};\n"
                      f"let ot = {f_(pre(1, 1, 'ct'))};\n"
                      f"let hn = ot * {h_('ct')};\n"
                      f"cs[j] = ct;")
        init = [f"hs[j] = {f'{lh0}(db * {u(h)} + j)' if lh0 else '0.0f'};"]
        if op == "LSTM":
            init.append(f"cs[j] = {f'{lc0}(db * {u(h)} + j)' if lc0 else '0.0f'};")
        store_y = f"\n    {sy}(((tt * {u(nd)} + d) * {u(n)} + bi) * {u(h)} + j, hn);" if sy else ""
        final = []
        if syh:
            final.append(f"{syh}(db * {u(h)} + j, hs[j]);")
        if syc:
            final.append(f"{syc}(db * {u(h)} + j, cs[j]);")
        kb.override("WG_X", min(256, max(32, 1 << (gh - 1).bit_length())))
        kb.decls += decls
        body = f"""
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {{
  let db = wid.x;
  let d = db / {u(n)};
  let bi = db % {u(n)};
  for (var j = li; j < {u(h)}; j = j + WG_X) {{ {' '.join(init)} }}
  workgroupBarrier();
  for (var s = 0u; s < {u(t)}; s = s + 1u) {{
    let tt = select(s, {u(t - 1)} - s, {rev});
    let xr = (d * {u(t * n)} + tt * {u(n)} + bi) * {u(gh)};
{_indent(steps, 4)}
    for (var j = li; j < {u(h)}; j = j + WG_X) {{
{_indent(update, 6)}
      hs[j] = hn;{store_y}
    }}
    workgroupBarrier();
  }}
  for (var j = li; j < {u(h)}; j = j + WG_X) {{ {' '.join(final) or 'continue;'} }}
}}
"""
        with_helpers(kb, body)
        return [proj, kb.dispatch(body, workgroups=[nd * n, 1, 1])]


def _indent(text: str, n: int) -> str:
    return "\n".join(" " * n + line if line else line for line in text.strip("\n").split("\n"))

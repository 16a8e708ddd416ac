"""Einsum of one or two float32 / float64 / bfloat16 operands (csrc/einsum.c).

The equation is parsed here into labels (explicit or implicit output, `...` with numpy broadcasting,
repeated labels as diagonals); only the resulting dims and strides reach the generated C.
"""

from __future__ import annotations

import math
from typing import Optional

from webdnn_build.ir import Graph, Node

from .base import EmitContext, Emitter, all_static, c_array, struct_init
from .movement import str_attr

#: bfloat16 is stored as float32 (the result is rounded to bfloat16)
CODES = {"float32": "WDN_DT_F32", "float64": "WDN_DT_F64", "bfloat16": "WDN_DT_F32"}
MAX_LABELS = 8


def _terms(spec: str) -> Optional[list[str]]:
    """Labels of one term: letters, '.' for each ellipsis dim marker left to the caller."""
    if spec.count("...") > 1:
        return None
    out: list[str] = []
    rest = spec.replace("...", "\0")
    for ch in rest:
        if ch == "\0":
            out.append("...")
        elif ch.isascii() and ch.isalpha():
            out.append(ch)
        else:
            return None
    return out


def plan_einsum(equation: str, shapes: list[tuple[int, ...]]):
    """(output labels, summed labels, label dims, per-operand strides per label) or None."""
    eq = "".join(equation.split())
    lhs, arrow, rhs = eq.partition("->")
    specs = lhs.split(",")
    if len(specs) != len(shapes):
        return None
    terms = [_terms(s) for s in specs]
    if any(t is None for t in terms):
        return None
    # expand each ellipsis to labels "0", "1", ... aligned to the right (numpy broadcasting)
    ell = 0
    for t, shape in zip(terms, shapes):
        explicit = sum(1 for lab in t if lab != "...")
        n = len(shape) - explicit if "..." in t else 0
        if n < 0 or ("..." not in t and explicit != len(shape)):
            return None
        ell = max(ell, n)
    ell_labels = [str(i) for i in range(ell)]
    dims: dict[str, int] = {}
    strides: list[dict[str, int]] = []
    for t, shape in zip(terms, shapes):
        n = len(shape) - sum(1 for lab in t if lab != "...")
        labels: list[str] = []
        for lab in t:
            labels += ell_labels[ell - n:] if lab == "..." else [lab]
        st: dict[str, int] = {}
        acc = 1
        axis_strides = [0] * len(shape)
        for a in range(len(shape) - 1, -1, -1):
            axis_strides[a] = acc
            acc *= shape[a]
        for lab, d, s in zip(labels, shape, axis_strides):
            if lab.isdigit():  # broadcast ellipsis dim
                if d == 1:
                    dims.setdefault(lab, 1)
                    continue
                if dims.get(lab, 1) not in (1, d):
                    return None
                dims[lab] = d
            else:
                if lab in dims and dims[lab] != d:
                    return None
                dims[lab] = d
            st[lab] = st.get(lab, 0) + s
        strides.append(st)
    for lab in ell_labels:
        dims.setdefault(lab, 1)
    letters = [lab for t in terms for lab in t if lab != "..."]
    if arrow:
        out_t = _terms(rhs)
        if out_t is None:
            return None
        out: list[str] = []
        for lab in out_t:
            out += ell_labels if lab == "..." else [lab]
        if len(set(out)) != len(out) or any(lab not in dims for lab in out):
            return None
        if ell and "..." not in out_t and any(dims[lab] != 1 for lab in ell_labels):
            return None
    else:
        out = ell_labels + sorted(lab for lab in set(letters) if letters.count(lab) == 1)
    summed = [lab for lab in dims if lab not in out]
    if len(out) > MAX_LABELS or len(summed) > MAX_LABELS:
        return None
    return out, summed, dims, strides


class EinsumEmitter(Emitter):
    ops = ("Einsum",)

    def _plan(self, node: Node, graph: Graph):
        shapes = [tuple(graph.values[n].shape) for n in node.inputs]
        return plan_einsum(str_attr(node, "equation", ""), shapes)

    def supports(self, node: Node, graph: Graph) -> bool:
        if not 1 <= len(node.inputs) <= 2 or len(node.outputs) != 1 or not all(node.inputs):
            return False
        if not all_static(graph, [*node.inputs, node.outputs[0]], tuple(CODES)):
            return False
        if len({graph.values[n].dtype for n in (*node.inputs, node.outputs[0])}) != 1:
            return False
        plan = self._plan(node, graph)
        if plan is None:
            return False
        out, _, dims, _ = plan
        return tuple(dims[lab] for lab in out) == tuple(graph.values[node.outputs[0]].shape)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        out, summed, dims, strides = self._plan(node, ctx.graph)
        pad = lambda v: c_array(v + [0] * (MAX_LABELS - len(v)))  # noqa: E731
        ostride = [pad([st.get(lab, 0) for lab in out]) for st in strides] + ["{0}"] * (2 - len(strides))
        sstride = [pad([st.get(lab, 0) for lab in summed]) for st in strides] + ["{0}"] * (2 - len(strides))
        xs = [ctx.ptr(n) for n in node.inputs] + ["0"] * (2 - len(node.inputs))
        var = ctx.fresh("einsum")
        ctx.decls.append(struct_init("wdn_einsum_params", var, {
            "dtype": CODES[ctx.graph.values[node.outputs[0]].dtype], "nops": len(node.inputs),
            "nout": len(out), "nsum": len(summed),
            "round_bf16": int(ctx.graph.values[node.outputs[0]].dtype == "bfloat16"),
            "odims": pad([dims[lab] for lab in out]), "sdims": pad([dims[lab] for lab in summed]),
            "ostride": "{" + ", ".join(ostride) + "}", "sstride": "{" + ", ".join(sstride) + "}",
            "x": "{" + ", ".join(xs) + "}", "y": ctx.ptr(node.outputs[0]),
        }))
        if math.prod(dims[lab] for lab in out) == 0:
            return []
        return [f"wdn_einsum(&{var}, tid, nth);"]

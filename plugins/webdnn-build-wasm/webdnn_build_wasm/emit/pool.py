"""MaxPool / AveragePool (1-D, 2-D: a SIMD fast path), the N-d pools (MaxPool with indices or of int8 /
uint8, 3-D pools, LpPool: a scalar kernel) and the global pools."""

from __future__ import annotations

import math
from typing import Optional

from webdnn_build.codegen import spatial_params
from webdnn_build.ir import Graph, Node

from .base import DT_CODES, EmitContext, Emitter, all_float32_static, all_static, c_array, struct_init
from .movement import str_attr


class PoolEmitter(Emitter):
    ops = ("MaxPool", "AveragePool")

    def supports(self, node: Node, graph: Graph) -> bool:
        if len([o for o in node.outputs if o]) != 1 or not all_float32_static(graph, node.inputs + node.outputs[:1]):
            return False
        if node.attrs.get("storage_order"):  # MaxPool from opset 8 only
            return False
        return len(graph.values[node.inputs[0]].shape) in (3, 4)

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x, y = ctx.shape(node.inputs[0]), ctx.shape(node.outputs[0])
        kernel = tuple(node.attrs["kernel_shape"])
        h, w, oh, ow, k, s, d, (pt, pl, pb, pr) = spatial_params(node, x, kernel, y)
        var = ctx.fresh("pool")
        ctx.decls.append(struct_init("wdn_pool2d_params", var, {
            "n": x[0], "c": x[1], "h": h, "w": w, "oh": oh, "ow": ow, "kh": k[0], "kw": k[1], "sh": s[0], "sw": s[1],
            "dh": d[0], "dw": d[1], "pad_t": pt, "pad_l": pl, "pad_b": pb, "pad_r": pr,
            "count_include_pad": int(bool(node.attrs.get("count_include_pad"))),  # AveragePool only
            "x": ctx.ptr(node.inputs[0]), "y": ctx.ptr(node.outputs[0]),
        }))
        fn = "wdn_maxpool2d_f32" if node.op_type == "MaxPool" else "wdn_avgpool2d_f32"
        return [f"{fn}(&{var}, tid, nth);"]


class GlobalPoolEmitter(Emitter):
    ops = ("GlobalAveragePool", "GlobalMaxPool")

    def supports(self, node: Node, graph: Graph) -> bool:
        return all_float32_static(graph, node.inputs + node.outputs) and len(graph.values[node.inputs[0]].shape) >= 3

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        x = ctx.shape(node.inputs[0])
        fn = "wdn_global_avgpool_f32" if node.op_type == "GlobalAveragePool" else "wdn_global_maxpool_f32"
        return [f"{fn}({x[0] * x[1]}, {math.prod(x[2:])}, {ctx.ptr(node.inputs[0])}, {ctx.ptr(node.outputs[0])}, tid, nth);"]


POOL_KINDS = {"MaxPool": "WDN_POOL_MAX", "AveragePool": "WDN_POOL_AVG", "LpPool": "WDN_POOL_LP"}


def nd_pads(node: Node, x: tuple[int, ...], y: tuple[int, ...], k: list[int], s: list[int],
            d: list[int]) -> Optional[tuple[list[int], list[int]]]:
    """(begins, ends) of the spatial axes from ``pads`` or ``auto_pad`` (SAME_*: from the output size)."""
    n = len(k)
    auto = str_attr(node, "auto_pad")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for i in range(n):
            total = max((y[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - x[i], 0)
            small, big = total // 2, total - total // 2
            begins.append(small if auto == "SAME_UPPER" else big)
            ends.append(big if auto == "SAME_UPPER" else small)
        return begins, ends
    if auto == "VALID":
        return [0] * n, [0] * n
    if auto != "NOTSET":
        return None
    pads = [int(v) for v in node.attrs.get("pads", [0] * (2 * n))]
    if len(pads) != 2 * n or any(v < 0 for v in pads):
        return None
    return pads[:n], pads[n:]


class PoolNdEmitter(Emitter):
    """MaxPool (float32 / uint8 / int8, with the indices output and storage_order), AveragePool and
    LpPool (float32) over 1-3 spatial axes, any strides / dilations / pads / ceil_mode (the output size
    is the planned one): csrc/pool.c's scalar wdn_pool_nd. Tried after PoolEmitter's 2-D fast path."""

    ops = ("MaxPool", "AveragePool", "LpPool")
    rank = 1

    def _geometry(self, node: Node, graph: Graph):
        x = tuple(graph.values[node.inputs[0]].shape)
        y = tuple(graph.values[node.outputs[0]].shape)
        if not 3 <= len(x) <= 5 or len(y) != len(x) or x[:2] != y[:2]:
            return None
        n = len(x) - 2
        k = [int(v) for v in node.attrs.get("kernel_shape", [])]
        s = [int(v) for v in node.attrs.get("strides", [1] * n)]
        d = [int(v) for v in node.attrs.get("dilations", [1] * n)]
        if len(k) != n or len(s) != n or len(d) != n or min(k + s + d) < 1:
            return None
        pads = nd_pads(node, x[2:], y[2:], k, s, d)
        if pads is None:
            return None
        lift = [1] * (3 - n)
        pb, pe = pads
        return {"planes": x[0] * x[1], "in": lift + list(x[2:]), "out": lift + list(y[2:]), "k": lift + k,
                "s": lift + s, "d": lift + d, "pb": [0] * (3 - n) + pb, "pe": [0] * (3 - n) + pe}

    def supports(self, node: Node, graph: Graph) -> bool:
        if not node.inputs or not node.inputs[0] or len(node.inputs) != 1 or "fused_activation" in node.attrs:
            return False
        outs = node.outputs
        if not outs or not outs[0] or len(outs) > 2:
            return False
        dtypes = ("float32", "uint8", "int8") if node.op_type == "MaxPool" else ("float32",)
        if not all_static(graph, [node.inputs[0], outs[0]], dtypes):
            return False
        if graph.values[node.inputs[0]].dtype != graph.values[outs[0]].dtype:
            return False
        if len(outs) == 2 and outs[1]:
            if node.op_type != "MaxPool" or not all_static(graph, [outs[1]], ("int64",)):
                return False
            if tuple(graph.values[outs[1]].shape) != tuple(graph.values[outs[0]].shape):
                return False
        if node.op_type == "LpPool" and int(node.attrs["p"]) < 1:
            return False
        return self._geometry(node, graph) is not None

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        g = self._geometry(node, ctx.graph)
        dtype = ctx.graph.values[node.inputs[0]].dtype
        var = ctx.fresh("pool_nd")
        has_idx = len(node.outputs) == 2 and node.outputs[1]
        ctx.decls.append(struct_init("wdn_pool_nd_params", var, {
            "kind": POOL_KINDS[node.op_type], "dtype": DT_CODES[dtype], "planes": g["planes"],
            # count_include_pad: AveragePool's; storage_order: MaxPool's (opset 8+); p: LpPool's
            "count_include_pad": int(bool(node.attrs.get("count_include_pad"))),
            "storage_order": int(bool(node.attrs.get("storage_order"))),
            "p": int(node.attrs["p"]) if node.op_type == "LpPool" else 0,
            **{key: c_array(g[key]) for key in ("in", "out", "k", "s", "d", "pb", "pe")},
            "x": ctx.ptr(node.inputs[0]), "y": ctx.ptr(node.outputs[0]),
            "indices": ctx.ptr(node.outputs[1]) if has_idx else "0",
        }))
        return [f"wdn_pool_nd(&{var}, tid, nth);"]

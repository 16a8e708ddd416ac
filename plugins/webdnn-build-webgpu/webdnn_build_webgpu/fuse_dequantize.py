"""fuse_dequantized_weight: ``Gemm(A, DequantizeLinear(Wq, scale, zero_point), C)`` ⇒ one Gemm that reads the
8-bit constant ``Wq`` and dequantizes each element as it loads it (``(f32(q) - zero_point) * scale``).

The QDQ exports of AlexNet, ZFNet-512 and VGG-19 dequantize a 4096 x 9216 (or x 25088) weight at run time:
a computed float tensor of 151-411 MB, over WebGPU's 128 MiB storage-binding limit, so it could not live
in the arena. Fused, no float copy of the weight exists: the int8 constant (its GPU copy split into
binding parts when it is large, as every big constant is) is read by the GEMM's B loader. It also saves the
dequantizing pass and its memory on every smaller QDQ Gemm.

Only per-tensor quantization (one-element constant scale and zero point) of a constant int8/uint8 weight
whose dequantized value feeds this Gemm alone; the result is bit-identical to DequantizeLinear then Gemm
(the same f32 expression per element). The Gemm carries the parameters as backend-internal attributes
``dq_b_scale`` / ``dq_b_zero_point`` (in this backend's graph copy only; the bundle has no such op).
"""

from __future__ import annotations

import numpy as np

from webdnn_build.codegen import const_scalar
from webdnn_build.ir import Graph, Node

#: the attributes the fused Gemm carries (read by wgsl/matmul.py)
DQ_SCALE, DQ_ZERO = "dq_b_scale", "dq_b_zero_point"
_WEIGHT_DTYPES = ("int8", "uint8")


def fuse_dequantized_weight(g: Graph) -> int:
    """Fold each per-tensor DequantizeLinear of a constant 8-bit Gemm weight into the Gemm; returns the count."""
    producers, consumers = g.producers(), g.consumers()
    dead: list[Node] = []
    for gemm in g.nodes:
        if gemm.op_type != "Gemm" or gemm.domain or len(gemm.inputs) < 2 or DQ_SCALE in gemm.attrs:
            continue
        b = gemm.inputs[1]
        dq = producers.get(b)
        if dq is None or dq.op_type != "DequantizeLinear" or dq.domain or b in g.outputs:
            continue
        if [n for n in consumers.get(b, [])] != [gemm] or gemm.inputs.count(b) != 1:
            continue
        wq = dq.inputs[0] if dq.inputs else ""
        w = g.values.get(wq)
        if w is None or w.const is None or w.dtype not in _WEIGHT_DTYPES or w.shape is None or len(w.shape) != 2:
            continue
        if dq.attrs.get("block_size") or g.values[b].dtype != "float32":
            continue
        scale = const_scalar(g, dq.inputs[1] if len(dq.inputs) > 1 else "")
        zero = const_scalar(g, dq.inputs[2]) if len(dq.inputs) > 2 and dq.inputs[2] else 0.0
        if scale is None or zero is None:
            continue
        gemm.inputs[1] = wq
        gemm.attrs[DQ_SCALE] = float(np.float32(scale))
        gemm.attrs[DQ_ZERO] = float(zero)
        dead.append(dq)
    if dead:
        ids = {id(n) for n in dead}
        g.nodes = [n for n in g.nodes if id(n) not in ids]
        g.prune_values()
    return len(dead)

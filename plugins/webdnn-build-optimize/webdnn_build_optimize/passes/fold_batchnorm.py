"""fold_batchnorm: fold an inference BatchNormalization into the Conv or Gemm before it.

Ordering: after ``fold_shapes_and_constants`` (weights computed by constant
subgraphs are constants by then) and ``eliminate_identity`` (an Identity between
the two would hide the pair); before ``fuse_activation`` (Conv → BN → Relu must
become Conv → Relu before the Relu is fused, or the Relu would land on the BN).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from webdnn_build.ir import Graph, Node
from webdnn_build.opdecl import ACTIVATION_ATTRS
from webdnn_build.registry import PassContext

from ..graph_utils import FLOAT_DTYPES, const_of, optional_input, remove_nodes, rename_output


def _bn_params(graph: Graph, bn: Node) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """(scale, shift) per channel so that BN(y) = y * scale + shift; None unless BN is foldable."""
    if bn.attrs.get("training_mode") or bn.attrs.get("spatial", 1) != 1:  # training_mode: opset 14+; spatial: < 9
        return None
    if any(o for o in bn.outputs[1:]):  # running mean/var outputs exist only in training
        return None
    params = [const_of(graph, optional_input(bn, k)) for k in range(1, 5)]
    if any(p is None for p in params):
        return None
    gamma, beta, mean, var = (np.asarray(p, dtype=np.float64).reshape(-1) for p in params)  # type: ignore[arg-type]
    eps = float(bn.attrs["epsilon"])
    scale = gamma / np.sqrt(var + eps)
    return scale, beta - mean * scale


def _fold_into_conv(graph: Graph, conv: Node, scale: np.ndarray, shift: np.ndarray) -> bool:
    w = const_of(graph, optional_input(conv, 1))
    b_name = optional_input(conv, 2)
    b = const_of(graph, b_name) if b_name else None
    if w is None or (b_name and b is None) or w.ndim < 2 or w.shape[0] != scale.shape[0]:
        return False
    bias = np.zeros(w.shape[0]) if b is None else np.asarray(b, dtype=np.float64).reshape(-1)
    new_w = w.astype(np.float64) * scale.reshape((-1,) + (1,) * (w.ndim - 1))
    new_b = bias * scale + shift
    conv.inputs = [conv.inputs[0], graph.add_const(new_w.astype(w.dtype), f"{conv.name or 'conv'}_w_bn"),
                   graph.add_const(new_b.astype(w.dtype), f"{conv.name or 'conv'}_b_bn")]
    return True


def _fold_into_gemm(graph: Graph, gemm: Node, scale: np.ndarray, shift: np.ndarray) -> bool:
    b = const_of(graph, optional_input(gemm, 1))
    c_name = optional_input(gemm, 2)
    c = const_of(graph, c_name) if c_name else None
    if b is None or b.ndim != 2 or (c_name and c is None):
        return False
    trans_b = int(gemm.attrs["transB"])
    n = b.shape[0] if trans_b else b.shape[1]
    if n != scale.shape[0]:
        return False
    # Y = alpha * A @ B' + beta * C, then BN on Y's columns (BN's channel axis 1 is Gemm's N)
    new_b = b.astype(np.float64) * (scale[:, None] if trans_b else scale[None, :])
    beta = float(gemm.attrs["beta"])
    c_term = np.zeros(n) if c is None else beta * np.asarray(c, dtype=np.float64)
    new_c = c_term * scale + shift  # broadcasts over the last axis, like C itself
    gemm.inputs = [gemm.inputs[0], graph.add_const(new_b.astype(b.dtype), f"{gemm.name or 'gemm'}_b_bn"),
                   graph.add_const(new_c.astype(b.dtype), f"{gemm.name or 'gemm'}_c_bn")]
    gemm.attrs["beta"] = 1.0
    return True


def run(graph: Graph, ctx: PassContext) -> bool:
    """Fold BatchNormalization (inference mode, constant scale/B/mean/var) into the preceding op.

    The preceding op is a ``Conv`` with a constant weight (and a constant bias or
    none) or a ``Gemm`` with a constant B (either ``transB``) and a constant C or
    none; its output must be read by the BatchNormalization only, must not be a
    graph output and must carry no fused activation. The weights are rescaled
    per output channel (in float64, stored in the weight's dtype), the producer
    takes over the BatchNormalization's output name (and its fused activation,
    if ``fuse_activation`` ran before). A BatchNormalization with no such
    producer stays as it is.
    """
    producers = graph.producers()
    consumers = graph.consumers()
    outputs = set(graph.outputs)
    dead: list[Node] = []
    for bn in graph.nodes:
        if bn.op_type != "BatchNormalization" or bn.domain not in ("", "ai.onnx") or not bn.inputs:
            continue
        x = bn.inputs[0]
        producer = producers.get(x)
        if producer is None or producer.domain not in ("", "ai.onnx") or producer.op_type not in ("Conv", "Gemm"):
            continue
        if x in outputs or len(consumers.get(x, [])) != 1 or producer.outputs[0] != x:
            continue
        if "fused_activation" in producer.attrs or graph.value(x).dtype not in FLOAT_DTYPES:
            continue
        params = _bn_params(graph, bn)
        if params is None:
            continue
        fold = _fold_into_conv if producer.op_type == "Conv" else _fold_into_gemm
        if not fold(graph, producer, *params):
            continue
        for key in ACTIVATION_ATTRS:
            if key in bn.attrs:
                producer.attrs[key] = bn.attrs[key]
        y = bn.outputs[0]
        bn.outputs = []
        rename_output(graph, producer, x, y)
        producers[y] = producer
        dead.append(bn)
        ctx.log(f"fold_batchnorm: folded {bn.describe()} into {producer.describe()}")
    if dead:
        remove_nodes(graph, dead)
        graph.prune_values()
    return bool(dead)

"""fuse_activation: fold an elementwise activation into the op that produces its input.

Ordering: last of the rewrites. After ``fold_batchnorm`` (Conv → BN → Relu must
first become Conv → Relu) and after ``eliminate_identity`` (an Identity between
producer and activation would hide the pair).

The attributes written are the contract in docs/bundle-format.md and
:mod:`webdnn_build.opdecl` (the fused-activation contract).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from webdnn_build.ir import Graph, Node
from webdnn_build.opdecl import ACTIVATION_OPS, FusedActivation
from webdnn_build.registry import PassContext

from ..graph_utils import FLOAT_DTYPES, const_of, optional_input, remove_nodes, rename_output

#: ops that take a fused activation
PRODUCER_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "BatchNormalization"})


def _dtype_limits(dtype: str) -> tuple[float, float]:
    """The largest finite range of ``dtype`` (stands for an open Clip bound)."""
    if dtype == "bfloat16":
        import ml_dtypes

        info = ml_dtypes.finfo(ml_dtypes.bfloat16)
    else:
        info = np.finfo(np.dtype(dtype))  # type: ignore[assignment]
    return float(info.min), float(info.max)


def _scalar(graph: Graph, name: str) -> Optional[float]:
    data = const_of(graph, name)
    if data is None or data.size != 1:
        return None
    return float(np.asarray(data, dtype=np.float64).reshape(()))


def describe_activation(graph: Graph, node: Node) -> Optional[FusedActivation]:
    """The activation ``node`` computes, as it would be fused; None if it cannot be fused."""
    if node.domain not in ("", "ai.onnx") or node.op_type not in ACTIVATION_OPS:
        return None
    op = node.op_type
    if op == "LeakyRelu":
        return FusedActivation(op, alpha=float(node.attrs["alpha"]))
    if op == "HardSigmoid":
        return FusedActivation(op, alpha=float(node.attrs["alpha"]), beta=float(node.attrs["beta"]))
    if op == "Swish":
        return FusedActivation(op, alpha=float(node.attrs["alpha"]))
    if op == "Clip":
        dtype = graph.value(node.outputs[0]).dtype or "float32"
        lo, hi = _dtype_limits(dtype)
        if graph.opset_for(node.domain) < 11:  # bounds are attributes (declared defaults: the float32 range)
            lo, hi = max(float(node.attrs["min"]), lo), min(float(node.attrs["max"]), hi)
        else:
            for k in (1, 2):
                name = optional_input(node, k)
                if not name:
                    continue
                bound = _scalar(graph, name)
                if bound is None:
                    return None  # a bound computed at run time
                lo, hi = (bound, hi) if k == 1 else (lo, bound)
        return FusedActivation(op, min=lo, max=hi)
    return FusedActivation(op)


def run(graph: Graph, ctx: PassContext) -> bool:
    """Fuse Relu, LeakyRelu, Clip, Sigmoid, Tanh, HardSigmoid, HardSwish and Swish into the op before them.

    The producer is a Conv, ConvTranspose, Gemm, MatMul, Add or
    BatchNormalization with a float output read only by the activation, not a
    graph output, and with no fused activation yet. The producer gets the
    ``fused_activation*`` attributes, takes over the activation's output name, and the
    activation node goes. Clip fuses only with constant bounds (inputs from
    opset 11, attributes before); an open bound becomes the dtype's largest
    finite value.
    """
    producers = graph.producers()
    consumers = graph.consumers()
    outputs = set(graph.outputs)
    dead: list[Node] = []
    for act_node in graph.nodes:
        if act_node.op_type not in ACTIVATION_OPS or not act_node.inputs or not act_node.inputs[0]:
            continue
        x = act_node.inputs[0]
        producer = producers.get(x)
        if producer is None or producer.op_type not in PRODUCER_OPS or producer.domain not in ("", "ai.onnx"):
            continue
        if producer.outputs[0] != x or x in outputs or len(consumers.get(x, [])) != 1:
            continue
        if any(o for o in producer.outputs[1:]):  # e.g. BatchNormalization's training outputs
            continue
        if "fused_activation" in producer.attrs or graph.value(x).dtype not in FLOAT_DTYPES:
            continue
        act = describe_activation(graph, act_node)
        if act is None:
            continue
        producer.attrs.update(act.to_attrs())
        y = act_node.outputs[0]
        act_node.inputs, act_node.outputs = [], []
        rename_output(graph, producer, x, y)
        producers[y] = producer
        dead.append(act_node)
        ctx.log(f"fuse_activation: fused {act.op_type} into {producer.describe()}")
    if dead:
        remove_nodes(graph, dead)
        graph.prune_values()
    return bool(dead)

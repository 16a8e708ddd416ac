"""eliminate_identity: remove nodes that pass their input through unchanged."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from onnx import helper

from webdnn_build.ir import Graph, Node, dtype_name
from webdnn_build.registry import PassContext

from ..graph_utils import const_of, optional_input, remove_nodes, rename_output


def _cast_target(to: Any) -> Optional[str]:
    """The IR dtype named by Cast's ``to`` (a TensorProto enum, or already a dtype name)."""
    if isinstance(to, (str, bytes)):
        return to.decode() if isinstance(to, bytes) else to
    try:
        return dtype_name(helper.tensor_dtype_to_np_dtype(int(to)))
    except (KeyError, ValueError, TypeError):
        return None


def _is_passthrough(graph: Graph, node: Node, consumers: dict[str, list[Node]]) -> bool:
    """True when ``node``'s first output always equals its first input."""
    if node.domain not in ("", "ai.onnx") or not node.inputs or not node.inputs[0] or not node.outputs:
        return False
    if node.op_type == "Identity":
        return True
    if node.op_type == "Dropout":
        # the mask output must be unused, and training_mode (opset >= 12) absent or a constant false
        mask = node.outputs[1] if len(node.outputs) > 1 else ""
        if mask and (consumers.get(mask) or mask in graph.outputs):
            return False
        training = optional_input(node, 2)
        if training:
            flag = const_of(graph, training)
            if flag is None or bool(np.asarray(flag).reshape(-1)[0]):
                return False
        # opset < 7 marks inference with is_test=1; a model may omit it (ORT runs it as inference too)
        return True
    if node.op_type in ("Cast", "CastLike"):
        src = graph.value(node.inputs[0]).dtype
        if node.op_type == "Cast":
            dst = _cast_target(node.attrs.get("to"))
        else:
            dst = graph.value(optional_input(node, 1)).dtype if optional_input(node, 1) else None
        return src is not None and src == dst
    return False


def run(graph: Graph, ctx: PassContext) -> bool:
    """Remove Identity, inference Dropout and Cast/CastLike to the same dtype, rewiring their readers.

    Readers of the removed node's output read its input instead. When that
    output is a graph output the graph keeps the output's name: the input's
    producer is renamed to write it, or, when the input is a graph input, a
    constant, a graph output itself or has no producer, the node stays.
    """
    changed = False
    # computed once: rewiring never takes the last reader away from a Dropout mask
    consumers = graph.consumers()
    producers = graph.producers()
    dead: list[Node] = []
    for node in list(graph.nodes):
        if not _is_passthrough(graph, node, consumers):
            continue
        src, dst = node.inputs[0], node.outputs[0]
        if dst in graph.outputs:
            producer = producers.get(src)
            if producer is None or src in graph.inputs or src in graph.outputs:
                continue
            # the graph output keeps its name: the producer writes dst, src's other readers read dst
            graph.replace_uses(src, dst)
            node.inputs = [dst if i == src else i for i in node.inputs]
            rename_output(graph, producer, src, dst)
            producers[dst] = producer
            producers.pop(src, None)
        else:
            graph.replace_uses(dst, src)
        node.inputs = []
        dead.append(node)
        ctx.log(f"eliminate_identity: removed {node.describe()}")
        changed = True
    if changed:
        remove_nodes(graph, dead)
        graph.prune_values()
    return changed

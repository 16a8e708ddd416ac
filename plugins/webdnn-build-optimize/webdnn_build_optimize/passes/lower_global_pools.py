"""lower_global_pools: an AveragePool or MaxPool whose one window covers the whole input becomes
GlobalAveragePool / GlobalMaxPool.

torch's ``AvgPool2d(kernel_size=640)`` (EfficientNet's pooler in `transformers`, and many
"pool to 1x1" heads) exports as AveragePool with a 640x640 kernel and ``ceil_mode=1`` over a small
feature map: a kernel walks 409,600 window positions per output to sum 16 of them (on wasm this one
op took a third of EfficientNet's time). With no padding, one output per channel and a kernel at
least as large as the input, every window position outside the input is skipped and the divisor is
the input's size under both ``count_include_pad`` settings (onnxruntime and torch clamp the window to
the padded input), so the op *is* the global pool, which every backend runs in one pass.

Ordering: after fold_shapes_and_constants (shapes known), before fuse_activation.
"""

from __future__ import annotations

from webdnn_build.ir import Graph
from webdnn_build.registry import PassContext

_GLOBAL = {"AveragePool": "GlobalAveragePool", "MaxPool": "GlobalMaxPool"}


def _covers_input(node, graph: Graph) -> bool:
    x = graph.values.get(node.inputs[0])
    y = graph.values.get(node.outputs[0])
    if x is None or y is None or not x.is_static or not y.is_static or len(x.shape) < 3:
        return False
    spatial = x.shape[2:]
    kernel = node.attrs.get("kernel_shape")
    if not kernel or len(kernel) != len(spatial):
        return False
    pads = node.attrs.get("pads") or [0] * (2 * len(spatial))
    auto_pad = node.attrs["auto_pad"]
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    dilations = node.attrs.get("dilations") or [1] * len(spatial)
    return (auto_pad in ("NOTSET", "VALID") and not any(pads) and all(d == 1 for d in dilations)
            and all(k >= s for k, s in zip(kernel, spatial)) and all(d == 1 for d in y.shape[2:])
            and len(node.outputs) == 1 and node.attrs.get("storage_order", 0) == 0)


def run(graph: Graph, ctx: PassContext) -> bool:
    """Rewrite every pool whose single window covers its whole input as the global pool."""
    changed = False
    for node in graph.nodes:
        if node.domain in ("", "ai.onnx") and node.op_type in _GLOBAL and _covers_input(node, graph):
            ctx.log(f"lower_global_pools: {node.describe()} → {_GLOBAL[node.op_type]}")
            node.op_type = _GLOBAL[node.op_type]
            node.attrs = {}
            changed = True
    return changed

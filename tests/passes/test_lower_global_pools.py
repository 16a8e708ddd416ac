"""lower_global_pools: a pool whose one window covers its input becomes the global pool; the bundle
matches onnxruntime (verify: 1e-5 + 1e-4 of the scale) and pools that are not global stay."""

from __future__ import annotations

import numpy as np
from onnx import helper

from webdnn_build.ir import Graph, Node, Value
from webdnn_build.opdecl import fill_defaults
from webdnn_build.registry import PassContext
from webdnn_build_optimize.passes import lower_global_pools

from ..wasm.verify_helper import verify_on_wasm


def test_efficientnet_style_pooler_matches_onnxruntime(tmp_path):
    x = np.random.default_rng(0).standard_normal((1, 8, 4, 4)).astype(np.float32)
    nodes = [helper.make_node("AveragePool", ["x"], ["a"], kernel_shape=[640, 640], strides=[640, 640],
                              ceil_mode=1, count_include_pad=1, pads=[0, 0, 0, 0]),
             helper.make_node("MaxPool", ["x"], ["m"], kernel_shape=[5, 7], strides=[5, 7], ceil_mode=1),
             helper.make_node("Add", ["a", "m"], ["y"])]
    verify_on_wasm(tmp_path, nodes, {"x": x}, {"y": ("float32", (1, 8, 1, 1))})


def _pool(op: str, x_shape, y_shape, **attrs) -> tuple[Graph, Node]:
    g = Graph(name="g", opsets={"": 17})
    g.values["x"] = Value("x", "float32", x_shape)
    g.values["y"] = Value("y", "float32", y_shape)
    node = Node(op, ["x"], ["y"], attrs, "", "pool")
    g.inputs, g.outputs, g.nodes = ["x"], ["y"], [node]
    fill_defaults(g)  # as the compiler does after import
    return g, node


def test_rewrites_only_pools_with_one_window_over_the_unpadded_input():
    g, node = _pool("AveragePool", (1, 3, 4, 4), (1, 3, 1, 1), kernel_shape=[4, 4])
    assert lower_global_pools.run(g, PassContext()) and node.op_type == "GlobalAveragePool" and node.attrs == {}
    for attrs, y in [({"kernel_shape": [4, 4], "pads": [1, 1, 0, 0]}, (1, 3, 1, 1)),   # padded: divisor differs
                     ({"kernel_shape": [3, 3]}, (1, 3, 2, 2)),                          # several windows
                     ({"kernel_shape": [4, 4], "dilations": [2, 2]}, (1, 3, 1, 1))]:    # dilated
        g, node = _pool("AveragePool", (1, 3, 4, 4), y, **attrs)
        assert lower_global_pools.run(g, PassContext()) is False and node.op_type == "AveragePool"

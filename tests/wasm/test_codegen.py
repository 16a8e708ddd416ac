"""The wasm backend's graph rewrites and helpers (no compiler needed)."""

from __future__ import annotations

import numpy as np
from webdnn_build_wasm.emit import EMITTERS
from webdnn_build_wasm.emit.elementwise import broadcast_strides, collapse
from webdnn_build_wasm.wasm_binary import memory_import_pages

from webdnn_build.codegen import copy_graph, fuse_residual
from webdnn_build.ir import Graph, Node, Value


def residual_graph(conv_act: bool = False, other_shape=(1, 4, 8, 8)) -> Graph:
    g = Graph()
    for name, shape in (("x", (1, 4, 8, 8)), ("c", (1, 4, 8, 8)), ("s", other_shape), ("y", (1, 4, 8, 8))):
        g.values[name] = Value(name, "float32", shape)
    g.values["w"] = Value("w", "float32", (4, 4, 3, 3), np.zeros((4, 4, 3, 3), np.float32))
    conv = Node("Conv", ["x", "w"], ["c"], {"pads": [1, 1, 1, 1]}, name="conv")
    if conv_act:
        conv.attrs["fused_activation"] = "Relu"
    g.nodes = [Node("Relu", ["x"], ["s"]) if other_shape == (1, 4, 8, 8) else Node("Relu", ["x"], ["s"]),
               conv, Node("Add", ["c", "s"], ["y"], {"fused_activation": "Relu"}, name="add")]
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def test_conv_then_add_becomes_one_conv_with_residual():
    g = residual_graph()
    original = copy_graph(g)
    assert fuse_residual(g, EMITTERS["Conv"].supports) == 1
    assert [n.op_type for n in g.nodes] == ["Relu", "Conv"]
    conv = g.nodes[1]
    assert conv.inputs == ["x", "w", "", "s"] and conv.outputs == ["y"]
    assert conv.attrs["fused_activation"] == "Relu"
    # the original graph is untouched (backends must not change the shared IR)
    assert [n.op_type for n in original.nodes] == ["Relu", "Conv", "Add"]


def test_no_fusion_when_the_conv_has_its_own_activation():
    g = residual_graph(conv_act=True)
    assert fuse_residual(g, EMITTERS["Conv"].supports) == 0


def test_no_fusion_for_a_broadcast_add():
    g = residual_graph(other_shape=(1, 4, 1, 1))
    assert fuse_residual(g, EMITTERS["Conv"].supports) == 0


def test_broadcast_strides_collapse_contiguous_axes():
    out = (2, 3, 4, 5)
    sa = broadcast_strides((2, 3, 4, 5), out)
    sb = broadcast_strides((3, 1, 1), out)  # per-channel
    assert sa == [60, 20, 5, 1] and sb == [0, 1, 0, 0]
    shape, a, b = collapse(out, sa, sb)
    assert shape == [2, 3, 20] and a == [60, 20, 1] and b == [0, 1, 0]


def test_memory_import_pages_reads_the_limits():
    # a hand-assembled module: (import "env" "memory" (memory 17 100))
    body = bytes([1]) + bytes([3]) + b"env" + bytes([6]) + b"memory" + bytes([2, 1, 17, 100])
    module = b"\0asm" + bytes([1, 0, 0, 0]) + bytes([2, len(body)]) + body
    assert memory_import_pages(module) == (17, 100)

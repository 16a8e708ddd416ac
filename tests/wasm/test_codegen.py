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
    assert fuse_residual(g, EMITTERS[("", "Conv")].supports) == 1
    assert [n.op_type for n in g.nodes] == ["Relu", "Conv"]
    conv = g.nodes[1]
    assert conv.inputs == ["x", "w", "", "s"] and conv.outputs == ["y"]
    assert conv.attrs["fused_activation"] == "Relu"
    # the original graph is untouched (backends must not change the shared IR)
    assert [n.op_type for n in original.nodes] == ["Relu", "Conv", "Add"]


def test_no_fusion_when_the_conv_has_its_own_activation():
    g = residual_graph(conv_act=True)
    assert fuse_residual(g, EMITTERS[("", "Conv")].supports) == 0


def test_no_fusion_for_a_broadcast_add():
    g = residual_graph(other_shape=(1, 4, 1, 1))
    assert fuse_residual(g, EMITTERS[("", "Conv")].supports) == 0


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


def _typed_graph(dtype: str, op: str = "Add") -> Graph:
    g = Graph()
    for name in ("a", "b", "y"):
        g.values[name] = Value(name, dtype, (2, 3))
    g.nodes = [Node(op, ["a", "b"], ["y"], name="evil */ #include <x>")]
    g.inputs, g.outputs = ["a", "b"], ["y"]
    return g


def _emit(g: Graph) -> tuple[list[str], list[str]]:
    from webdnn_build_wasm.emit import EmitContext
    from webdnn_build_wasm.emit.base import C_TYPES

    ctx = EmitContext(g, lambda n: f"(({C_TYPES[g.values[n].dtype]}*)(wdn_arena + 0))", lambda a, h: h,
                      lambda h: f"{h}_0")
    node = g.nodes[0]
    assert EMITTERS[("", node.op_type)].supports(node, g)
    return EMITTERS[("", node.op_type)].emit(node, ctx), ctx.decls


def test_one_op_type_dispatches_on_dtype():
    calls, _ = _emit(_typed_graph("float32"))
    assert calls == ["wdn_binary_f32(&bin_0, tid, nth);"]
    calls, decls = _emit(_typed_graph("int64"))
    assert calls == ["wdn_binary_typed(&tbin_0, tid, nth);"]
    assert ".op = WDN_BIN_ADD, .dtype = WDN_DT_I64" in decls[0] and "(int64_t*)" in decls[0]
    assert "evil" not in decls[0] + calls[0]  # model strings never reach the C code
    calls, decls = _emit(_typed_graph("uint16"))  # the other dtypes: numeric.c's scalar kernel
    assert calls == ["wdn_binary_any(&nbin_0, tid, nth);"]
    assert ".dt_a = WDN_DT_U16, .dt_b = WDN_DT_U16, .dt_y = WDN_DT_U16" in decls[0]


def test_unsupported_dtypes_stay_on_js():
    assert not EMITTERS[("", "Add")].supports(_typed_graph("string").nodes[0], _typed_graph("string"))
    assert not EMITTERS[("", "Add")].supports(_typed_graph("bool").nodes[0], _typed_graph("bool"))
    g = _typed_graph("float32", "And")
    assert not EMITTERS[("", "And")].supports(g.nodes[0], g)  # And is bool-only
    g = _typed_graph("bool", "And")
    g.values["y"] = Value("y", "bool", None)  # dynamic output shape
    assert not EMITTERS[("", "And")].supports(g.nodes[0], g)

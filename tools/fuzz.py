#!/usr/bin/env python3
"""Fuzz the compiler: mutated ONNX models must build or be refused with our own error, quickly.

Cases are generated with hypothesis (seeded, so a run is reproducible): a valid seed model is
mutated at the byte level (flips, truncation, splices, random bytes) or at the protobuf level
(dims, dtypes, attributes, op types, arities, dangling and duplicated names, cycles, broken
subgraphs, bad external-data references, opsets, initializer data, shape-argument values), then
built with ``webdnn_build.compiler.compile_model`` in a forked child process with a time and
memory limit. Each case counts as

- ``ok``: it built, and the bundle is complete and valid;
- ``rejected``: a ``webdnn_build.errors.WebDNNError`` (or subclass) and no half-written bundle;
- ``crash``: any other exception, a signal (segfault, abort) or the memory limit;
- ``hang``: still running after ``--timeout`` seconds (killed);
- ``half_written``: after the build the output folder is neither absent nor a complete, valid
  bundle (a previous bundle there must survive a failed rebuild intact), or temporary folders
  are left next to it.

Usage: ``python tools/fuzz.py --cases 10000 --seed 1 --json out.json [--jobs 2] [--wasm-every 8]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import AttributeProto, TensorProto, helper, numpy_helper  # noqa: E402
from webdnn_build.weights import read_weights  # noqa: E402

# --------------------------------------------------------------------------------------------
# seed models: small, valid, covering the importer's and backends' main paths


def _model(nodes, inputs, outputs, inits=(), opset=17, value_info=()):
    g = helper.make_graph(nodes, "seed", inputs, outputs, initializer=list(inits), value_info=list(value_info))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="fuzz")
    m.ir_version = 8
    return m


def _f(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def _c(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def seed_models() -> dict[str, tuple[onnx.ModelProto, dict[str, bytes]]]:
    """name -> (model, extra files next to it)"""
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    seeds: dict[str, tuple[onnx.ModelProto, dict[str, bytes]]] = {}
    seeds["relu"] = (_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [_f("x", [1, 4])],
                            [_f("y", [1, 4])]), {})
    seeds["mlp"] = (_model([
        helper.make_node("MatMul", ["x", "W1"], ["h"], name="mm"),
        helper.make_node("Add", ["h", "b1"], ["h1"], name="add"),
        helper.make_node("Relu", ["h1"], ["h2"], name="relu"),
        helper.make_node("Gemm", ["h2", "W2", "b2"], ["z"], name="gemm", transB=1, alpha=0.5),
        helper.make_node("Softmax", ["z"], ["y"], name="softmax", axis=-1)],
        [_f("x", [2, 8])], [_f("y", [2, 3])],
        [_c("W1", r(8, 16)), _c("b1", r(16)), _c("W2", r(3, 16)), _c("b2", r(3))]), {})
    seeds["conv"] = (_model([
        helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "bb", "mu", "var"], ["n"], name="bn"),
        helper.make_node("Relu", ["n"], ["a"], name="relu"),
        helper.make_node("MaxPool", ["a"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("AveragePool", ["p"], ["q"], name="avg", kernel_shape=[2, 2]),
        helper.make_node("Flatten", ["q"], ["y"], name="flat", axis=1)],
        [_f("x", [1, 3, 8, 8])], [_f("y", [1, 36])],
        [_c("W", r(4, 3, 3, 3)), _c("B", r(4)), _c("s", r(4)), _c("bb", r(4)), _c("mu", r(4)),
         _c("var", np.abs(r(4)) + 1)]), {})
    seeds["shape_chain"] = (_model([
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "i0"], ["d0"], name="gather", axis=0),
        helper.make_node("Concat", ["d0", "m1"], ["ns"], name="concat", axis=0),
        helper.make_node("Reshape", ["x", "ns"], ["r"], name="reshape"),
        helper.make_node("Transpose", ["r"], ["t"], name="transpose", perm=[1, 0]),
        helper.make_node("Slice", ["t", "st", "en", "ax"], ["sl"], name="slice"),
        helper.make_node("ReduceMean", ["sl"], ["y"], name="mean", axes=[0], keepdims=1)],
        [_f("x", [2, 3, 4])], [_f("y", [1, 2])],
        [_c("i0", np.array([0], np.int64)), _c("m1", np.array([-1], np.int64)),
         _c("st", np.array([1], np.int64)), _c("en", np.array([9], np.int64)), _c("ax", np.array([0], np.int64))],
        opset=13), {})
    then_g = helper.make_graph([helper.make_node("Add", ["x", "one"], ["ty"], name="then_add")], "then", [],
                               [_f("ty", [2, 2])], [_c("one", np.ones((2, 2), np.float32))])
    else_g = helper.make_graph([helper.make_node("Mul", ["x", "x"], ["ey"], name="else_mul")], "else", [],
                               [_f("ey", [2, 2])])
    seeds["if"] = (_model([
        helper.make_node("If", ["cond"], ["y"], name="if", then_branch=then_g, else_branch=else_g)],
        [_f("cond", [], TensorProto.BOOL), _f("x", [2, 2])], [_f("y", [2, 2])]), {})
    body = helper.make_graph([
        helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_id"),
        helper.make_node("Add", ["acc_in", "x"], ["acc_out"], name="body_add")], "body",
        [_f("i", [], TensorProto.INT64), _f("cond_in", [], TensorProto.BOOL), _f("acc_in", [3])],
        [_f("cond_out", [], TensorProto.BOOL), _f("acc_out", [3])])
    seeds["loop"] = (_model([
        helper.make_node("Loop", ["n", "c", "a0"], ["y"], name="loop", body=body)],
        [_f("x", [3])], [_f("y", [3])],
        [_c("n", np.array(3, np.int64)), _c("c", np.array(True)), _c("a0", np.zeros(3, np.float32))]), {})
    seeds["folding"] = (_model([
        helper.make_node("ConstantOfShape", ["cs"], ["k"], name="cos",
                         value=numpy_helper.from_array(np.array([2.0], np.float32))),
        helper.make_node("Range", ["r0", "r1", "r2"], ["rg"], name="range"),
        helper.make_node("Cast", ["rg"], ["rgf"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Expand", ["rgf", "es"], ["ex"], name="expand"),
        helper.make_node("Tile", ["k", "reps"], ["tl"], name="tile"),
        helper.make_node("Add", ["ex", "tl"], ["s"], name="add"),
        helper.make_node("Mul", ["x", "s"], ["m"], name="mul"),
        helper.make_node("Resize", ["m", "", "scales"], ["rs"], name="resize", mode="nearest"),
        helper.make_node("Pad", ["rs", "pads"], ["pd"], name="pad"),
        helper.make_node("Concat", ["pd", "pd"], ["y"], name="concat", axis=1)],
        [_f("x", [1, 1, 2, 4])], [_f("y", [1, 2, 6, 10])],
        [_c("cs", np.array([1, 1, 2, 2], np.int64)), _c("r0", np.array(0, np.int64)), _c("r1", np.array(4, np.int64)),
         _c("r2", np.array(1, np.int64)), _c("es", np.array([1, 1, 2, 4], np.int64)),
         _c("reps", np.array([1, 1, 1, 2], np.int64)), _c("scales", np.array([1, 1, 2, 2], np.float32)),
         _c("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))]), {})
    ext = _model([helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
                  helper.make_node("Sigmoid", ["h"], ["y"], name="sig")],
                 [_f("x", [1, 64])], [_f("y", [1, 32])], [_c("W", r(64, 32))])
    w = ext.graph.initializer[0]
    data = w.raw_data
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "w.bin"), ("offset", "0"), ("length", str(len(data)))):
        w.external_data.add(key=k, value=v)
    seeds["external"] = (ext, {"w.bin": data})
    return seeds


# --------------------------------------------------------------------------------------------
# mutations (hypothesis draws every choice, so cases shrink and replay from the seed)

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hseed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

DIMS = [0, 1, 2, 3, 5, 64, -1, -7, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 62, 2 ** 63 - 1]
INTS = [0, 1, -1, 2, 3, 7, -2 ** 63, 2 ** 63 - 1, 2 ** 31, -2 ** 31, 2 ** 40, 100, -100]
FLOATS = [0.0, -0.0, 1.0, -1.0, 1e-30, 1e30, float("nan"), float("inf"), float("-inf"), 3.5]
OPS = ["Relu", "Add", "Mul", "MatMul", "Gemm", "Conv", "ConvTranspose", "MaxPool", "AveragePool",
       "GlobalAveragePool", "BatchNormalization", "Softmax", "LogSoftmax", "Reshape", "Transpose", "Concat",
       "Split", "Slice", "Gather", "GatherElements", "Squeeze", "Unsqueeze", "Flatten", "Expand", "Tile", "Pad",
       "Resize", "ConstantOfShape", "Range", "Cast", "Shape", "Size", "ReduceMean", "ReduceSum", "ReduceMax",
       "ArgMax", "TopK", "Where", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "Erf", "Pow", "Sqrt", "Div", "Sub",
       "Equal", "Less", "Not", "If", "Loop", "Scan", "Identity", "Dropout", "LayerNormalization",
       "InstanceNormalization", "Einsum", "CumSum", "OneHot", "NonZero", "Trilu", "DepthToSpace", "SpaceToDepth",
       "LRN", "Selu", "Elu", "HardSigmoid", "PRelu", "Mod", "Min", "Max", "Mean", "Sum", "MatMulInteger",
       "QuantizeLinear", "DequantizeLinear", "Compress", "ScatterND", "Unique", "SequenceConstruct",
       "SplitToSequence", "ConcatFromSequence", "Optional", "NoSuchOp", ""]
NAMES = ["", "x", "y", "W", "zz_missing", "a*/\n#include <x>\n/*", "../../etc/passwd", "n" * 300, "\u202e", "${x}",
         "</script>", "é", "0"]
EXTERNAL_REFS = [
    {"location": "missing.bin"}, {"location": "../w.bin"}, {"location": "/etc/hostname"}, {"location": ""},
    {"location": "."}, {"location": "w.bin", "offset": "99999999"}, {"location": "w.bin", "offset": "-4"},
    {"location": "w.bin", "offset": "abc"}, {"location": "w.bin", "length": "3"},
    {"location": "w.bin", "length": "99999999999"}, {"location": "w.bin", "offset": "4"},
    {"location": "m.onnx"}, {"location": "w.bin", "checksum": "x", "bogus": "y"}, {"location": "sub/../w.bin"},
    {"location": "w.bin\0x"}, {"location": "w.bin", "length": "0"},
]

Mutator = Callable[[onnx.ModelProto, Any, dict], None]


def _graphs(g: onnx.GraphProto) -> list[onnx.GraphProto]:
    out = [g]
    for n in g.node:
        for a in n.attribute:
            if a.HasField("g"):
                out.extend(_graphs(a.g))
            for sg in a.graphs:
                out.extend(_graphs(sg))
    return out


def _pick_graph(m, data) -> onnx.GraphProto:
    gs = _graphs(m.graph)
    return gs[data.draw(st.integers(0, len(gs) - 1), label="graph")]


def _pick(data, seq, label):
    return seq[data.draw(st.integers(0, len(seq) - 1), label=label)] if len(seq) else None


def _value_names(g: onnx.GraphProto) -> list[str]:
    names = [i.name for i in g.input] + [i.name for i in g.initializer] + [o.name for o in g.output]
    for n in g.node:
        names.extend(n.input)
        names.extend(n.output)
    return names or ["x"]


def m_dims(m, data, files):
    g = _pick_graph(m, data)
    vis = list(g.input) + list(g.output) + list(g.value_info)
    kind = data.draw(st.sampled_from(["value", "initializer", "add_value_info"]), label="kind")
    if kind == "initializer" and len(g.initializer):
        t = _pick(data, g.initializer, "init")
        i = data.draw(st.integers(0, max(len(t.dims), 1)), label="dim")
        how = data.draw(st.sampled_from(["set", "append", "drop"]), label="how")
        if how == "set" and t.dims:
            t.dims[min(i, len(t.dims) - 1)] = data.draw(st.sampled_from(DIMS), label="value")
        elif how == "append":
            t.dims.append(data.draw(st.sampled_from(DIMS), label="value"))
        elif t.dims:
            del t.dims[min(i, len(t.dims) - 1)]
        return
    if kind == "add_value_info":
        name = _pick(data, _value_names(g), "name")
        dims = data.draw(st.lists(st.sampled_from(DIMS), max_size=5), label="dims")
        g.value_info.append(_f(name, dims))
        return
    vi = _pick(data, vis, "vi")
    if vi is None or not vi.type.HasField("tensor_type"):
        return
    shape = vi.type.tensor_type.shape
    how = data.draw(st.sampled_from(["set", "param", "append", "drop", "clear", "unknown"]), label="how")
    if how == "clear":
        vi.type.tensor_type.ClearField("shape")
    elif how == "append":
        shape.dim.add().dim_value = data.draw(st.sampled_from(DIMS), label="value")
    elif len(shape.dim):
        d = shape.dim[data.draw(st.integers(0, len(shape.dim) - 1), label="dim")]
        if how == "set":
            d.dim_value = data.draw(st.sampled_from(DIMS), label="value")
        elif how == "param":
            d.dim_param = data.draw(st.sampled_from(["N", "", "batch", "?"]), label="param")
        elif how == "unknown":
            d.Clear()
        else:
            del shape.dim[-1]


def m_dtypes(m, data, files):
    g = _pick_graph(m, data)
    t = data.draw(st.integers(0, 30) | st.sampled_from([TensorProto.FLOAT16, TensorProto.BFLOAT16,
                                                        TensorProto.STRING, TensorProto.INT64]), label="dtype")
    if data.draw(st.booleans(), label="init") and len(g.initializer):
        _pick(data, g.initializer, "init").data_type = t
    else:
        vis = [v for v in list(g.input) + list(g.output) + list(g.value_info) if v.type.HasField("tensor_type")]
        if vis:
            _pick(data, vis, "vi").type.tensor_type.elem_type = t


def m_attributes(m, data, files):
    g = _pick_graph(m, data)
    n = _pick(data, g.node, "node")
    if n is None:
        return
    how = data.draw(st.sampled_from(["value", "type", "remove", "add", "duplicate", "list"]), label="how")
    a = _pick(data, n.attribute, "attr")
    if how == "add" or a is None:
        name = data.draw(st.sampled_from(["axis", "axes", "perm", "pads", "kernel_shape", "strides", "to", "mode",
                                          "value", "alpha", "bogus", "keepdims", "group", "dilations", "epsilon"]),
                         label="name")
        kind = data.draw(st.sampled_from(["i", "f", "s", "ints", "t", "g"]), label="kind")
        if kind == "i":
            n.attribute.append(helper.make_attribute(name, data.draw(st.sampled_from(INTS), label="v")))
        elif kind == "f":
            n.attribute.append(helper.make_attribute(name, data.draw(st.sampled_from(FLOATS), label="v")))
        elif kind == "s":
            n.attribute.append(helper.make_attribute(name, data.draw(st.sampled_from(["", "constant", "linear",
                                                                                      "SAME_UPPER", "\xff"]), label="v")))
        elif kind == "ints":
            n.attribute.append(helper.make_attribute(
                name, data.draw(st.lists(st.sampled_from(INTS), max_size=6), label="v"), attr_type=AttributeProto.INTS))
        elif kind == "t":
            n.attribute.append(helper.make_attribute(name, _c("", np.zeros(data.draw(st.integers(0, 3), label="n"),
                                                                           np.float32))))
        else:
            n.attribute.append(helper.make_attribute(name, helper.make_graph([], "empty", [], [])))
        return
    if how == "remove":
        n.attribute.remove(a)
    elif how == "duplicate":
        n.attribute.append(a)
    elif how == "type":
        a.type = data.draw(st.integers(0, 14), label="type")
    elif how == "list":
        del a.ints[:]
        a.ints.extend(data.draw(st.lists(st.sampled_from(INTS), max_size=8), label="ints"))
        a.type = AttributeProto.INTS
    else:
        if a.type == AttributeProto.INT:
            a.i = data.draw(st.sampled_from(INTS), label="i")
        elif a.type == AttributeProto.FLOAT:
            a.f = data.draw(st.sampled_from(FLOATS), label="f")
        elif a.type == AttributeProto.INTS and len(a.ints):
            a.ints[data.draw(st.integers(0, len(a.ints) - 1), label="k")] = data.draw(st.sampled_from(INTS), label="i")
        elif a.type == AttributeProto.STRING:
            a.s = data.draw(st.sampled_from([b"", b"nearest", b"cubic", b"\xff\xfe", b"NOTSET", b"x" * 100]), label="s")
        elif a.type == AttributeProto.TENSOR:
            a.t.dims.append(data.draw(st.sampled_from(DIMS), label="d"))
        elif a.type == AttributeProto.GRAPH:
            del a.g.output[:]


def m_op_type(m, data, files):
    g = _pick_graph(m, data)
    n = _pick(data, g.node, "node")
    if n is not None:
        n.op_type = data.draw(st.sampled_from(OPS), label="op")
        if data.draw(st.booleans(), label="domain"):
            n.domain = data.draw(st.sampled_from(["", "ai.onnx", "com.microsoft", "ai.onnx.ml", "bogus"]), label="d")


def m_arity(m, data, files):
    g = _pick_graph(m, data)
    n = _pick(data, g.node, "node")
    if n is None:
        return
    how = data.draw(st.sampled_from(["add_input", "drop_input", "empty_input", "add_output", "drop_output",
                                     "empty_output"]), label="how")
    names = _value_names(g)
    if how == "add_input":
        n.input.append(data.draw(st.sampled_from(names + [""]), label="name"))
    elif how == "drop_input" and len(n.input):
        del n.input[-1]
    elif how == "empty_input" and len(n.input):
        n.input[data.draw(st.integers(0, len(n.input) - 1), label="k")] = ""
    elif how == "add_output":
        n.output.append(data.draw(st.sampled_from(["extra_out", "", names[0]]), label="name"))
    elif how == "drop_output" and len(n.output):
        del n.output[-1]
    elif how == "empty_output" and len(n.output):
        n.output[0] = ""


def m_dangling(m, data, files):
    g = _pick_graph(m, data)
    where = data.draw(st.sampled_from(["node_input", "graph_output", "graph_input", "node_output"]), label="where")
    bad = data.draw(st.sampled_from(NAMES), label="name")
    if where == "node_input" and len(g.node):
        n = _pick(data, g.node, "node")
        if len(n.input):
            n.input[data.draw(st.integers(0, len(n.input) - 1), label="k")] = bad
    elif where == "graph_output" and len(g.output):
        g.output[data.draw(st.integers(0, len(g.output) - 1), label="k")].name = bad
    elif where == "graph_input" and len(g.input):
        g.input[data.draw(st.integers(0, len(g.input) - 1), label="k")].name = bad
    elif len(g.node):
        n = _pick(data, g.node, "node")
        if len(n.output):
            n.output[0] = bad


def m_duplicate(m, data, files):
    g = _pick_graph(m, data)
    how = data.draw(st.sampled_from(["node", "initializer", "input", "output", "output_is_input", "init_is_input",
                                     "node_name"]), label="how")
    if how == "node" and len(g.node):
        g.node.append(_pick(data, g.node, "node"))
    elif how == "initializer" and len(g.initializer):
        t = onnx.TensorProto()
        t.CopyFrom(_pick(data, g.initializer, "init"))
        if data.draw(st.booleans(), label="change"):
            t.dims.append(2)
        g.initializer.append(t)
    elif how == "input" and len(g.input):
        g.input.append(_pick(data, g.input, "input"))
    elif how == "output" and len(g.output):
        g.output.append(_pick(data, g.output, "output"))
    elif how == "output_is_input" and len(g.output) and len(g.input):
        g.output[0].name = g.input[0].name
    elif how == "init_is_input" and len(g.initializer):
        t = _pick(data, g.initializer, "init")
        g.input.append(_f(t.name, list(t.dims), t.data_type))
    elif len(g.node) > 1:
        for n in g.node:
            n.name = "same"


def m_cycle(m, data, files):
    g = _pick_graph(m, data)
    if not len(g.node):
        return
    i = data.draw(st.integers(0, len(g.node) - 1), label="i")
    j = data.draw(st.integers(i, len(g.node) - 1), label="j")
    src, dst = g.node[j], g.node[i]
    if len(dst.input) and len(src.output):
        dst.input[data.draw(st.integers(0, len(dst.input) - 1), label="k")] = src.output[0]
    if data.draw(st.booleans(), label="reverse"):
        nodes = list(g.node)[::-1]
        del g.node[:]
        g.node.extend(nodes)


def m_subgraph(m, data, files):
    owners = [(n, a) for g in _graphs(m.graph) for n in g.node for a in n.attribute if a.HasField("g") or len(a.graphs)]
    if not owners:
        # give a plain node a subgraph attribute
        n = _pick(data, m.graph.node, "node")
        if n is not None:
            n.attribute.append(helper.make_attribute("body", helper.make_graph(
                [helper.make_node("Relu", ["nowhere"], ["o"])], "b", [], [_f("o", [1])])))
        return
    n, a = _pick(data, owners, "owner")
    sub = a.g if a.HasField("g") else a.graphs[0]
    how = data.draw(st.sampled_from(["drop_outputs", "drop_inputs", "extra_input", "empty", "recurse", "outer_ref",
                                     "swap_type", "self_ref"]), label="how")
    if how == "drop_outputs":
        del sub.output[:]
    elif how == "drop_inputs":
        del sub.input[:]
    elif how == "extra_input":
        sub.input.append(_f("extra", [1]))
    elif how == "empty":
        del sub.node[:]
    elif how == "outer_ref" and len(sub.node):
        sub.node[0].input.append(data.draw(st.sampled_from(NAMES), label="name"))
    elif how == "swap_type":
        a.type = AttributeProto.GRAPHS if a.type == AttributeProto.GRAPH else AttributeProto.GRAPH
    elif how == "self_ref" and len(sub.node) and len(n.output):
        sub.node[0].input.append(n.output[0])
    else:
        inner = onnx.ModelProto()
        inner.graph.CopyFrom(sub)
        _pick(data, PROTO_MUTATORS_NO_SUB, "inner")[1](inner, data, files)
        sub.CopyFrom(inner.graph)


def m_external(m, data, files):
    inits = [t for g in _graphs(m.graph) for t in g.initializer]
    t = _pick(data, inits, "init")
    if t is None:
        return
    ref = dict(data.draw(st.sampled_from(EXTERNAL_REFS), label="ref"))
    if t.data_location != TensorProto.EXTERNAL and data.draw(st.booleans(), label="move"):
        raw = t.raw_data or numpy_helper.to_array(t).tobytes()
        files.setdefault("w.bin", b"")
        ref.setdefault("offset", str(len(files["w.bin"])))
        files["w.bin"] += raw
    t.ClearField("raw_data")
    t.ClearField("float_data")
    t.ClearField("int64_data")
    t.ClearField("int32_data")
    t.data_location = TensorProto.EXTERNAL
    del t.external_data[:]
    for k, v in ref.items():
        t.external_data.add(key=k, value=v)
    if data.draw(st.booleans(), label="symlink"):
        files["@symlink:w.bin"] = b"/etc/hostname"
    if data.draw(st.booleans(), label="truncate") and "w.bin" in files:
        files["w.bin"] = files["w.bin"][: data.draw(st.integers(0, len(files["w.bin"])), label="len")]


def m_opset(m, data, files):
    how = data.draw(st.sampled_from(["version", "domain", "ir", "remove", "add"]), label="how")
    if how == "version" and len(m.opset_import):
        m.opset_import[0].version = data.draw(st.sampled_from([0, 1, 5, 6, 7, 9, 11, 13, 18, 21, 22, 23, 999, -1]),
                                              label="v")
    elif how == "domain" and len(m.opset_import):
        m.opset_import[0].domain = data.draw(st.sampled_from(["ai.onnx", "bogus", "com.microsoft"]), label="d")
    elif how == "ir":
        m.ir_version = data.draw(st.sampled_from([0, 1, 3, 4, 7, 9, 10, 11, 12, 99, -1]), label="ir")
    elif how == "remove":
        del m.opset_import[:]
    else:
        m.opset_import.append(helper.make_opsetid("", 13))


def m_initializer_data(m, data, files):
    inits = [t for g in _graphs(m.graph) for t in g.initializer]
    t = _pick(data, inits, "init")
    if t is None:
        return
    how = data.draw(st.sampled_from(["truncate", "extend", "float_data", "int64_data", "string_data", "both"]),
                    label="how")
    if how == "truncate":
        t.raw_data = t.raw_data[: data.draw(st.integers(0, len(t.raw_data)), label="len")]
    elif how == "extend":
        t.raw_data = t.raw_data + b"\x01" * data.draw(st.integers(1, 9), label="n")
    elif how == "float_data":
        t.ClearField("raw_data")
        t.float_data.extend(data.draw(st.lists(st.sampled_from(FLOATS), max_size=5), label="vals"))
    elif how == "int64_data":
        t.ClearField("raw_data")
        t.int64_data.extend(data.draw(st.lists(st.sampled_from(INTS), max_size=5), label="vals"))
    elif how == "string_data":
        t.string_data.append(b"\xff\xfe")
        t.data_type = TensorProto.STRING
    else:
        t.float_data.append(1.0)


def m_values(m, data, files):
    """Change the values of small int64/float constants: shape, axes, pads, scales, repeats, trip counts."""
    inits = [t for g in _graphs(m.graph) for t in g.initializer
             if t.data_type in (TensorProto.INT64, TensorProto.FLOAT) and 0 < len(t.raw_data) <= 64]
    t = _pick(data, inits, "init")
    if t is None:
        return
    arr = numpy_helper.to_array(t).copy()
    if arr.size == 0:
        return
    flat = arr.reshape(-1)
    k = data.draw(st.integers(0, flat.size - 1), label="k")
    if arr.dtype == np.int64:
        flat[k] = data.draw(st.sampled_from(INTS + [2 ** 20, 2 ** 14, 1 << 30]), label="v")
    else:
        flat[k] = data.draw(st.sampled_from(FLOATS + [1e6, 4096.0]), label="v")
    t.raw_data = arr.tobytes()


def m_names(m, data, files):
    g = _pick_graph(m, data)
    name = data.draw(st.sampled_from(NAMES), label="name")
    old = _pick(data, [n for n in _value_names(g) if n], "old")
    if not old:
        return
    for n in g.node:
        n.input[:] = [name if i == old else i for i in n.input]
        n.output[:] = [name if o == old else o for o in n.output]
        if data.draw(st.booleans(), label="nodename"):
            n.name = name
    for v in list(g.input) + list(g.output) + list(g.value_info) + list(g.initializer):
        if v.name == old:
            v.name = name


PROTO_MUTATORS_NO_SUB: list[tuple[str, Mutator]] = [
    ("dims", m_dims), ("dtypes", m_dtypes), ("attributes", m_attributes), ("op_type", m_op_type),
    ("arity", m_arity), ("dangling", m_dangling), ("duplicate", m_duplicate), ("cycle", m_cycle),
    ("external", m_external), ("opset", m_opset), ("initializer_data", m_initializer_data),
    ("values", m_values), ("names", m_names),
]
UNARY = ["Relu", "Sigmoid", "Tanh", "Erf", "Exp", "Log", "Sqrt", "Neg", "Abs", "Floor", "Ceil", "Softmax",
         "Identity", "Not", "IsNaN", "Sign", "Reciprocal", "HardSwish", "Softplus", "Round", "Flatten", "Squeeze",
         "ReduceSum", "ReduceMax", "ArgMax", "GlobalMaxPool", "NonZero", "Shape", "Size", "Transpose", "Dropout",
         "Elu", "Selu", "LogSoftmax", "Hardmax", "Cos", "Sin", "Mish", "CumSum"]
BINARY = ["Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Equal", "Less", "Greater", "And", "PRelu",
          "MatMul", "Reshape", "Expand", "Tile", "Gather", "Concat", "Where", "BitShift", "Sum", "Mean",
          "Unsqueeze", "ReduceMean", "Squeeze", "Slice", "TopK", "Pad", "Split"]


def m_op_swap(m, data, files):
    """Replace an op by another of the same arity: the checker and shape inference accept many of these,
    so the passes and backends see them."""
    g = _pick_graph(m, data)
    nodes = [n for n in g.node if len(n.input) in (1, 2)]
    n = _pick(data, nodes, "node")
    if n is None:
        return
    n.op_type = data.draw(st.sampled_from(UNARY if len(n.input) == 1 else BINARY), label="op")
    if data.draw(st.booleans(), label="drop_attrs"):
        del n.attribute[:]


def m_attr_value(m, data, files):
    """Keep every attribute's type, change its value: axis, perm, pads, strides, kernel shapes, modes."""
    nodes = [n for g in _graphs(m.graph) for n in g.node if len(n.attribute)]
    n = _pick(data, nodes, "node")
    if n is None:
        return
    a = _pick(data, n.attribute, "attr")
    if a.type == AttributeProto.INT:
        a.i = data.draw(st.sampled_from(INTS) | st.integers(-5, 5), label="i")
    elif a.type == AttributeProto.FLOAT:
        a.f = data.draw(st.sampled_from(FLOATS), label="f")
    elif a.type == AttributeProto.INTS:
        vals = data.draw(st.lists(st.sampled_from(INTS) | st.integers(-4, 4), min_size=0, max_size=8), label="ints")
        del a.ints[:]
        a.ints.extend(vals)
    elif a.type == AttributeProto.STRING:
        a.s = data.draw(st.sampled_from([b"", b"nearest", b"linear", b"cubic", b"SAME_UPPER", b"SAME_LOWER", b"VALID",
                                         b"reflect", b"edge", b"wrap", b"half_pixel", b"\xff"]), label="s")
    elif a.type == AttributeProto.TENSOR:
        a.t.CopyFrom(_c(a.t.name, np.asarray(data.draw(st.sampled_from([[1.0, 2.0], [np.nan], [], [[1.0]]]),
                                                       label="t"), np.float32)))


PROTO_MUTATORS = PROTO_MUTATORS_NO_SUB + [("subgraph", m_subgraph), ("op_swap", m_op_swap),
                                          ("attr_value", m_attr_value)]
BYTE_MUTATIONS = ["bytes_flip", "bytes_truncate", "bytes_splice", "bytes_random"]
MUTATIONS = [name for name, _ in PROTO_MUTATORS] + ["multi"] + BYTE_MUTATIONS
#: how often each mutation is drawn: the ones that get past onnx's checker reach our code
WEIGHTED_MUTATIONS = MUTATIONS + ["values"] * 3 + ["attr_value"] * 4 + ["op_swap"] * 4 + ["dims"] * 2 + ["multi"] * 2


def mutate_bytes(kind: str, blob: bytes, data) -> bytes:
    b = bytearray(blob)
    if kind == "bytes_flip":
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            i = data.draw(st.integers(0, len(b) - 1), label="at")
            b[i] = data.draw(st.sampled_from([0, 0xFF, 0x80, 0x7F, b[i] ^ 1, b[i] ^ 0x40]), label="byte")
        return bytes(b)
    if kind == "bytes_truncate":
        return bytes(b[: data.draw(st.integers(0, len(b) - 1), label="len")])
    if kind == "bytes_splice":
        i = data.draw(st.integers(0, len(b)), label="at")
        j = data.draw(st.integers(i, min(len(b), i + 64)), label="to")
        how = data.draw(st.sampled_from(["delete", "duplicate", "insert"]), label="how")
        if how == "delete":
            return bytes(b[:i] + b[j:])
        if how == "duplicate":
            return bytes(b[:j] + b[i:j] + b[j:])
        return bytes(b[:i] + data.draw(st.binary(min_size=1, max_size=32), label="ins") + b[i:])
    return bytes([0x08, 0x08]) + data.draw(st.binary(max_size=256), label="random")


def draw_case(data, seeds, backends_for: Callable[[int], str], index: int) -> dict[str, Any]:
    seed_name = data.draw(st.sampled_from(sorted(seeds)), label="seed")
    model = onnx.ModelProto()
    model.CopyFrom(seeds[seed_name][0])
    files = dict(seeds[seed_name][1])
    mutation = data.draw(st.sampled_from(WEIGHTED_MUTATIONS), label="mutation")
    applied = []
    try:
        if mutation in BYTE_MUTATIONS:
            blob = mutate_bytes(mutation, model.SerializeToString(), data)
        else:
            steps = data.draw(st.integers(2, 4), label="steps") if mutation == "multi" else 1
            for _ in range(steps):
                if mutation == "multi":
                    name, fn = data.draw(st.sampled_from(PROTO_MUTATORS), label="step")
                else:
                    name, fn = mutation, dict(PROTO_MUTATORS)[mutation]
                fn(model, data, files)
                applied.append(name)
            blob = model.SerializeToString()
    except (ValueError, TypeError, onnx.onnx_cpp2py_export.checker.ValidationError) as exc:
        # protobuf refused the edit (e.g. a string field): the case is the unmutated seed
        applied.append(f"unapplied: {type(exc).__name__}")
        blob = seeds[seed_name][0].SerializeToString()
    preexisting = data.draw(st.integers(0, 4), label="preexisting") == 0
    return {"index": index, "seed": seed_name, "mutation": mutation, "steps": applied, "model": blob,
            "files": files, "backend": backends_for(index), "preexisting": preexisting}


def generate_cases(n: int, seed: int, backends_for: Callable[[int], str]) -> list[dict[str, Any]]:
    """``n`` cases drawn by hypothesis from ``seed`` (deterministic for a given seed and code)."""
    seeds = seed_models()
    cases: list[dict[str, Any]] = []

    def run_hypothesis(s: int, count: int) -> None:
        @hseed(s)
        @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(st.data())
        def gen(data):
            if len(cases) < n:
                cases.append(draw_case(data, seeds, backends_for, len(cases)))
        gen()

    # hypothesis may stop before max_examples (duplicate examples); top up from derived seeds
    for round_ in range(50):
        if len(cases) >= n:
            break
        run_hypothesis(seed + round_ * 1_000_003, n - len(cases))
    return cases[:n]


# --------------------------------------------------------------------------------------------
# running one case (in a forked child)


def bundle_problem(out: Path) -> Optional[str]:
    """None when ``out`` is a complete, valid bundle, else what is wrong with it."""
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        return f"manifest.json unreadable: {exc}"
    try:
        w = manifest["weights"]
        size = len(read_weights(out))  # (checks every shard digest)
        if size != w["byteLength"]:
            return f"weight shards hold {size} bytes, manifest says {w['byteLength']}"
        if not manifest["backends"]:
            return "manifest lists no backend"
        for name, entry in manifest["backends"].items():
            for key in ("program", "plan"):
                if key in entry:
                    json.loads((out / entry[key]).read_text())
            if name == "wasm":
                plan = json.loads((out / entry["plan"]).read_text())
                if (out / plan["module"]).read_bytes()[:4] != b"\0asm":
                    return "model.wasm is not a wasm module"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"bundle incomplete: {type(exc).__name__}: {exc}"
    return None


def _write_case(case: dict[str, Any], work: Path) -> Path:
    model_dir = work / "model"
    model_dir.mkdir(parents=True)
    path = model_dir / "m.onnx"
    path.write_bytes(case["model"])
    for rel, blob in case["files"].items():
        if rel.startswith("@symlink:"):
            target = model_dir / rel.split(":", 1)[1]
            if target.exists():
                target.unlink()
            target.symlink_to(blob.decode())
        else:
            (model_dir / rel).write_bytes(blob)
    return path


def run_case(case: dict[str, Any], work: Path, prebuilt: Optional[Path]) -> dict[str, Any]:
    from webdnn_build.compiler import BuildOptions, compile_model
    from webdnn_build.errors import WebDNNError

    path = _write_case(case, work)
    out = work / "out"
    if case["preexisting"] and prebuilt is not None:
        shutil.copytree(prebuilt, out)
    result: dict[str, Any] = {}
    try:
        compile_model(path, out, BuildOptions(backends=[case["backend"]]), log=lambda msg: None)
        result["outcome"] = "ok"
    except WebDNNError as exc:
        result["outcome"] = "rejected"
        result["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    except BaseException as exc:  # noqa: BLE001 — exactly what the fuzzer looks for
        result["outcome"] = "crash"
        tb = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in tb if "/site-packages/" not in f.filename] or tb
        where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno} ({ours[-1].name})" if ours else "?"
        result["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        result["where"] = where
        result["signature"] = f"{type(exc).__name__} at {where}"
    # half-written: a failed build leaves no folder (or the previous bundle, intact); a build leaves a valid one
    problem = None
    if out.exists():
        problem = bundle_problem(out)
    elif result["outcome"] == "ok":
        problem = "build reported success but wrote nothing"
    elif case["preexisting"] and prebuilt is not None:
        problem = "the previous bundle was removed by a failed build"
    leftovers = [p.name for p in work.iterdir() if p.name.startswith(".out")]
    if leftovers:
        problem = (problem + "; " if problem else "") + f"left behind: {leftovers}"
    if problem:
        result["half_written"] = problem
    return result


def _child(case, work: Path, prebuilt, result_path: Path, mem_bytes: int) -> None:
    try:
        if mem_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
        os.environ["OMP_NUM_THREADS"] = "1"
        import warnings
        warnings.simplefilter("ignore")  # onnx warns about unknown external-data keys etc.: noise here
        res = run_case(case, work, prebuilt)
    except BaseException as exc:  # noqa: BLE001
        res = {"outcome": "crash", "error": f"harness: {type(exc).__name__}: {exc}",
               "signature": f"harness {type(exc).__name__}"}
    try:
        result_path.write_text(json.dumps(res))
    finally:
        os._exit(0)


def run_all(cases: list[dict[str, Any]], jobs: int, timeout: float, mem_mb: int, tmp: Path,
            prebuilt: dict[str, Path], progress: bool = True) -> list[dict[str, Any]]:
    results: list[Optional[dict[str, Any]]] = [None] * len(cases)
    running: dict[int, tuple[int, float, Path]] = {}  # pid -> (case index, start, work dir)
    todo = list(range(len(cases)))[::-1]
    done = 0
    t0 = time.time()
    while todo or running:
        while todo and len(running) < jobs:
            i = todo.pop()
            work = tmp / f"case{i}"
            work.mkdir()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                try:
                    os.setpgid(0, 0)
                except OSError:
                    pass
                _child(cases[i], work, prebuilt.get(cases[i]["backend"]), work / "result.json", mem_mb << 20)
            running[pid] = (i, time.time(), work)
        time.sleep(0.002)
        for pid, (i, start, work) in list(running.items()):
            wpid, status = os.waitpid(pid, os.WNOHANG)
            if wpid == 0:
                if time.time() - start > timeout:
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except OSError:
                        os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    results[i] = {"outcome": "hang", "error": f"still running after {timeout:.0f} s",
                                  "seconds": round(time.time() - start, 2)}
                else:
                    continue
            else:
                res_file = work / "result.json"
                if res_file.exists():
                    results[i] = json.loads(res_file.read_text())
                else:
                    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
                    results[i] = {"outcome": "crash", "error": f"child died (signal {sig}, status {status})",
                                  "signature": f"signal {sig}"}
                results[i]["seconds"] = round(time.time() - start, 3)
            del running[pid]
            shutil.rmtree(work, ignore_errors=True)
            done += 1
            if progress and done % 500 == 0:
                print(f"  {done}/{len(cases)} cases ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    return results  # type: ignore[return-value]


def summarise(cases, results, args, seconds) -> dict[str, Any]:
    summary: dict[str, Any] = {"cases": len(cases), "ok": 0, "rejected": 0, "crashes": 0, "hangs": 0,
                               "half_written": 0, "by_mutation": {}, "by_backend": {}}
    key = {"ok": "ok", "rejected": "rejected", "crash": "crashes", "hang": "hangs"}
    failures = []
    signatures: Counter = Counter()
    rejected_by: Counter = Counter()
    reasons: Counter = Counter()
    for case, res in zip(cases, results):
        k = key[res["outcome"]]
        summary[k] += 1
        bm = summary["by_mutation"].setdefault(case["mutation"], {"cases": 0, "ok": 0, "rejected": 0, "crashes": 0,
                                                                  "hangs": 0, "half_written": 0})
        bb = summary["by_backend"].setdefault(case["backend"], {"cases": 0, "ok": 0, "rejected": 0, "crashes": 0,
                                                                "hangs": 0, "half_written": 0})
        for d in (bm, bb):
            d["cases"] += 1
            d[k] += 1
        if k == "rejected":
            cls = res.get("error", "?").split(":", 1)[0]
            rejected_by[cls] += 1
            stage = res.get("error", "").split(": ", 2)[-1][:40] if "ONNX checker" not in res.get("error", "") \
                else "ONNX checker"
            reasons[stage] += 1
        if res.get("half_written"):
            summary["half_written"] += 1
            bm["half_written"] += 1
            bb["half_written"] += 1
        if k in ("crashes", "hangs") or res.get("half_written"):
            signatures[res.get("signature") or res.get("half_written") or k] += 1
            failures.append({"index": case["index"], "seed": case["seed"], "mutation": case["mutation"],
                             "steps": case["steps"], "backend": case["backend"], **res})
    summary["failure_kinds"] = dict(signatures.most_common())
    summary["rejected_by"] = dict(rejected_by.most_common())
    summary["top_rejection_reasons"] = dict(reasons.most_common(40))
    summary["failures"] = failures[:200]
    summary["seed"] = args.seed
    summary["seconds"] = round(seconds, 1)
    summary["command"] = "python tools/fuzz.py " + " ".join(sys.argv[1:])
    summary["machine"] = f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()})"
    summary["timeout_s"] = args.timeout
    summary["date"] = time.strftime("%Y-%m-%d %H:%M %Z")
    return summary


def prebuild(tmp: Path, backends: list[str]) -> dict[str, Path]:
    """A valid bundle per backend, copied into place before the 'rebuild over an existing bundle' cases."""
    from webdnn_build.compiler import BuildOptions, compile_model

    seeds = seed_models()
    model = tmp / "prebuilt.onnx"
    model.write_bytes(seeds["relu"][0].SerializeToString())
    out = {}
    for b in backends:
        compile_model(model, tmp / f"prebuilt-{b}", BuildOptions(backends=[b]), log=lambda m: None)
        out[b] = tmp / f"prebuilt-{b}"
    return out


def fuzz(cases_n: int, seed: int, backends: list[str], wasm_every: int, jobs: int, timeout: float, mem_mb: int,
         save_failures: Optional[Path] = None, args: Any = None) -> dict[str, Any]:
    from webdnn_build.plugins import get_host

    get_host()  # load the plugins once, before forking: every child starts warm
    others = [b for b in backends if b != "js"]

    def backend_for(i: int) -> str:
        if "js" not in backends:
            return backends[i % len(backends)]
        if others and wasm_every and i % wasm_every == wasm_every - 1:
            return others[(i // wasm_every) % len(others)]
        return "js"

    t0 = time.time()
    cases = generate_cases(cases_n, seed, backend_for)
    print(f"generated {len(cases)} cases in {time.time() - t0:.1f} s", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="webdnn-fuzz-") as tmp_s:
        tmp = Path(tmp_s)
        prebuilt = prebuild(tmp, sorted({c["backend"] for c in cases}))
        results = run_all(cases, jobs, timeout, mem_mb, tmp, prebuilt)
    summary = summarise(cases, results, args or argparse.Namespace(seed=seed, timeout=timeout), time.time() - t0)
    if save_failures is not None:
        save_failures.mkdir(parents=True, exist_ok=True)
        for f in summary["failures"]:
            case = cases[f["index"]]
            d = save_failures / f"case{case['index']}-{case['mutation']}"
            d.mkdir(exist_ok=True)
            (d / "m.onnx").write_bytes(case["model"])
            for rel, blob in case["files"].items():
                if not rel.startswith("@"):
                    (d / rel).write_bytes(blob)
            (d / "result.json").write_text(json.dumps(f, indent=1))
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="write the summary here")
    p.add_argument("--backends", default="js,wasm", help="backends to build with (default js,wasm)")
    p.add_argument("--wasm-every", type=int, default=8,
                   help="every N-th case builds with the non-js backend(s) instead of js (they compile C: slower)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--timeout", type=float, default=10.0, help="seconds before a case counts as a hang")
    p.add_argument("--memory-mb", type=int, default=4096, help="address-space limit per case (0: none)")
    p.add_argument("--save-failures", help="folder to write the failing models into")
    args = p.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    summary = fuzz(args.cases, args.seed, backends, args.wasm_every, args.jobs, args.timeout, args.memory_mb,
                   Path(args.save_failures) if args.save_failures else None, args)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    print(f"fuzz: {summary['cases']} cases (seed {args.seed}, {summary['seconds']} s): {summary['ok']} ok, "
          f"{summary['rejected']} rejected, {summary['crashes']} crashes, {summary['hangs']} hangs, "
          f"{summary['half_written']} half-written")
    for name, d in sorted(summary["by_mutation"].items()):
        print(f"  {name:<17} {d['cases']:>6} cases  {d['ok']:>5} ok  {d['rejected']:>6} rejected  "
              f"{d['crashes']:>4} crashes  {d['hangs']:>3} hangs  {d['half_written']:>3} half-written")
    for sig, count in list(summary["failure_kinds"].items())[:30]:
        print(f"  FAIL x{count}: {sig}")
    bad = summary["crashes"] + summary["hangs"] + summary["half_written"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

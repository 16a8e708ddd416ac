"""Item 3 of issue 8: absurd declared sizes are refused at build, quickly, naming the value and its size."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn_build.compiler import BuildOptions, compile_model
from webdnn_build.errors import ResourceError, WebDNNError
from webdnn_build.limits import check_arena
from webdnn_build.weights import read_weights

from .helpers import float_input

HUGE = 1 << 20  # two such dims: 2**40 elements


def _save(path: Path, nodes, inputs, outputs, inits=(), value_info=(), opset=17) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits), value_info=list(value_info))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _i64(name: str, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, np.int64), name)


def _refused(model: Path, tmp_path: Path, name: str) -> str:
    out = tmp_path / "out"
    t0 = time.perf_counter()
    with pytest.raises(WebDNNError) as info:
        compile_model(model, out, BuildOptions(backends=["js"]), log=lambda m: None)
    assert time.perf_counter() - t0 < 5
    msg = str(info.value)
    assert f"'{name}'" in msg or f"name: {name})" in msg, msg
    assert not out.exists()
    return msg


def test_graph_input(tmp_path):
    m = _save(tmp_path / "m.onnx", [helper.make_node("Relu", ["x"], ["y"])],
              [float_input("x", [HUGE, HUGE])], [float_input("y", [HUGE, HUGE])])
    msg = _refused(m, tmp_path, "x")
    assert "1,099,511,627,776 elements" in msg and "TiB" in msg


def test_value_info(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["t"]), helper.make_node("Relu", ["t"], ["y"])]
    m = _save(tmp_path / "m.onnx", nodes, [float_input("x", [2])], [float_input("y", [2])],
              value_info=[float_input("t", [HUGE, HUGE, 4])])
    _refused(m, tmp_path, "t")


def test_negative_dim(tmp_path):
    """Tensor data with a negative dim is refused, naming the tensor."""
    w = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, -3])
    m = _save(tmp_path / "m.onnx", [helper.make_node("Add", ["x", "w"], ["y"])],
              [float_input("x", [2, 3])], [float_input("y", [2, 3])], inits=[w])
    assert "negative" in _refused(m, tmp_path, "w")


def test_negative_declared_dim_means_unknown(tmp_path):
    """A negative dim_value in a declared type is "unknown", as exporters and onnxruntime read it."""
    m = _save(tmp_path / "m.onnx", [helper.make_node("Relu", ["x"], ["t"]), helper.make_node("Relu", ["t"], ["y"])],
              [float_input("x", [2, 3])], [float_input("y", [2, 3])], value_info=[float_input("t", [-1, 3])])
    result = compile_model(m, tmp_path / "out", BuildOptions(backends=["js"]), log=lambda s: None)
    assert result.manifest["outputs"][0]["shape"] == [2, 3]


def _raw_tensor(name: str, dims, data: bytes) -> onnx.TensorProto:
    t = onnx.TensorProto(name=name, data_type=TensorProto.FLOAT, raw_data=data)
    t.dims.extend(dims)
    return t


def test_initializer_dims(tmp_path):
    w = _raw_tensor("W", [HUGE, HUGE], b"\0" * 16)
    m = _save(tmp_path / "m.onnx", [helper.make_node("Add", ["x", "W"], ["y"])],
              [float_input("x", [1])], [float_input("y", [HUGE, HUGE])], inits=[w])
    _refused(m, tmp_path, "W")


def test_initializer_data_mismatch_is_an_import_error(tmp_path):
    w = _raw_tensor("W", [4, 4], b"\0" * 12)
    m = _save(tmp_path / "m.onnx", [helper.make_node("Add", ["x", "W"], ["y"])],
              [float_input("x", [1])], [float_input("y", [4, 4])], inits=[w])
    _refused(m, tmp_path, "W")


@pytest.mark.parametrize("op", ["ConstantOfShape", "Expand"])
def test_constant_of_shape_and_expand(tmp_path, op):
    if op == "ConstantOfShape":
        nodes = [helper.make_node("ConstantOfShape", ["s"], ["c"]), helper.make_node("Add", ["x", "c"], ["y"])]
        inits = [_i64("s", [HUGE, HUGE])]
    else:
        nodes = [helper.make_node("Expand", ["one", "s"], ["c"]), helper.make_node("Add", ["x", "c"], ["y"])]
        inits = [_i64("s", [HUGE, HUGE]), numpy_helper.from_array(np.ones(1, np.float32), "one")]
    m = _save(tmp_path / "m.onnx", nodes, [float_input("x", [1])], [float_input("y", ["a", "b"])], inits=inits)
    msg = _refused(m, tmp_path, "c")
    assert "GiB" in msg or "TiB" in msg


@pytest.mark.parametrize("op", ["Tile", "Range", "Resize", "ConstantOfShape"])
def test_folding_checks_size_before_evaluating(tmp_path, op):
    """Results just under the tensor bound: shape inference cannot always see them, and folding
    must not allocate them (here 1-3 GiB) before deciding to keep the node."""
    x = [float_input("x", [1])]
    if op == "Tile":
        nodes = [helper.make_node("Tile", ["v", "r"], ["c"])]
        inits = [numpy_helper.from_array(np.arange(4, dtype=np.float32), "v"), _i64("r", [1 << 26])]
    elif op == "Range":
        nodes = [helper.make_node("Range", ["a", "b", "d"], ["c"])]
        inits = [numpy_helper.from_array(np.array(0, np.float32), "a"),
                 numpy_helper.from_array(np.array(float(1 << 28), np.float32), "b"),
                 numpy_helper.from_array(np.array(1, np.float32), "d")]
    elif op == "Resize":
        nodes = [helper.make_node("Resize", ["v", "", "sc"], ["c"])]
        inits = [numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4), "v"),
                 numpy_helper.from_array(np.array([1, 1, 8192, 8192], np.float32), "sc")]
    else:
        nodes = [helper.make_node("ConstantOfShape", ["s"], ["c"],
                                  value=numpy_helper.from_array(np.array([3], np.float32)))]
        inits = [_i64("s", [1 << 14, 1 << 14])]
    nodes.append(helper.make_node("ReduceSum", ["c"], ["r0"], keepdims=0))
    nodes.append(helper.make_node("Add", ["x", "r0"], ["y"]))
    m = _save(tmp_path / "m.onnx", nodes, x, [float_input("y", [1])], inits=inits)
    logs: list[str] = []
    t0 = time.perf_counter()
    result = compile_model(m, tmp_path / "out", BuildOptions(backends=["js"]), log=logs.append)
    assert time.perf_counter() - t0 < 10
    if op == "ConstantOfShape":  # uniform: folded into a `fill` descriptor without materialising 1 GiB
        assert all(n.op_type != "ConstantOfShape" for n in result.graph.nodes)
    else:
        assert any(n.op_type == op for n in result.graph.nodes), logs


def test_arena_over_wasm32_memory_names_the_largest_tensors():
    with pytest.raises(ResourceError) as info:
        check_arena("wasm", 3 << 30, 2 << 30, {"big": 3 << 30, "small": 16})
    assert "'big' (3.0 GiB)" in str(info.value) and "weights" in str(info.value)
    check_arena("wasm", 1 << 30, 1 << 30, {"a": 1 << 30})


def test_wasm_arena_refused_before_compiling(tmp_path):
    """Three live 3 GiB tensors (input, intermediates) do not fit wasm32: refused before any C is emitted."""
    nodes = [helper.make_node("Relu", ["x"], ["t"]), helper.make_node("Add", ["t", "x"], ["u"]),
             helper.make_node("ReduceSum", ["u"], ["y"], keepdims=0)]
    m = _save(tmp_path / "m.onnx", nodes, [float_input("x", [3 << 28])], [float_input("y", [])])
    with pytest.raises(ResourceError) as info:
        compile_model(m, tmp_path / "out", BuildOptions(backends=["wasm"]), log=lambda m: None)
    assert "'t'" in str(info.value) or "'u'" in str(info.value) or "'x'" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_external_weights_are_mapped_not_read(tmp_path):
    """Large external initializers reach the weight file through a memory map (no in-memory copy of the
    whole model: what lets a model over protobuf's 2 GB limit build); the bytes arrive intact."""
    from webdnn_build.compiler import import_model

    w = np.random.default_rng(0).random((256, 64), dtype=np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g", [float_input("x", [1, 256])],
                              [float_input("y", [1, 64])], [numpy_helper.from_array(w, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "m.onnx"), save_as_external_data=True, location="m.bin", size_threshold=0)
    g = import_model(tmp_path / "m.onnx", BuildOptions(), log=lambda m: None)
    assert isinstance(g.values["W"].const, np.memmap)
    result = compile_model(tmp_path / "m.onnx", tmp_path / "out", BuildOptions(backends=["js"]), log=lambda m: None)
    desc = result.manifest["weights"]
    data = read_weights(tmp_path / "out")
    assert desc["byteLength"] == len(data) and w.tobytes() in data


@pytest.mark.parametrize("ref", [{"location": "missing.bin"}, {"location": "m.bin", "offset": "99999999"},
                                 {"location": "m.bin", "length": "12"}, {"location": "../m.bin"}])
def test_bad_external_reference_is_an_import_error(tmp_path, ref):
    (tmp_path / "m.bin").write_bytes(b"\0" * (256 * 64 * 4))
    sub = tmp_path / "model"
    sub.mkdir()
    (sub / "m.bin").write_bytes(b"\0" * (256 * 64 * 4))
    t = onnx.TensorProto(name="W", data_type=TensorProto.FLOAT, data_location=TensorProto.EXTERNAL)
    t.dims.extend([256, 64])
    for k, v in ref.items():
        t.external_data.add(key=k, value=v)
    m = _save(sub / "m.onnx", [helper.make_node("MatMul", ["x", "W"], ["y"])], [float_input("x", [1, 256])],
              [float_input("y", [1, 64])], inits=[t])
    _refused(m, tmp_path, "W")


def test_splat_check_is_blockwise_and_exact():
    """weights.py decides "fill" a block at a time (no full-size temporary: a 2.4 GB table built with
    ~40 MB of private memory, tools/large_model_check.py); the answer is the same as a full compare."""
    from webdnn_build.weights import _is_splat
    a = np.zeros(3 * (1 << 20) + 5, np.float32)
    assert _is_splat(a)
    a[-1] = 1.0
    assert not _is_splat(a)
    assert not _is_splat(np.array([np.nan, np.nan], np.float32))  # NaN != NaN, as np.all(a == a[0])
    assert _is_splat(np.array([0.0, -0.0], np.float32))

"""Quantization ops, MatMulNBits and tanh-Gelu run natively on the wasm backend (no js steps), and a Gather
index out of range at run time makes the run fail with an error that names the op.

Integer outputs (QuantizeLinear, DynamicQuantizeLinear, MatMulInteger) must equal onnxruntime's exactly, at
1 and 2 threads; float outputs within the verify tolerance (1e-5 + 1e-4 * max|ref|).
"""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn_build.node import NodeWorker

from ..helpers import run_cli

MS = "com.microsoft"


def vi(name: str, dtype, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), list(shape))


def init(name: str, a) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(a), name)


@pytest.fixture(scope="module")
def worker():
    with NodeWorker() as w:
        yield w


def build(tmp_path, nodes, feeds, outputs, inits=(), opset=21, ms=False):
    tmp_path.mkdir(parents=True, exist_ok=True)
    graph = helper.make_graph(nodes, "q", [vi(k, v.dtype, v.shape) for k, v in feeds.items()],
                              [vi(k, dt, shape) for k, (dt, shape) in outputs.items()], initializer=list(inits))
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(MS, 1)] if ms else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 10
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    out = tmp_path / "bundle"
    proc = run_cli("build", str(path), "-o", str(out), "--backends", "wasm")
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"wasm: (\d+)/(\d+) ops in wasm", proc.stderr)
    assert m and m.group(1) == m.group(2), proc.stderr
    plan = json.loads((out / "wasm" / "plan.json").read_text())
    assert not [s for s in plan["steps"] if "js" in s]
    return path, out


def run_wasm(worker, bundle, feeds, threads):
    loaded = worker.load(bundle, ["wasm"], threads)
    assert loaded["backend"] == "wasm", loaded["fallbackLog"]
    assert loaded["threads"] == threads, loaded["threadInfo"]
    try:
        return dict(worker.run(loaded["handle"], feeds, {k: str(v.dtype) for k, v in feeds.items()})[0])
    finally:
        worker.dispose(loaded["handle"])


def check(tmp_path, worker, nodes, feeds, outputs, inits=(), opset=21, ms=False):
    import onnxruntime as ort
    model, bundle = build(tmp_path, nodes, feeds, outputs, inits, opset, ms)
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    ref = dict(zip(outputs, sess.run(list(outputs), feeds)))
    for threads in (1, 2):
        ours = run_wasm(worker, bundle, feeds, threads)
        for name, want in ref.items():
            got = ours[name]
            assert got.dtype == want.dtype and got.shape == want.shape, name
            if want.dtype.kind == "f":
                tol = 1e-5 + 1e-4 * float(np.max(np.abs(want)))
                assert float(np.max(np.abs(got - want))) <= tol, f"{name} ({threads} threads)"
            else:
                np.testing.assert_array_equal(got, want, err_msg=f"{name} ({threads} threads)")


def test_quantize_dequantize(tmp_path, worker):
    rng = np.random.default_rng(3)
    ties = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 127.5, -128.5, 1e9, -1e9, np.inf, -np.inf, np.nan, 0, 3.49],
                    np.float32)
    feeds = {
        "x": np.concatenate([rng.uniform(-40, 40, 2 * 3 * 37 - 16), ties]).astype(np.float32).reshape(2, 3, 37),
        "q8": rng.integers(-128, 128, (4, 5, 6)).astype(np.int8),
        "u8": rng.integers(0, 256, (7, 33)).astype(np.uint8),
        "i32": rng.integers(-2**31, 2**31 - 1, (50,)).astype(np.int32),
        "xf": rng.uniform(-3, 5, (2, 3, 37)).astype(np.float32),
    }
    inits = [init("s1", np.float32(0.37)), init("zu", np.uint8(131)), init("zi", np.int8(-5)),
             init("s3", np.array([0.5, 0.25, 2.0], np.float32)), init("z3", np.array([1, -7, 0], np.int8)),
             init("s5", rng.uniform(0.01, 0.1, 5).astype(np.float32)), init("z5", rng.integers(-128, 128, 5).astype(np.int8)),
             init("s33", rng.uniform(0.01, 0.1, 33).astype(np.float32)), init("z33", rng.integers(0, 256, 33).astype(np.uint8)),
             init("si", np.float32(1e-3)), init("zi32", np.int32(12345))]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s1"], ["q_u8"]),                 # uint8, no zero point
        helper.make_node("QuantizeLinear", ["x", "s1", "zu"], ["q_zu"]),
        helper.make_node("QuantizeLinear", ["x", "s1", "zi"], ["q_zi"]),           # int8, NaN -> -128 as onnxruntime
        helper.make_node("QuantizeLinear", ["x", "s3", "z3"], ["q_axis"], axis=1),  # per channel
        helper.make_node("DequantizeLinear", ["q8", "s5", "z5"], ["dq_axis"], axis=-2),
        helper.make_node("DequantizeLinear", ["u8", "s33", "z33"], ["dq_last"], axis=1),
        helper.make_node("DequantizeLinear", ["u8", "s1", "zu"], ["dq_u8"]),
        helper.make_node("DequantizeLinear", ["i32", "si", "zi32"], ["dq_i32"]),
        helper.make_node("DynamicQuantizeLinear", ["xf"], ["dy", "dy_s", "dy_z"]),
    ]
    outputs = {"q_u8": (np.uint8, (2, 3, 37)), "q_zu": (np.uint8, (2, 3, 37)), "q_zi": (np.int8, (2, 3, 37)),
               "q_axis": (np.int8, (2, 3, 37)), "dq_axis": (np.float32, (4, 5, 6)), "dq_last": (np.float32, (7, 33)),
               "dq_u8": (np.float32, (7, 33)), "dq_i32": (np.float32, (50,)),
               "dy": (np.uint8, (2, 3, 37)), "dy_s": (np.float32, ()), "dy_z": (np.uint8, ())}
    check(tmp_path, worker, nodes, feeds, outputs, inits)


@pytest.mark.parametrize("case", ["positive", "negative", "finite"])
def test_dynamic_quantize_linear(tmp_path, worker, case):
    """The range always includes 0; a tensor of one sign, and one big enough to split over threads."""
    rng = np.random.default_rng(5)
    x = {"positive": rng.uniform(0.5, 3, (3, 1001)), "negative": -rng.uniform(0.5, 3, (3, 1001)),
         "finite": rng.standard_normal((3, 1001)) * 7}[case].astype(np.float32)
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])]
    check(tmp_path, worker, nodes, {"x": x}, {"y": (np.uint8, x.shape), "s": (np.float32, ()), "z": (np.uint8, ())},
          opset=13)


def test_matmul_integer(tmp_path, worker):
    rng = np.random.default_rng(7)
    feeds = {
        "a": rng.integers(0, 256, (2, 19, 77)).astype(np.uint8),    # batched A, K = 77 (not a multiple of 8)
        "a8": rng.integers(-128, 128, (5, 64)).astype(np.int8),
        "az": np.array(117, np.uint8),                               # zero point as a graph input
        "ab": rng.integers(0, 256, (3, 4, 9)).astype(np.uint8),       # batched A and B
        "bb": rng.integers(0, 256, (3, 9, 6)).astype(np.uint8),
    }
    inits = [init("b", rng.integers(-128, 128, (77, 37)).astype(np.int8)), init("bz", np.int8(3)),
             init("bu", rng.integers(0, 256, (77, 37)).astype(np.uint8)),
             init("bzc", rng.integers(0, 256, 37).astype(np.uint8)),
             init("b8", rng.integers(-128, 128, (64, 20)).astype(np.int8)),
             init("a8z", np.int8(-3)), init("b8z", rng.integers(-128, 128, 20).astype(np.int8))]
    nodes = [
        helper.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["y_u8_i8"]),
        helper.make_node("MatMulInteger", ["a", "bu", "", "bzc"], ["y_u8_u8"]),   # per-column zero point of B
        helper.make_node("MatMulInteger", ["a8", "b8", "a8z", "b8z"], ["y_i8_i8"]),
        helper.make_node("MatMulInteger", ["a", "b"], ["y_nozp"]),
        helper.make_node("MatMulInteger", ["ab", "bb"], ["y_batch"]),
    ]
    outputs = {"y_u8_i8": (np.int32, (2, 19, 37)), "y_u8_u8": (np.int32, (2, 19, 37)), "y_i8_i8": (np.int32, (5, 20)),
               "y_nozp": (np.int32, (2, 19, 37)), "y_batch": (np.int32, (3, 4, 6))}
    check(tmp_path, worker, nodes, feeds, outputs, inits)


@pytest.mark.parametrize("block, k, zp_kind, bias, a_shape", [
    (32, 64, "packed", True, (3,)),
    (16, 72, "packed", False, (2, 5)),   # K not a multiple of the block (last block partial), odd block count
    (64, 128, "none", True, (1,)),
    (32, 96, "float", False, (4,)),
])
def test_matmul_nbits(tmp_path, worker, block, k, zp_kind, bias, a_shape):
    rng = np.random.default_rng(block + k)
    n = 22
    blocks = -(-k // block)
    inputs = ["a", "b", "scales", "", "", ""]
    inits = [init("b", rng.integers(0, 256, (n, blocks, block // 2)).astype(np.uint8)),
             init("scales", rng.uniform(0.01, 0.1, n * blocks).astype(np.float32))]
    if zp_kind == "packed":
        inits.append(init("zp", rng.integers(0, 256, (n, -(-blocks // 2))).astype(np.uint8)))
        inputs[3] = "zp"
    elif zp_kind == "float":
        inits.append(init("zp", rng.uniform(6, 10, n * blocks).astype(np.float32)))
        inputs[3] = "zp"
    if bias:
        inits.append(init("bias", rng.standard_normal(n).astype(np.float32)))
        inputs[5] = "bias"
    while inputs[-1] == "":
        inputs.pop()
    node = helper.make_node("MatMulNBits", inputs, ["y"], domain=MS, K=k, N=n, bits=4, block_size=block)
    feeds = {"a": rng.standard_normal((*a_shape, k)).astype(np.float32)}
    check(tmp_path, worker, [node], feeds, {"y": (np.float32, (*a_shape, n))}, inits, opset=17, ms=True)


@pytest.mark.parametrize("threads", [1, 2])
def test_gelu_tanh(tmp_path, threads):
    x = (np.linspace(-12, 12, 2 * 3 * 41) ** 1).astype(np.float32).reshape(2, 3, 41)
    graph = helper.make_graph([helper.make_node("Gelu", ["x"], ["y"], approximate="tanh")], "g",
                              [vi("x", np.float32, x.shape)], [vi("y", np.float32, x.shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    onnx.save(model, str(tmp_path / "gelu.onnx"))
    np.save(tmp_path / "x.npy", x)
    proc = run_cli("verify", str(tmp_path / "gelu.onnx"), "--backend", "wasm", "--threads", str(threads),
                   "--input", f"x={tmp_path / 'x.npy'}", "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert json.loads(proc.stdout)["ok"] is True
    m = re.search(r"wasm: (\d+)/(\d+) ops in wasm", proc.stderr)
    assert m and m.group(1) == m.group(2), proc.stderr


@pytest.mark.parametrize("op", ["Gather", "GatherND"])
def test_index_out_of_range_is_an_error(tmp_path, worker, op):
    table = np.arange(40, dtype=np.float32).reshape(10, 4)
    if op == "Gather":
        node = helper.make_node("Gather", ["table", "ids"], ["y"], axis=0, name="emb/lookup")
        ids, out = np.array([1, 2], np.int64), (2, 4)
    else:
        node = helper.make_node("GatherND", ["table", "ids"], ["y"], name="emb/lookup")
        ids, out = np.array([[1], [2]], np.int64), (2, 4)
    relu = helper.make_node("Relu", ["y"], ["z"])
    _, bundle = build(tmp_path, [node, relu], {"ids": ids}, {"z": (np.float32, out)}, [init("table", table)], opset=17)
    for threads in (1, 2):
        good = run_wasm(worker, bundle, {"ids": ids}, threads)
        np.testing.assert_array_equal(good["z"], table[[1, 2]])
        bad = ids.copy()
        bad.flat[1] = 10
        with pytest.raises(Exception, match=rf"node 'emb/lookup' \({op}\): index out of range"):
            run_wasm(worker, bundle, {"ids": bad}, threads)
        bad.flat[1] = -11
        with pytest.raises(Exception, match="index out of range"):
            run_wasm(worker, bundle, {"ids": bad}, threads)
        # the error is reset before each run: a good run after a failed one succeeds
        np.testing.assert_array_equal(run_wasm(worker, bundle, {"ids": ids}, threads)["z"], table[[1, 2]])

"""Index, mask, cast and integer ops run natively on the wasm backend (no js steps).

Each case is one small model with several ops (kept few, so the file runs in seconds): it is built once
for wasm and js, then run in one Node worker on wasm at 1 and 2 threads and on js. Every output must
equal onnxruntime's (these ops move or compare values: exact) and, bit for bit, the js kernels'. The
``js_only`` outputs cover values whose result ONNX leaves to the implementation (NaN / out-of-range
float -> int casts, integer division by zero, overflow): there the wasm kernels must match the js kernels.
"""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn_build.node import NodeWorker

from ..helpers import run_cli, save_model

I64_BIG = np.array([2**31 + 5, -(2**31) - 7, 2**40 + 3, -(2**45), 2**53 - 1, 7, -3, 0], np.int64)


def vi(name: str, dtype, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), list(shape))


@pytest.fixture(scope="module")
def worker():
    with NodeWorker() as w:
        yield w


def run_case(tmp_path, worker, nodes, feeds, outputs, inits=(), js_only=(), onnxruntime=True):
    """Build ``nodes`` (graph inputs ``feeds``, outputs name -> (dtype, shape)) and compare wasm at 1 and
    2 threads with onnxruntime (unless ``onnxruntime`` is False: a model it refuses to run) and the js backend."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    model = save_model(nodes, [vi(k, v.dtype, v.shape) for k, v in feeds.items()],
                       [vi(k, dt, shape) for k, (dt, shape) in outputs.items()], tmp_path / "m.onnx",
                       initializers=inits)
    out = tmp_path / "bundle"
    proc = run_cli("build", str(model), "-o", str(out), "--backends", "wasm,js")
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"wasm: (\d+)/(\d+) ops in wasm", proc.stderr)
    assert m and m.group(1) == m.group(2), proc.stderr
    plan = json.loads((out / "wasm" / "plan.json").read_text())
    assert not [s for s in plan["steps"] if "js" in s]

    ref = {}
    if onnxruntime:
        import onnxruntime as ort
        sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        ref = dict(zip(outputs, sess.run(list(outputs), feeds)))
    dtypes = {k: str(v.dtype) for k, v in feeds.items()}

    def run(backend, threads=None):
        loaded = worker.load(out, [backend], threads)
        assert loaded["backend"] == backend, loaded["fallbackLog"]
        if threads:
            assert loaded["threads"] == threads, loaded["threadInfo"]
        try:
            return dict(worker.run(loaded["handle"], feeds, dtypes)[0])
        finally:
            worker.dispose(loaded["handle"])

    js = run("js")
    for threads in (1, 2):
        ours = run("wasm", threads)
        for name in outputs:
            assert ours[name].dtype == np.dtype(outputs[name][0]), name
            np.testing.assert_array_equal(ours[name], js[name], err_msg=f"{name}: wasm ({threads} threads) vs js")
            if onnxruntime and name not in js_only:
                np.testing.assert_array_equal(ours[name], ref[name], err_msg=f"{name}: wasm vs onnxruntime")


def test_gather_and_gather_nd(tmp_path, worker):
    rng = np.random.default_rng(1)
    table = rng.standard_normal((300, 37)).astype(np.float32)
    feeds = {
        "ids": np.array([[0, 5, -1, 299, 7, 8, -300, 3, 2]] * 4, np.int64),
        "big": np.resize(I64_BIG, (6, 50)).astype(np.int64),
        "i32": np.array([-1, 0, 49], np.int32),
        "mask": rng.integers(0, 2, (5, 40)).astype(bool),
        "x3": rng.standard_normal((2, 130, 3)).astype(np.float32),
        "k": np.array(-2, np.int64),
        "m16": rng.integers(0, 2, (1, 16)).astype(bool),
        "f345": rng.standard_normal((3, 4, 5)).astype(np.float32),
        "nd": np.array([[2, -1], [-3, 0]], np.int64),
        "i234": np.resize(I64_BIG, (2, 3, 4)).astype(np.int64),
        "bnd": np.array([[[2]], [[-3]]], np.int64),
    }
    nd16 = np.zeros((1, 1, 1, 16, 2), np.int64)
    nd16[..., 1] = np.arange(16)  # the bert.dynamo mask pattern
    inits = [numpy_helper.from_array(table, "table"), numpy_helper.from_array(np.array([[-1, 2], [0, 4]], np.int64), "ci"),
             numpy_helper.from_array(nd16, "nd16")]
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["emb"], axis=0),      # embedding rows, negative ids
        helper.make_node("Gather", ["big", "i32"], ["g_last"], axis=-1),    # int64 data, int32 indices, 8-byte rows
        helper.make_node("Gather", ["mask", "ci"], ["g_bool"], axis=0),     # bool rows, constant indices
        helper.make_node("Gather", ["x3", "k"], ["g_scalar"], axis=1),      # scalar index, middle axis
        helper.make_node("GatherND", ["m16", "nd16"], ["gnd_mask"]),
        helper.make_node("GatherND", ["f345", "nd"], ["gnd_f"]),
        helper.make_node("GatherND", ["i234", "bnd"], ["gnd_b"], batch_dims=1),
    ]
    outputs = {"emb": (np.float32, (4, 9, 37)), "g_last": (np.int64, (6, 3)), "g_bool": (np.bool_, (2, 2, 40)),
               "g_scalar": (np.float32, (2, 3)), "gnd_mask": (np.bool_, (1, 1, 1, 16)), "gnd_f": (np.float32, (2, 5)),
               "gnd_b": (np.int64, (2, 1, 4))}
    run_case(tmp_path, worker, nodes, feeds, outputs, inits)


def test_cast(tmp_path, worker):
    f = np.array([-100.75, -2.5, -0.0, 0.0, 0.5, 1.0, 99.99, 127.9, -128.9, 3.0] * 20, np.float32)
    edge = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 1e20, -1e20, 2.0**63, -(2.0**63), 2.0**64, 1.5 * 2.0**63,
                     300.7, -300.7, 255.5, -1.5, 2.0**31, -(2.0**31) - 256, 16777217.0] * 8, np.float32)
    feeds = {
        "f": f,
        "fpos": np.abs(f),
        "edge": edge,
        "i64": np.resize(I64_BIG, 200).astype(np.int64),
        "i64big": np.array([2**63 - 1, -(2**63), 2**62 + 2**39 + 1, 2**54 + 2**30 + 1, -(2**60) - 2**36 - 1] * 4, np.int64),
        "i32": np.array([2**31 - 1, -(2**31), 300, -300, 255, -1, 0, 16777217] * 25, np.int32),
        "b": np.array([True, False, True] * 67, bool),
        "u8": np.arange(200, dtype=np.uint8),
        "i8": np.arange(-100, 100, dtype=np.int8),
    }
    casts = [  # (input, to)
        ("f", TensorProto.INT32), ("f", TensorProto.INT64), ("f", TensorProto.INT8), ("f", TensorProto.BOOL),
        ("f", TensorProto.FLOAT), ("fpos", TensorProto.UINT8),
        ("i64", TensorProto.INT32), ("i64", TensorProto.FLOAT), ("i64", TensorProto.BOOL), ("i64", TensorProto.UINT8),
        ("i64", TensorProto.INT8),
        ("i32", TensorProto.INT64), ("i32", TensorProto.FLOAT), ("i32", TensorProto.BOOL), ("i32", TensorProto.INT8),
        ("i32", TensorProto.UINT8),
        ("b", TensorProto.FLOAT), ("b", TensorProto.INT32), ("b", TensorProto.INT64), ("b", TensorProto.UINT8),
        ("u8", TensorProto.INT64), ("u8", TensorProto.FLOAT), ("u8", TensorProto.BOOL), ("u8", TensorProto.INT8),
        ("i8", TensorProto.INT32), ("i8", TensorProto.UINT8), ("i8", TensorProto.FLOAT), ("i8", TensorProto.INT64),
        # implementation-defined in ONNX: compared with the js kernel only
        ("edge", TensorProto.INT32), ("edge", TensorProto.INT64), ("edge", TensorProto.UINT8),
        ("edge", TensorProto.INT8), ("edge", TensorProto.BOOL), ("i64big", TensorProto.FLOAT),
    ]
    nodes, outputs, js_only = [], {}, []
    for k, (src, to) in enumerate(casts):
        name = f"c{k}"
        nodes.append(helper.make_node("Cast", [src], [name], to=to))
        outputs[name] = (helper.tensor_dtype_to_np_dtype(to), feeds[src].shape)
        if src in ("edge", "i64big"):
            js_only.append(name)
    nodes.append(helper.make_node("CastLike", ["f", "i64"], ["like"]))
    outputs["like"] = (np.int64, f.shape)
    run_case(tmp_path, worker, nodes, feeds, outputs, js_only=js_only)


def test_logical_compare_where(tmp_path, worker):
    rng = np.random.default_rng(2)
    fa = rng.integers(-3, 3, (3, 5, 40)).astype(np.float32)
    fa[0, 0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    feeds = {
        "ba": rng.integers(0, 2, (3, 1, 40)).astype(bool),
        "bb": rng.integers(0, 2, (5, 1)).astype(bool),
        "fa": fa,
        "fb": np.array([[0.0], [1.0], [-1.0], [np.nan], [2.0]], np.float32),
        "ia": rng.integers(-3, 3, (4, 70)).astype(np.int32),
        "ib": rng.integers(-3, 3, (70,)).astype(np.int32),
        "la": np.resize(I64_BIG, (4, 70)).astype(np.int64),
        "lb": np.resize(np.roll(I64_BIG, 1), (4, 70)).astype(np.int64),
        "cond": rng.integers(0, 2, (3, 5, 40)).astype(bool),
        "c1": rng.integers(0, 2, (5, 1)).astype(bool),
        "c4": rng.integers(0, 2, (4, 1)).astype(bool),
        "c3": rng.integers(0, 2, (3, 1)).astype(bool),
        "ys": np.array(-7.5, np.float32),
        "u8a": rng.integers(0, 4, (3, 70)).astype(np.uint8),
        "u8b": rng.integers(0, 4, (3, 70)).astype(np.uint8),
    }
    nodes = [
        helper.make_node("And", ["ba", "bb"], ["and"]),
        helper.make_node("Or", ["ba", "bb"], ["or"]),
        helper.make_node("Xor", ["ba", "bb"], ["xor"]),
        helper.make_node("Not", ["cond"], ["not"]),
        helper.make_node("Equal", ["fa", "fb"], ["eq_f"]),
        helper.make_node("Less", ["fa", "fb"], ["lt_f"]),
        helper.make_node("GreaterOrEqual", ["fa", "fb"], ["ge_f"]),
        helper.make_node("Greater", ["ia", "ib"], ["gt_i"]),
        helper.make_node("LessOrEqual", ["ia", "ib"], ["le_i"]),
        helper.make_node("Equal", ["la", "lb"], ["eq_l"]),
        helper.make_node("Less", ["la", "lb"], ["lt_l"]),
        helper.make_node("Equal", ["u8a", "u8b"], ["eq_u8"]),
        helper.make_node("IsNaN", ["fa"], ["isnan"]),
        helper.make_node("IsInf", ["fa"], ["isinf"]),
        helper.make_node("IsInf", ["fa"], ["isposinf"], detect_negative=0),
        helper.make_node("IsInf", ["fa"], ["isneginf"], detect_positive=0),
        helper.make_node("Where", ["cond", "fa", "ys"], ["w_full"]),     # contiguous cond, scalar y
        helper.make_node("Where", ["c1", "ys", "fa"], ["w_bcast"]),      # broadcast cond
        helper.make_node("Where", ["cond", "fb", "fa"], ["w_bx"]),       # broadcast x
        helper.make_node("Where", ["c4", "la", "lb"], ["w_i64"]),       # int64 values, broadcast cond
        helper.make_node("Where", ["c3", "u8a", "u8b"], ["w_u8"]),       # 1-byte values (onnxruntime has no bool Where)
    ]
    outputs = {n: (np.bool_, (3, 5, 40)) for n in ("and", "or", "xor", "not", "eq_f", "lt_f", "ge_f", "isnan", "isinf",
                                                     "isposinf", "isneginf")}
    outputs.update({"gt_i": (np.bool_, (4, 70)), "le_i": (np.bool_, (4, 70)), "eq_l": (np.bool_, (4, 70)),
                    "lt_l": (np.bool_, (4, 70)), "eq_u8": (np.bool_, (3, 70)),
                    "w_full": (np.float32, (3, 5, 40)), "w_bcast": (np.float32, (3, 5, 40)),
                    "w_bx": (np.float32, (3, 5, 40)), "w_i64": (np.int64, (4, 70)), "w_u8": (np.uint8, (3, 70))})
    run_case(tmp_path, worker, nodes, feeds, outputs)


def test_integer_arithmetic(tmp_path, worker):
    rng = np.random.default_rng(3)
    feeds = {
        "a32": rng.integers(-1000, 1000, (4, 70)).astype(np.int32),
        "b32": np.array([7, -3, 1, -1, 250, 2, -9] * 10, np.int32),
        "a64": np.resize(I64_BIG, (4, 70)).astype(np.int64) * 3,
        "b64": np.array([[5], [-2], [2**33 + 1], [-1]], np.int64),
    }
    # wrap-around, x / 0 (onnxruntime refuses it) and INT_MIN / -1: as the js kernels do it
    edges = {
        "e32": np.array([2**31 - 1, -(2**31), -(2**31), 5, -5, 0, 2**30, 65536] * 4, np.int32),
        "d32": np.array([1, -1, 0, 0, 2, 3, 4, 65536] * 4, np.int32),
        "e64": np.array([2**63 - 1, -(2**63), -(2**63), 5, -5, 0, 2**62, 2**32] * 4, np.int64),
        "d64": np.array([1, -1, 0, 0, 2, 3, 4, 2**32] * 4, np.int64),
    }
    for sub, inputs, pairs in (("ort", feeds, (("a32", "b32", np.int32, (4, 70)), ("a64", "b64", np.int64, (4, 70)))),
                               ("edge", edges, (("e32", "d32", np.int32, (32,)), ("e64", "d64", np.int64, (32,))))):
        nodes, outputs = [], {}
        for op in ("Add", "Sub", "Mul", "Div", "Max", "Min"):
            for a, b, dt, shape in pairs:
                nodes.append(helper.make_node(op, [a, b], [f"{op}_{a}"]))
                outputs[f"{op}_{a}"] = (dt, shape)
        for op in ("Neg", "Abs"):
            for a, _, dt, shape in pairs:
                nodes.append(helper.make_node(op, [a], [f"{op}_{a}"]))
                outputs[f"{op}_{a}"] = (dt, shape)
        run_case(tmp_path / sub, worker, nodes, inputs, outputs, onnxruntime=sub == "ort")


def test_reshape_family_and_expand(tmp_path, worker):
    rng = np.random.default_rng(4)
    feeds = {
        "b": rng.integers(0, 2, (2, 3, 40)).astype(bool),
        "l": np.resize(I64_BIG, (2, 3, 40)).astype(np.int64),
        "i8": rng.integers(-128, 128, (2, 3, 40)).astype(np.int8),
        "m": rng.integers(0, 2, (1, 1, 16, 1)).astype(bool),
        "v": np.resize(I64_BIG, (3, 1)).astype(np.int64),
    }
    inits = [numpy_helper.from_array(np.array([6, 40], np.int64), "shape2"),
             numpy_helper.from_array(np.array([0], np.int64), "ax0"),
             numpy_helper.from_array(np.array([2, 1, 16, 16], np.int64), "eshape"),
             numpy_helper.from_array(np.array([2, 3, 40], np.int64), "eshape3")]
    nodes = [
        helper.make_node("Reshape", ["b", "shape2"], ["r_b"]),
        helper.make_node("Flatten", ["l"], ["f_l"], axis=2),
        helper.make_node("Unsqueeze", ["i8", "ax0"], ["u_i8"]),
        helper.make_node("Squeeze", ["m"], ["s_m"]),
        helper.make_node("Identity", ["l"], ["id_l"]),
        helper.make_node("Expand", ["m", "eshape"], ["e_m"]),
        helper.make_node("Expand", ["v", "eshape3"], ["e_v"]),
    ]
    outputs = {"r_b": (np.bool_, (6, 40)), "f_l": (np.int64, (6, 40)), "u_i8": (np.int8, (1, 2, 3, 40)),
               "s_m": (np.bool_, (16,)), "id_l": (np.int64, (2, 3, 40)), "e_m": (np.bool_, (2, 1, 16, 16)),
               "e_v": (np.int64, (2, 3, 40))}
    run_case(tmp_path, worker, nodes, feeds, outputs, inits)


@pytest.mark.parametrize("threads", [1, 2])
def test_attention_mask_pattern_verifies_on_wasm(tmp_path, threads):
    """The mask path of the bert.dynamo export (Cast, GatherND, And, Where, IsNaN) under `webdnn-build verify`."""
    nd = np.zeros((1, 1, 1, 16, 2), np.int64)
    nd[..., 1] = np.arange(16)
    causal = np.ones((1, 1, 16, 1), bool)
    inits = [numpy_helper.from_array(nd, "nd"), numpy_helper.from_array(causal, "causal"),
             numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
             numpy_helper.from_array(np.array(-3.4e38, np.float32), "neg")]
    nodes = [
        helper.make_node("Cast", ["mask"], ["mb"], to=TensorProto.BOOL),
        helper.make_node("GatherND", ["mb", "nd"], ["g"]),
        helper.make_node("And", ["causal", "g"], ["both"]),
        helper.make_node("Where", ["both", "zero", "neg"], ["bias"]),
        helper.make_node("Add", ["scores", "bias"], ["s"]),
        helper.make_node("IsNaN", ["s"], ["nan"]),
        helper.make_node("Where", ["nan", "zero", "s"], ["y"]),
    ]
    model = save_model(nodes, [vi("mask", np.int64, (1, 16)), vi("scores", np.float32, (1, 12, 16, 16))],
                       [vi("y", np.float32, (1, 12, 16, 16))], tmp_path / "mask.onnx", initializers=inits)
    proc = run_cli("verify", str(model), "--backend", "wasm", "--threads", str(threads), "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    for out in report["outputs"]:
        assert out["max_abs"] <= 1e-5 + 1e-4 * out["scale"]
    m = re.search(r"wasm: (\d+)/(\d+) ops in wasm", proc.stderr)
    assert m, proc.stderr
    assert m.group(1) == m.group(2), proc.stderr

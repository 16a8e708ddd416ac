"""Index, mask, cast and integer ops on the GPU: int64 (as i32) and bool (as u32) values.

Each model goes through `webdnn-build verify --backend webgpu` (the JS runtime on Dawn, compared
with onnxruntime) and must run every op on the GPU; a few also run on the wgpu-py plan executor
with odd workgroup sizes and folded dispatches. Skipped without a WebGPU adapter in Node
(`eval "$(tools/setup-webgpu.sh)"`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conformance.test_webgpu import _adapter
from tests.helpers import requires, run_cli
from webdnn_build_webgpu.wgsl import base as wgsl_base

from . import wgpu_runner
from .common import build, check_plan, run_and_compare

pytestmark = requires(None if _adapter() else "no WebGPU adapter in Node (eval \"$(tools/setup-webgpu.sh)\")")

RNG = np.random.default_rng(0)
T = {"float32": TensorProto.FLOAT, "int32": TensorProto.INT32, "int64": TensorProto.INT64, "bool": TensorProto.BOOL}
ODD = [{}, {"wg_overrides": {"WG_X": 7, "WG_Y": 3}, "max_workgroups_per_dim": 2}]


def typed_model(nodes, inputs: dict[str, tuple[str, tuple]], outputs: dict[str, tuple[str, Optional[tuple]]],
                inits: Optional[dict[str, np.ndarray]] = None, opset: int = 17) -> onnx.ModelProto:
    ins = [helper.make_tensor_value_info(n, T[d], s) for n, (d, s) in inputs.items()]
    outs = [helper.make_tensor_value_info(n, T[d], s) for n, (d, s) in outputs.items()]
    init = [numpy_helper.from_array(np.asarray(a), n) for n, a in (inits or {}).items()]
    m = helper.make_model(helper.make_graph(nodes, "t", ins, outs, initializer=init),
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    # outputs given without a shape take the inferred one
    g = onnx.shape_inference.infer_shapes(m, strict_mode=True).graph
    inferred = {v.name: v for v in list(g.value_info) + list(g.output)}
    for o in m.graph.output:
        if not o.type.tensor_type.HasField("shape"):
            o.CopyFrom(inferred[o.name])
    return m


def verify(tmp_path: Path, m: onnx.ModelProto, feeds: Optional[dict[str, np.ndarray]] = None,
           all_on_gpu: bool = True) -> dict:
    src = tmp_path / "m.onnx"
    onnx.save(m, str(src))
    args = []
    for name, arr in (feeds or {}).items():
        np.save(tmp_path / f"{name}.npy", arr)
        args += ["--input", f"{name}={tmp_path / f'{name}.npy'}"]
    proc = run_cli("verify", str(src), "--backend", "webgpu", "--json", *args)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    assert report["ok"] is True, report
    for out in report["outputs"]:
        assert out["max_abs"] <= 1e-5 + 1e-4 * out["scale"], out
    counts = re.search(r"webgpu: (\d+)/(\d+) ops on the GPU", proc.stderr)
    assert counts, proc.stderr
    if all_on_gpu:
        assert counts.group(1) == counts.group(2), proc.stderr
    return report


def on_wgpu_py(tmp_path: Path, m: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> None:
    """The same model on the wgpu-py plan executor with odd workgroup sizes (when wgpu-py has an adapter)."""
    if wgpu_runner.device() is None:
        return
    (tmp_path / "wgpu").mkdir()
    run_and_compare(tmp_path / "wgpu", m, feeds, runner_kwargs=ODD)


def ints(*shape, lo=-9, hi=10, dtype=np.int64):
    return RNG.integers(lo, hi, shape).astype(dtype)


def test_gather_any_dtype_negative_indices(tmp_path):
    table = RNG.standard_normal((30, 8)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["emb"]),                        # float data, computed int64 ids
        helper.make_node("Gather", ["xi", "cidx"], ["gi"], axis=1),                   # int64 data, constant negative ids
        helper.make_node("Gather", ["mask", "ids32"], ["gb"], axis=-1),               # bool data, int32 ids
        helper.make_node("Gather", ["xi", "scalar"], ["gs"], axis=0),                 # constant scalar index
    ]
    m = typed_model(nodes, {"ids": ("int64", (2, 5)), "xi": ("int64", (3, 4, 2)), "mask": ("bool", (2, 6)),
                            "ids32": ("int32", (3,))},
                    {"emb": ("float32", None), "gi": ("int64", None), "gb": ("bool", None), "gs": ("int64", None)},
                    {"table": table, "cidx": np.array([[-1, 0], [2, -4]], np.int64), "scalar": np.array(-2, np.int64)})
    feeds = {"ids": np.array([[0, 29, -1, -30, 7], [3, 3, -2, 15, 1]], np.int64), "xi": ints(3, 4, 2),
             "mask": RNG.integers(0, 2, (2, 6)).astype(bool), "ids32": np.array([-6, 5, 0], np.int32)}
    verify(tmp_path, m, feeds)
    on_wgpu_py(tmp_path, m, feeds)


def test_gather_nd(tmp_path):
    nodes = [
        helper.make_node("GatherND", ["mask", "cidx"], ["g0"]),                       # bert: bool data, constant indices
        helper.make_node("GatherND", ["x", "idx"], ["g1"]),                           # float data, computed indices
        helper.make_node("GatherND", ["x", "bidx"], ["g2"], batch_dims=1),
    ]
    cidx = np.stack(np.meshgrid([0], np.arange(-16, 0), indexing="ij"), -1).reshape(1, 1, 1, 16, 2).astype(np.int64)
    m = typed_model(nodes, {"mask": ("bool", (1, 16)), "x": ("float32", (3, 4, 5)), "idx": ("int64", (2, 2)),
                            "bidx": ("int64", (3, 2, 1))},
                    {"g0": ("bool", None), "g1": ("float32", None), "g2": ("float32", None)}, {"cidx": cidx})
    feeds = {"mask": RNG.integers(0, 2, (1, 16)).astype(bool), "x": RNG.standard_normal((3, 4, 5)).astype(np.float32),
             "idx": np.array([[2, -1], [-3, 0]], np.int64), "bidx": np.array([[[3]], [[-4]], [[1]]], np.int64).repeat(2, 1)}
    verify(tmp_path, m, feeds)


def test_cast(tmp_path):
    pairs = [("float32", "int32"), ("float32", "int64"), ("float32", "bool"), ("int64", "float32"), ("int64", "bool"),
             ("bool", "float32"), ("bool", "int64"), ("int32", "int64"), ("int64", "int32"), ("int32", "float32")]
    nodes, outs = [], {}
    for k, (a, b) in enumerate(pairs):
        nodes.append(helper.make_node("Cast", [f"in_{a}"], [f"y{k}"], to=T[b]))
        outs[f"y{k}"] = (b, (13,))
    f = np.array([0.0, -0.0, 2.7, -2.7, 0.5, -0.5, 1e-30, 123456.9, -2147483520.0, 1e9, -7.0, 3.0, 0.99], np.float32)
    feeds = {"in_float32": f, "in_int64": ints(13, lo=-2000000000, hi=2000000000), "in_int32": ints(13, dtype=np.int32),
             "in_bool": RNG.integers(0, 2, 13).astype(bool)}
    feeds["in_int64"][:3] = [0, -1, 16777217]
    m = typed_model(nodes, {k: (k[3:], (13,)) for k in feeds}, outs)
    verify(tmp_path, m, feeds)


def test_cast_nan_inf_to_bool_and_isnan_isinf(tmp_path):
    x = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -3e38, 1e-45], np.float32)
    nodes = [helper.make_node("Cast", ["x"], ["b"], to=TensorProto.BOOL),
             helper.make_node("IsNaN", ["x"], ["n"]),
             helper.make_node("IsInf", ["x"], ["i"]),
             helper.make_node("IsInf", ["x"], ["ip"], detect_negative=0),
             helper.make_node("IsInf", ["x"], ["ineg"], detect_positive=0)]
    m = typed_model(nodes, {"x": ("float32", (9,))}, {k: ("bool", (9,)) for k in ("b", "n", "i", "ip", "ineg")})
    verify(tmp_path, m, {"x": x})


def test_where_and_logical(tmp_path):
    nodes = [
        helper.make_node("And", ["a", "b"], ["and"]), helper.make_node("Or", ["a", "b"], ["or"]),
        helper.make_node("Xor", ["a", "b"], ["xor"]), helper.make_node("Not", ["a"], ["not"]),
        helper.make_node("Where", ["and", "x", "y"], ["wf"]),                          # bool cond from And: fused
        helper.make_node("Where", ["c", "xi", "minus1"], ["wi"]),                      # int64, scalar constant
        helper.make_node("Where", ["c", "i32", "k7"], ["w32"]),                        # int32 (onnxruntime has no bool Where)
        helper.make_node("IsNaN", ["x"], ["nan"]),                                     # bert/vit: IsNaN -> Where
        helper.make_node("Where", ["nan", "zero", "x"], ["wn"]),
    ]
    m = typed_model(nodes, {"a": ("bool", (2, 1, 5)), "b": ("bool", (3, 1)), "c": ("bool", (3, 5)),
                            "x": ("float32", (2, 3, 5)), "y": ("float32", (5,)), "xi": ("int64", (1, 5)),
                            "i32": ("int32", (3, 1))},
                    {"and": ("bool", None), "or": ("bool", None), "xor": ("bool", None), "not": ("bool", None),
                     "wf": ("float32", None), "wi": ("int64", None), "w32": ("int32", None), "wn": ("float32", None)},
                    {"minus1": np.array(-1, np.int64), "zero": np.array(0.0, np.float32),
                     "k7": np.array([[7, -7, 5, 0, 1]], np.int32)})
    x = RNG.standard_normal((2, 3, 5)).astype(np.float32)
    x[0, 1, 2] = np.nan
    feeds = {"a": RNG.integers(0, 2, (2, 1, 5)).astype(bool), "b": RNG.integers(0, 2, (3, 1)).astype(bool),
             "c": RNG.integers(0, 2, (3, 5)).astype(bool), "x": x, "y": RNG.standard_normal(5).astype(np.float32),
             "xi": ints(1, 5), "i32": ints(3, 1, dtype=np.int32)}
    verify(tmp_path, m, feeds)
    on_wgpu_py(tmp_path, m, feeds)


@pytest.mark.parametrize("dtype", ["float32", "int32", "int64"])
def test_comparisons(tmp_path, dtype):
    ops = ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]
    nodes = [helper.make_node(op, ["a", "b"], [op.lower()]) for op in ops]
    nodes.append(helper.make_node("Equal", ["a", "k"], ["eqk"]))                       # constant scalar operand
    if dtype == "float32":
        a, b = RNG.integers(-3, 3, (2, 3, 4)).astype(np.float32), RNG.integers(-3, 3, (3, 1)).astype(np.float32)
        a[0, 0, 0] = np.nan
        k = np.array(1.0, np.float32)
    else:
        a, b, k = ints(2, 3, 4, lo=-3, hi=3, dtype=dtype), ints(3, 1, lo=-3, hi=3, dtype=dtype), np.array(1, dtype)
    extra = [helper.make_node("Equal", ["p", "q"], ["eqb"])] if dtype == "int64" else []   # Equal on bool too
    ins = {"a": (dtype, a.shape), "b": (dtype, b.shape)}
    outs = {o.output[0]: ("bool", None) for o in nodes + extra}
    feeds = {"a": a, "b": b}
    if extra:
        ins.update({"p": ("bool", (4,)), "q": ("bool", (4,))})
        feeds.update({"p": np.array([0, 0, 1, 1], bool), "q": np.array([0, 1, 0, 1], bool)})
    verify(tmp_path, typed_model(nodes + extra, ins, outs, {"k": k}), feeds)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_arithmetic(tmp_path, dtype):
    nodes = [helper.make_node(op, ["a", "b"], [op.lower()]) for op in ("Add", "Sub", "Mul", "Div")]
    nodes += [helper.make_node("Div", ["a", "three"], ["div3"]),                      # constant divisor, negatives
              helper.make_node("Mul", ["a", "b"], ["m"]), helper.make_node("Add", ["m", "a"], ["fused"])]
    a = ints(2, 3, 4, lo=-1000, hi=1000, dtype=dtype)
    b = ints(3, 1, lo=1, hi=9, dtype=dtype) * np.where(RNG.integers(0, 2, (3, 1)), 1, -1).astype(dtype)
    m = typed_model(nodes, {"a": (dtype, a.shape), "b": (dtype, b.shape)},
                    {o.output[0]: (dtype, None) for o in nodes if o.output[0] != "m"},
                    {"three": np.array(3, dtype)})
    verify(tmp_path, m, {"a": a, "b": b})


def test_shape_ops_on_int_and_bool(tmp_path):
    nodes = [
        helper.make_node("Flatten", ["mb"], ["fb"], axis=2),
        helper.make_node("Reshape", ["fb", "shape"], ["rb"]),
        helper.make_node("Expand", ["rb", "eshape"], ["eb"]),
        helper.make_node("Unsqueeze", ["xi", "axes"], ["ui"]),
        helper.make_node("Squeeze", ["ui", "axes"], ["si"]),
        helper.make_node("Identity", ["xi"], ["ii"]),
        helper.make_node("Expand", ["xi", "eshape2"], ["ei"]),
        helper.make_node("Transpose", ["xi"], ["ti"], perm=[1, 0]),
        helper.make_node("Concat", ["mb", "mb"], ["cb"], axis=0),
        helper.make_node("Slice", ["xi", "one", "int64_max", "zero"], ["sl"]),      # ends = INT64_MAX: folded, never bound
    ]
    m = typed_model(nodes, {"mb": ("bool", (1, 16)), "xi": ("int64", (3, 1))},
                    {o.output[0]: ("bool" if o.output[0].endswith("b") else "int64", None) for o in nodes
                     if o.output[0] not in ("ui",)},
                    {"shape": np.array([1, 1, 1, 16], np.int64), "eshape": np.array([2, 1, 3, 1], np.int64),
                     "axes": np.array([1], np.int64), "eshape2": np.array([2, 3, 4], np.int64),
                     "one": np.array([1], np.int64), "int64_max": np.array([2**63 - 1], np.int64),
                     "zero": np.array([0], np.int64)})
    verify(tmp_path, m, {"mb": RNG.integers(0, 2, (1, 16)).astype(bool), "xi": ints(3, 1)})


def test_int64_constant_beyond_int32_stays_on_cpu(tmp_path):
    nodes = [helper.make_node("Add", ["a", "big"], ["y"])]
    m = typed_model(nodes, {"a": ("int64", (3,))}, {"y": ("int64", None)}, {"big": np.array([1, 2, 1 << 40], np.int64)})
    _, plan = build(tmp_path, m)
    check_plan(plan)
    assert [list(s) for s in plan["steps"]] == [["cpu"]]
    verify(tmp_path, m, {"a": np.array([1, -2, 3], np.int64)}, all_on_gpu=False)


def test_int64_input_beyond_int32_is_refused(tmp_path):
    m = typed_model([helper.make_node("Gather", ["table", "ids"], ["y"])], {"ids": ("int64", (3,))},
                    {"y": ("float32", None)}, {"table": RNG.standard_normal((4, 2)).astype(np.float32)})
    onnx.save(m, str(tmp_path / "m.onnx"))
    np.save(tmp_path / "ids.npy", np.array([0, 1 << 33, 1], np.int64))
    proc = run_cli("verify", str(tmp_path / "m.onnx"), "--backend", "webgpu", "--json",
                   "--input", f"ids={tmp_path / 'ids.npy'}")
    assert proc.returncode != 0
    text = proc.stderr + proc.stdout
    assert "value 'ids' has int64 element [1] = 8589934592, outside the range of the i32" in text, text


def test_gather_from_split_table(tmp_path, monkeypatch):
    """An embedding table over the binding limit is read through its parts (limit lowered to 4 KiB)."""
    monkeypatch.setattr(wgsl_base, "MAX_BINDING_BYTES", 4096)
    table = RNG.standard_normal((100, 24)).astype(np.float32)  # 9600 bytes: 3 parts
    m = typed_model([helper.make_node("Gather", ["table", "ids"], ["y"])], {"ids": ("int64", (2, 7))},
                    {"y": ("float32", None)}, {"table": table})
    bundle, plan = build(tmp_path, m)
    check_plan(plan, max_binding=4096)
    tv = next(v for v in plan["values"] if v["name"] == "table")
    assert len(tv["gpu"]["parts"]) == 3
    assert all("gpu" in s for s in plan["steps"])
    if wgpu_runner.device() is None:
        pytest.skip("wgpu-py with a Vulkan adapter is not available")
    ids = np.array([[0, 99, -1, 42, 43, 85, 21], [-100, 64, 63, 5, 7, 11, 13]], np.int64)
    out = wgpu_runner.PlanRunner(bundle, wg_overrides={"WG_X": 7}).run({"ids": ids})
    np.testing.assert_array_equal(out["y"], table[ids])

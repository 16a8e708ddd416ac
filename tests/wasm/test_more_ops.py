"""Kernels added for the onnx backend suite run natively on wasm and match onnxruntime (integer results exactly):
BitShift, BitwiseAnd/Or/Xor/Not, integer Mod (intops.c), Trilu, LayerNormalization's Mean/InvStdDev outputs,
Clip with bounds computed at run time, PRelu and the float unary ops Floor..Mish (elementwise.c)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from .verify_helper import verify_on_wasm

RNG = np.random.default_rng(17)


def _ints(dtype, shape, lo=None, hi=None):
    info = np.iinfo(dtype)
    return RNG.integers(info.min if lo is None else lo, (info.max if hi is None else hi), shape, dtype=dtype,
                        endpoint=True)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "uint64"])
def test_bitshift(tmp_path, dtype):
    x = _ints(dtype, (3, 5, 7))
    s = _ints(dtype, (5, 1), 0, 8 * np.dtype(dtype).itemsize - 1)
    nodes = [helper.make_node("BitShift", ["x", "s"], ["l"], direction="LEFT"),
             helper.make_node("BitShift", ["x", "s"], ["r"], direction="RIGHT")]
    verify_on_wasm(tmp_path, nodes, {"x": x, "s": s}, {"l": (dtype, x.shape), "r": (dtype, x.shape)}, opset=18,
                   threads=2)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32", "int64", "uint64"])
def test_bitwise_and_mod(tmp_path, dtype):
    a = _ints(dtype, (4, 1, 9))
    b = _ints(dtype, (3, 9))
    b[0, :3] = 0  # Mod by zero: 0 (js kernels; onnxruntime's result is undefined, so only a - checked part)
    nodes = [helper.make_node("BitwiseAnd", ["a", "b"], ["and"]), helper.make_node("BitwiseOr", ["a", "b"], ["or"]),
             helper.make_node("BitwiseXor", ["a", "b"], ["xor"]), helper.make_node("BitwiseNot", ["a"], ["not"])]
    shape = (4, 3, 9)
    verify_on_wasm(tmp_path / "bit", nodes, {"a": a, "b": b},
                   {"and": (dtype, shape), "or": (dtype, shape), "xor": (dtype, shape), "not": (dtype, a.shape)},
                   opset=18, threads=2)
    b[b == 0] = 3
    nodes = [helper.make_node("Mod", ["a", "b"], ["m"]), helper.make_node("Mod", ["a", "b"], ["f"], fmod=1)]
    verify_on_wasm(tmp_path / "mod", nodes, {"a": a, "b": b}, {"m": (dtype, shape), "f": (dtype, shape)}, opset=13)


@pytest.mark.parametrize("upper", [0, 1])
def test_trilu(tmp_path, upper):
    x = RNG.standard_normal((2, 3, 5, 7)).astype(np.float32)
    xi = _ints("int64", (4, 6))
    k = np.array(-1, np.int64)
    nodes = [helper.make_node("Trilu", ["x"], ["y"], upper=upper), helper.make_node("Trilu", ["x", "k"], ["yk"], upper=upper),
             helper.make_node("Trilu", ["xi", "k"], ["yi"], upper=upper)]
    verify_on_wasm(tmp_path, nodes, {"x": x, "xi": xi, "k": k},
                   {"y": ("float32", x.shape), "yk": ("float32", x.shape), "yi": ("int64", xi.shape)}, opset=14, threads=2)


def test_layernorm_stats_clip_prelu(tmp_path):
    x = RNG.standard_normal((3, 4, 10)).astype(np.float32)
    scale = RNG.standard_normal((4, 10)).astype(np.float32)
    slope = RNG.standard_normal((10,)).astype(np.float32)
    lo, hi = np.array(-0.5, np.float32), np.array(0.7, np.float32)
    nodes = [helper.make_node("LayerNormalization", ["x", "scale"], ["y", "mean", "inv"], axis=1, epsilon=1e-3),
             helper.make_node("Clip", ["x", "lo", "hi"], ["c"]), helper.make_node("Clip", ["x", "", "hi"], ["c2"]),
             helper.make_node("PRelu", ["x", "slope"], ["p"])]
    verify_on_wasm(tmp_path, nodes, {"x": x, "scale": scale, "slope": slope, "lo": lo, "hi": hi},
                   {"y": ("float32", x.shape), "mean": ("float32", (3, 1, 1)), "inv": ("float32", (3, 1, 1)),
                    "c": ("float32", x.shape), "c2": ("float32", x.shape), "p": ("float32", x.shape)}, opset=17)


def test_float_unary(tmp_path):
    x = np.concatenate([RNG.standard_normal(200) * 4, [0.5, 1.5, 2.5, -0.5, -2.5, 0.0, -0.0, 1e-6, -1e-6, 30, -30, 100, -100],
                        ]).astype(np.float32)
    ops = {"Floor": {}, "Ceil": {}, "Round": {}, "Sign": {}, "Softplus": {}, "Softsign": {}, "Elu": {"alpha": 0.7},
           "Selu": {}, "Celu": {"alpha": 1.3}, "ThresholdedRelu": {"alpha": 0.4}, "Mish": {}}
    nodes = [helper.make_node(op, ["x"], [op.lower()], **attrs) for op, attrs in ops.items()]
    verify_on_wasm(tmp_path, nodes, {"x": x}, {op.lower(): ("float32", x.shape) for op in ops}, opset=18, threads=2)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_elements(tmp_path, axis):
    data = RNG.standard_normal((4, 5, 6)).astype(np.float32)
    di = _ints("int64", (4, 5, 6))
    shape = [3, 4, 5]
    idx = RNG.integers(-data.shape[axis], data.shape[axis], shape).astype(np.int64)
    nodes = [helper.make_node("GatherElements", ["data", "idx"], ["y"], axis=axis),
             helper.make_node("GatherElements", ["di", "idx32"], ["yi"], axis=axis)]
    verify_on_wasm(tmp_path, nodes, {"data": data, "di": di, "idx": idx, "idx32": idx.astype(np.int32)},
                   {"y": ("float32", shape), "yi": ("int64", shape)}, opset=13, threads=2)

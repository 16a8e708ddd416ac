"""Reduce*, ArgMax/ArgMin, Resize and Softmax along a middle axis run in wasm and match onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from .verify_helper import verify_on_wasm

RNG = np.random.default_rng(7)
X = RNG.standard_normal((2, 3, 5, 7)).astype(np.float32)

# (op, axes, keepdims): every path of reduce.c (contiguous rows, 4-output columns, scalar strides)
REDUCES = [
    ("ReduceMean", [2, 3], 1), ("ReduceSum", [1], 0), ("ReduceMax", [0, 2], 1), ("ReduceMin", None, 0),
    ("ReduceProd", [3], 1), ("ReduceL1", [1, 3], 0), ("ReduceL2", [-1], 1), ("ReduceLogSum", [1], 1),
    ("ReduceLogSumExp", [2, 3], 0), ("ReduceSumSquare", [0, 1], 1), ("ReduceMax", [1], 0), ("ReduceMean", [0], 1),
]


def _reduced_shape(shape, axes, keepdims):
    axes = range(len(shape)) if axes is None else [a % len(shape) for a in axes]
    return tuple(1 if a in axes else d for a, d in enumerate(shape)) if keepdims else \
        tuple(d for a, d in enumerate(shape) if a not in axes)


@pytest.mark.parametrize("threads", [1, 2])
def test_reduce_family(tmp_path, threads):
    """opset 18: axes as an input for every op (and noop_with_empty_axes)."""
    feeds = {"x": X, "xp": np.abs(X) + 0.5, "i32": RNG.integers(-50, 50, (3, 4, 6)).astype(np.int32),
             "i64": RNG.integers(-(2**40), 2**40, (3, 4, 6)).astype(np.int64)}
    nodes, inits, outputs = [], [], {}
    for k, (op, axes, keep) in enumerate(REDUCES):
        src = "xp" if op in ("ReduceLogSum", "ReduceProd") else "x"
        ins = [src]
        if axes is not None:
            inits.append(numpy_helper.from_array(np.array(axes, np.int64), f"ax{k}"))
            ins.append(f"ax{k}")
        nodes.append(helper.make_node(op, ins, [f"r{k}"], keepdims=keep))
        outputs[f"r{k}"] = (np.float32, _reduced_shape(X.shape, axes, keep))
    nodes.append(helper.make_node("ReduceSumSquare", ["x"], ["noop"], noop_with_empty_axes=1))
    outputs["noop"] = (np.float32, X.shape)
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "ax_i"))
    for name in ("i32", "i64"):
        for op in ("ReduceSum", "ReduceMax", "ReduceMin"):
            nodes.append(helper.make_node(op, [name, "ax_i"], [f"{op}_{name}"], keepdims=0))
            outputs[f"{op}_{name}"] = (feeds[name].dtype, (3, 6))
    verify_on_wasm(tmp_path, nodes, feeds, outputs, inits, threads=threads, opset=18)


def test_reduce_attribute_axes(tmp_path):
    """opset 13: `axes` attribute (ReduceSum: input), SE-block global pooling."""
    x = RNG.standard_normal((1, 24, 9, 9)).astype(np.float32)
    inits = [numpy_helper.from_array(np.array([2, 3], np.int64), "hw")]
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=1),
             helper.make_node("ReduceSum", ["x", "hw"], ["s"], keepdims=0),
             helper.make_node("ReduceMax", ["x"], ["mx"], axes=[-3], keepdims=1)]
    outputs = {"m": (np.float32, (1, 24, 1, 1)), "s": (np.float32, (1, 24)), "mx": (np.float32, (1, 1, 9, 9))}
    verify_on_wasm(tmp_path, nodes, {"x": x}, outputs, inits, threads=2, opset=13)


def test_argmax_argmin(tmp_path):
    x = RNG.integers(0, 4, (3, 9, 5)).astype(np.float32)  # ties: first / last index
    feeds = {"x": x, "ids": RNG.integers(0, 1000, (2, 13)).astype(np.int32),
             "i64": RNG.integers(-5, 5, (4, 6)).astype(np.int64)}
    nodes = [helper.make_node("ArgMax", ["x"], ["a0"], axis=1, keepdims=1),
             helper.make_node("ArgMax", ["x"], ["a1"], axis=1, keepdims=0, select_last_index=1),
             helper.make_node("ArgMin", ["x"], ["a2"], axis=-1, keepdims=0),
             helper.make_node("ArgMin", ["x"], ["a3"], axis=0, keepdims=1, select_last_index=1),
             helper.make_node("ArgMax", ["ids"], ["a4"], axis=-1, keepdims=0),  # clip_text's EOS position
             helper.make_node("ArgMin", ["i64"], ["a5"], axis=1, keepdims=1)]
    outputs = {"a0": (np.int64, (3, 1, 5)), "a1": (np.int64, (3, 5)), "a2": (np.int64, (3, 9)),
               "a3": (np.int64, (1, 9, 5)), "a4": (np.int64, (2,)), "a5": (np.int64, (4, 1))}
    verify_on_wasm(tmp_path, nodes, feeds, outputs, threads=2)


# (mode, coordinate_transformation_mode, nearest_mode, scales or None, sizes or None)
RESIZES = [
    ("nearest", "asymmetric", "floor", [1, 1, 2, 2], None),                     # yolov8 upsample
    ("linear", "half_pixel", None, [1, 1, 2, 2], None),                         # unet bilinear
    ("linear", "pytorch_half_pixel", None, None, [2, 3, 4, 3]),                 # downsample
    ("linear", "align_corners", None, None, [2, 3, 11, 15]),
    ("linear", "asymmetric", None, [1, 1, 1.5, 2.5], None),
    ("nearest", "half_pixel", "round_prefer_ceil", [1, 1, 1.7, 0.6], None),
    ("nearest", "align_corners", "round_prefer_floor", None, [2, 3, 9, 4]),
    ("nearest", "pytorch_half_pixel", "ceil", None, [2, 3, 3, 10]),
]


@pytest.mark.parametrize("threads", [1, 2])
def test_resize(tmp_path, threads):
    nodes, inits, outputs = [], [], {}
    for k, (mode, ctm, nearest, scales, sizes) in enumerate(RESIZES):
        ins = ["x", ""]
        if scales is not None:
            inits.append(numpy_helper.from_array(np.array(scales, np.float32), f"sc{k}"))
            ins.append(f"sc{k}")
            shape = [int(np.floor(d * s)) for d, s in zip(X.shape, scales)]
        else:
            inits.append(numpy_helper.from_array(np.array(sizes, np.int64), f"sz{k}"))
            ins += ["", f"sz{k}"]
            shape = sizes
        attrs = {"mode": mode, "coordinate_transformation_mode": ctm}
        if nearest:
            attrs["nearest_mode"] = nearest
        nodes.append(helper.make_node("Resize", ins, [f"y{k}"], **attrs))
        outputs[f"y{k}"] = (np.float32, shape)
    verify_on_wasm(tmp_path, nodes, {"x": X}, outputs, inits, threads=threads, opset=13)


@pytest.mark.parametrize("shape, axis", [((2, 16, 3, 5), 1), ((3, 7, 6), 1), ((4, 5, 9), 0), ((2, 3, 4), -1)])
def test_softmax_any_axis(tmp_path, shape, axis):
    x = (RNG.standard_normal(shape) * 4).astype(np.float32)
    nodes = [helper.make_node("Softmax", ["x"], ["s"], axis=axis), helper.make_node("LogSoftmax", ["x"], ["l"], axis=axis)]
    verify_on_wasm(tmp_path, nodes, {"x": x}, {"s": (np.float32, shape), "l": (np.float32, shape)}, threads=2)

"""Split, Slice, Pad and Concat of any dtype run in wasm and equal onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from .verify_helper import verify_on_wasm

RNG = np.random.default_rng(5)


def _i64(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


@pytest.mark.parametrize("threads", [1, 2])
def test_split_slice_concat(tmp_path, threads):
    feeds = {"x": RNG.standard_normal((2, 12, 5, 7)).astype(np.float32),
             "i": RNG.integers(-(2**40), 2**40, (3, 10)).astype(np.int64),
             "m": RNG.integers(0, 2, (4, 6)).astype(bool)}
    inits = [_i64("sp", [3, 9]), _i64("sp2", [2, 0, 8]),
             _i64("st", [1, -1, 0]), _i64("en", [11, -100, 5]), _i64("ax", [1, 3, 2]), _i64("sd", [3, -2, 2]),
             _i64("st2", [2]), _i64("en2", [9]), _i64("ax2", [-1])]
    nodes = [
        helper.make_node("Split", ["x", "sp"], ["s0", "s1"], axis=1),            # yolov8 C2f
        helper.make_node("Split", ["i", "sp2"], ["t0", "t1", "t2"], axis=1),     # int64, an empty part
        helper.make_node("Split", ["m"], ["u0", "u1"], axis=0),                  # bool, equal halves
        helper.make_node("Slice", ["x", "st", "en", "ax", "sd"], ["sl"]),        # steps 3, -2, 2
        helper.make_node("Slice", ["i", "st2", "en2", "ax2"], ["sl_i"]),
        helper.make_node("Concat", ["t0", "t2", "i"], ["cat_i"], axis=1),        # int64 concat
        helper.make_node("Concat", ["u1", "u0", "m"], ["cat_m"], axis=0),
        helper.make_node("Concat", ["s1", "s0"], ["cat_f"], axis=-3),
    ]
    outputs = {"s0": (np.float32, (2, 3, 5, 7)), "s1": (np.float32, (2, 9, 5, 7)), "t0": (np.int64, (3, 2)),
               "t1": (np.int64, (3, 0)), "t2": (np.int64, (3, 8)), "u0": (np.bool_, (2, 6)), "u1": (np.bool_, (2, 6)),
               "sl": (np.float32, (2, 4, 3, 4)), "sl_i": (np.int64, (3, 7)), "cat_i": (np.int64, (3, 20)),
               "cat_m": (np.bool_, (8, 6)), "cat_f": (np.float32, (2, 12, 5, 7))}
    verify_on_wasm(tmp_path, nodes, feeds, outputs, inits, threads=threads, opset=13)


def test_split_attribute_and_num_outputs(tmp_path):
    x = RNG.standard_normal((2, 10, 3)).astype(np.float32)
    nodes = [helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3)]  # 4, 4, 2
    verify_on_wasm(tmp_path, nodes, {"x": x}, {"a": (np.float32, (2, 4, 3)), "b": (np.float32, (2, 4, 3)),
                                               "c": (np.float32, (2, 2, 3))}, opset=18)
    nodes = [helper.make_node("Split", ["x"], ["a", "b"], axis=-1, split=[1, 2])]
    verify_on_wasm(tmp_path / "attr", nodes, {"x": x}, {"a": (np.float32, (2, 10, 1)), "b": (np.float32, (2, 10, 2))},
                   opset=11)


@pytest.mark.parametrize("threads", [1, 2])
def test_pad(tmp_path, threads):
    feeds = {"x": RNG.standard_normal((1, 3, 5, 6)).astype(np.float32),
             "i": RNG.integers(-9, 9, (4, 5)).astype(np.int32)}
    inits = [_i64("p0", [0, 0, 1, 2, 0, 0, 3, 1]), _i64("p1", [0, 1, 2, 3, 0, 0, 4, 2]),
             _i64("p2", [0, 0, -1, 2, 0, 1, 0, -2]), _i64("p3", [1, 2, 2, 1]),
             numpy_helper.from_array(np.array(-2.5, np.float32), "v"), numpy_helper.from_array(np.array(7, np.int32), "vi")]
    nodes = [
        helper.make_node("Pad", ["x", "p0", "v"], ["c"], mode="constant"),       # efficientnet's asymmetric pads
        helper.make_node("Pad", ["x", "p1"], ["r"], mode="reflect"),
        helper.make_node("Pad", ["x", "p0"], ["e"], mode="edge"),
        helper.make_node("Pad", ["x", "p2"], ["neg"], mode="constant"),          # negative pads crop
        helper.make_node("Pad", ["i", "p3", "vi"], ["ci"], mode="constant"),
        helper.make_node("Pad", ["i", "p3"], ["ei"], mode="edge"),
    ]
    outputs = {"c": (np.float32, (1, 3, 9, 9)), "r": (np.float32, (1, 4, 11, 11)), "e": (np.float32, (1, 3, 9, 9)),
               "neg": (np.float32, (1, 4, 4, 6)), "ci": (np.int32, (7, 8)), "ei": (np.int32, (7, 8))}
    verify_on_wasm(tmp_path, nodes, feeds, outputs, inits, threads=threads, opset=13)


def test_pad_wrap(tmp_path):
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    inits = [_i64("p", [2, -1, 3, 1])]
    node = helper.make_node("Pad", ["x", "p", "", "ax"], ["y"], mode="wrap")
    inits.append(_i64("ax", [1, 2]))
    verify_on_wasm(tmp_path, [node], {"x": x}, {"y": (np.float32, (2, 8, 4))}, inits, opset=19)

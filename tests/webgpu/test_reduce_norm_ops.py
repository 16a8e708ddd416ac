"""Reductions (run-time axes, every kind, integer dtypes, empty inputs), GatherElements, Trilu, Hardmax, the
N-d pools, GridSample, Resize (cubic, antialias, run-time sizes and scales), LpNormalization,
LayerNormalization with its Mean / InvStdDev outputs, TopK and CumSum/CumProd on the GPU.

Each model goes through `webdnn-build verify --backend webgpu` (the JS runtime on Dawn, compared with
onnxruntime at 1e-5 + 1e-4·scale) and must run every op on the GPU. Skipped without a WebGPU adapter in Node.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from tests.conformance.test_webgpu import _adapter
from tests.helpers import requires

from .test_index_ops import ints, typed_model, verify

pytestmark = requires(None if _adapter() else "no WebGPU adapter in Node (eval \"$(tools/setup-webgpu.sh)\")")

RNG = np.random.default_rng(1)


def floats(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def test_reductions_with_run_time_axes(tmp_path):
    ops = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
           "ReduceSumSquare", "ReduceLogSumExp"]
    nodes, outs = [], {}
    for k, op in enumerate(ops):                     # axes from a graph input, keepdims 0 and 1
        nodes.append(helper.make_node(op, ["x", "axes"], [f"k{k}"], keepdims=1))
        nodes.append(helper.make_node(op, ["x", "axes"], [f"d{k}"], keepdims=0))
        outs[f"k{k}"] = ("float32", (3, 1, 5, 1))
        outs[f"d{k}"] = ("float32", (3, 5))
    nodes += [helper.make_node("ReduceLogSum", ["xp", "axes"], ["ls"], keepdims=0),
              helper.make_node("ReduceSum", ["x", "none"], ["noop"], noop_with_empty_axes=1),   # empty axes: no-op
              helper.make_node("ReduceL2", ["x", "none"], ["all"]),                             # empty axes: all
              helper.make_node("ReduceMean", ["x", "cax"], ["cm"], keepdims=0),                 # constant axes
              helper.make_node("ReduceSum", ["i32", "axes"], ["si"], keepdims=0),               # int32 sum
              helper.make_node("ReduceMax", ["i64", "axes"], ["mi"], keepdims=1),               # int64 max / min
              helper.make_node("ReduceMin", ["i64", "cax"], ["ni"], keepdims=0),
              helper.make_node("ReduceSum", ["e", "one"], ["es"], keepdims=1),                  # empty input: fill
              helper.make_node("ReduceProd", ["e", "one"], ["ep"], keepdims=0)]
    outs.update({"ls": ("float32", (3, 5)), "noop": ("float32", (3, 4, 5, 2)), "all": ("float32", (1, 1, 1, 1)),
                 "cm": ("float32", (4, 2)), "si": ("int32", (3, 5)), "mi": ("int64", (3, 1, 5, 1)),
                 "ni": ("int64", (4, 2)), "es": ("float32", (2, 1, 4)), "ep": ("float32", (2, 4))})
    m = typed_model(nodes, {"x": ("float32", (3, 4, 5, 2)), "xp": ("float32", (3, 4, 5, 2)), "axes": ("int64", (2,)),
                            "i32": ("int32", (3, 4, 5, 2)), "i64": ("int64", (3, 4, 5, 2)), "e": ("float32", (2, 0, 4)),
                            "one": ("int64", (1,))}, outs,
                    {"none": np.zeros(0, np.int64), "cax": np.array([-2, 0], np.int64)}, opset=18)
    x = floats(3, 4, 5, 2)
    x[1, 2, 3, 1] = 40.0                             # LogSumExp needs its max shift
    feeds = {"x": x, "xp": np.abs(floats(3, 4, 5, 2)) + 0.1, "axes": np.array([-1, 1], np.int64),
             "i32": ints(3, 4, 5, 2, dtype=np.int32), "i64": ints(3, 4, 5, 2, lo=-10**9, hi=10**9),
             "e": np.zeros((2, 0, 4), np.float32), "one": np.array([1], np.int64)}
    verify(tmp_path, m, feeds)


def test_gather_elements_trilu_hardmax(tmp_path):
    nodes = [helper.make_node("GatherElements", ["x", "idx"], ["g"], axis=1),
             helper.make_node("GatherElements", ["xi", "idx0"], ["gi"], axis=0),
             helper.make_node("Trilu", ["xi", "k"], ["up"]),
             helper.make_node("Trilu", ["x", "k"], ["lo"], upper=0),
             helper.make_node("Trilu", ["x"], ["up0"]),
             helper.make_node("Hardmax", ["h"], ["hm"], axis=1)]
    m = typed_model(nodes, {"x": ("float32", (3, 4)), "idx": ("int64", (3, 6)), "xi": ("int64", (2, 3, 4)),
                            "idx0": ("int64", (2, 2, 4)), "k": ("int64", ()), "h": ("float32", (2, 5, 3))},
                    {"g": ("float32", (3, 6)), "gi": ("int64", (2, 2, 4)), "up": ("int64", (2, 3, 4)),
                     "lo": ("float32", (3, 4)), "up0": ("float32", (3, 4)), "hm": ("float32", (2, 5, 3))})
    h = RNG.integers(0, 3, (2, 5, 3)).astype(np.float32)      # ties: the first maximum wins
    feeds = {"x": floats(3, 4), "idx": ints(3, 6, lo=-4, hi=4), "xi": ints(2, 3, 4), "idx0": ints(2, 2, 4, lo=-2, hi=2),
             "k": np.array(-1, np.int64), "h": h}
    verify(tmp_path, m, feeds)


def test_pools_nd(tmp_path):
    nodes = [helper.make_node("MaxPool", ["x3"], ["mp"], kernel_shape=[2, 3, 2], dilations=[2, 1, 1], ceil_mode=1,
                              strides=[2, 2, 1]),
             helper.make_node("AveragePool", ["x3"], ["ap"], kernel_shape=[3, 3, 3], pads=[1, 1, 1, 1, 0, 1],
                              strides=[2, 2, 2], count_include_pad=1, ceil_mode=1),
             helper.make_node("AveragePool", ["x3"], ["ap0"], kernel_shape=[3, 2, 3], pads=[1, 0, 1, 1, 1, 1]),
             helper.make_node("LpPool", ["x2"], ["lp"], kernel_shape=[3, 3], p=3, pads=[1, 1, 1, 1]),
             helper.make_node("LpPool", ["x1"], ["lp1"], kernel_shape=[2], auto_pad="SAME_UPPER"),
             helper.make_node("MaxPool", ["x2"], ["mv", "mi"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1]),
             helper.make_node("MaxPool", ["x2"], ["mv2", "mi2"], kernel_shape=[3, 2], storage_order=1)]
    m = typed_model(nodes, {"x3": ("float32", (1, 2, 7, 8, 6)), "x2": ("float32", (2, 3, 5, 7)),
                            "x1": ("float32", (1, 2, 9))},
                    {"mp": ("float32", None), "ap": ("float32", None), "ap0": ("float32", None), "lp": ("float32", None),
                     "lp1": ("float32", None), "mv": ("float32", None), "mi": ("int64", None), "mv2": ("float32", None),
                     "mi2": ("int64", None)})
    verify(tmp_path, m, {"x3": floats(1, 2, 7, 8, 6), "x2": floats(2, 3, 5, 7), "x1": floats(1, 2, 9)})


def test_grid_sample_and_resize(tmp_path):
    combos = [("bilinear", "zeros", 0), ("nearest", "border", 1), ("bicubic", "reflection", 0),
              ("bicubic", "zeros", 1), ("bilinear", "reflection", 1)]
    nodes = [helper.make_node("GridSample", ["x", "grid"], [f"y{k}"], mode=mode, padding_mode=pad, align_corners=al)
             for k, (mode, pad, al) in enumerate(combos)]
    outs = {f"y{k}": ("float32", (1, 2, 4, 7)) for k in range(len(combos))}
    # Resize: cubic / antialias / nearest with sizes given at run time ("stretch": the static output shape)
    nodes += [helper.make_node("Resize", ["x", "", "", "sizes"], ["cub"], mode="cubic"),
              helper.make_node("Resize", ["x", "", "", "sizes"], ["cex"], mode="cubic", cubic_coeff_a=-0.5,
                               exclude_outside=1, coordinate_transformation_mode="align_corners"),
              helper.make_node("Resize", ["x", "", "small"], ["aal"], mode="linear", antialias=1),
              helper.make_node("Resize", ["x", "", "", "sizes2"], ["near"], mode="nearest", axes=[3, 2],
                               nearest_mode="ceil", coordinate_transformation_mode="asymmetric")]
    outs.update({"cub": ("float32", (1, 2, 9, 4)), "cex": ("float32", (1, 2, 9, 4)), "aal": ("float32", (1, 2, 3, 3)),
                 "near": ("float32", (1, 2, 11, 3))})
    # scales given at run time: linear / cubic taps computed in the kernel, nearest taps chosen exactly (ties at
    # scale 0.5 and 2 are exact in float32 too, so onnxruntime agrees)
    nodes += [helper.make_node("Resize", ["x", "", "rs"], ["rl"], mode="linear"),
              helper.make_node("Resize", ["x", "", "rs"], ["rc"], mode="cubic", coordinate_transformation_mode="align_corners"),
              helper.make_node("Resize", ["x", "", "rs"], ["ra"], mode="cubic", antialias=1),
              # keep_aspect_ratio_policy with run-time sizes: the scale the static output shape implies (0.5)
              helper.make_node("Resize", ["x", "", "", "sizes3"], ["ka"], mode="nearest", axes=[2, 3],
                               keep_aspect_ratio_policy="not_larger"),
              helper.make_node("Resize", ["x", "", "rs"], ["rn"], mode="nearest"),
              helper.make_node("Resize", ["x", "", "rs"], ["rnc"], mode="nearest", nearest_mode="round_prefer_ceil",
                               coordinate_transformation_mode="asymmetric"),
              helper.make_node("Resize", ["x", "", "rs2"], ["rn2"], mode="nearest", axes=[2, 3], nearest_mode="ceil",
                               coordinate_transformation_mode="half_pixel"),
              helper.make_node("Resize", ["x", "", "rs2"], ["rn3"], mode="nearest", axes=[2, 3], nearest_mode="floor")]
    outs.update({k: ("float32", (1, 2, 3, 10)) for k in ("rl", "rc", "ra", "rn", "rnc")})
    outs.update({k: ("float32", (1, 2, 18, 2)) for k in ("rn2", "rn3")})
    outs["ka"] = ("float32", (1, 2, 3, 3))
    m = typed_model(nodes, {"x": ("float32", (1, 2, 6, 5)), "grid": ("float32", (1, 4, 7, 2)), "sizes": ("int64", (4,)),
                            "sizes2": ("int64", (2,)), "sizes3": ("int64", (2,)), "rs": ("float32", (4,)),
                            "rs2": ("float32", (2,))}, outs,
                    {"small": np.array([1, 1, 0.5, 0.6], np.float32)}, opset=18)
    grid = (RNG.random((1, 4, 7, 2)) * 3.0 - 1.5).astype(np.float32)   # inside and outside [-1, 1]
    verify(tmp_path, m, {"x": floats(1, 2, 6, 5), "grid": grid, "sizes": np.array([1, 2, 9, 4], np.int64),
                         "sizes2": np.array([3, 11], np.int64), "rs": np.array([1, 1, 0.5, 2], np.float32),
                         "rs2": np.array([3, 0.5], np.float32), "sizes3": np.array([3, 4], np.int64)})


def test_norms_topk_cumulative(tmp_path):
    nodes = [helper.make_node("LpNormalization", ["x"], ["l1"], axis=1, p=1),
             helper.make_node("LpNormalization", ["x"], ["l2"]),
             helper.make_node("TopK", ["x", "k"], ["tv", "ti"], axis=1),
             helper.make_node("TopK", ["xi", "k"], ["sv", "si"], axis=-1, largest=0),
             helper.make_node("CumSum", ["x", "ax"], ["cs"], exclusive=1, reverse=1),
             helper.make_node("CumSum", ["xi32", "ax"], ["ci"]),
             helper.make_node("CumProd", ["x", "axc"], ["cp"], reverse=1),
             helper.make_node("CumProd", ["xi32", "ax"], ["cpi"], exclusive=1),
             helper.make_node("LayerNormalization", ["x", "lw", "lb"], ["ln", "lm", "lr"], axis=1, epsilon=0.1)]
    m = typed_model(nodes, {"x": ("float32", (3, 6, 4)), "xi": ("int64", (2, 7)), "k": ("int64", (1,)),
                            "ax": ("int32", ()), "xi32": ("int32", (3, 6, 4))},
                    {"l1": ("float32", (3, 6, 4)), "l2": ("float32", (3, 6, 4)), "tv": ("float32", (3, 3, 4)),
                     "ti": ("int64", (3, 3, 4)), "sv": ("int64", (2, 3)), "si": ("int64", (2, 3)),
                     "cs": ("float32", (3, 6, 4)), "ci": ("int32", (3, 6, 4)), "cp": ("float32", (3, 6, 4)),
                     "cpi": ("int32", (3, 6, 4)), "ln": ("float32", (3, 6, 4)), "lm": ("float32", (3, 1, 1)),
                     "lr": ("float32", (3, 1, 1))},
                    {"axc": np.array(-1, np.int64), "lw": floats(6, 4), "lb": floats(4)}, opset=26)
    m.ir_version = 10                                                     # CumProd: opset 26
    x = RNG.integers(-3, 4, (3, 6, 4)).astype(np.float32)                # ties in TopK: lower index first
    x[0, :, 0] = 0.0                                                      # a zero Lp norm gives 0
    verify(tmp_path, m, {"x": x, "xi": ints(2, 7, lo=-2, hi=3), "k": np.array([3], np.int64),
                         "ax": np.array(1, np.int32), "xi32": ints(3, 6, 4, dtype=np.int32)})

"""Depthwise Conv on wasm (csrc/conv_depthwise.c): the 3x3 strip kernels (rows whose last vector is stored whole), the general KxK strip path (dwk_plane: 5x5,
7x7, non-square, horizontal stride 1 or 2, any vertical stride) and the per-row fallback, with bias, fused
activations and a fused residual. Every case runs all in wasm and matches onnxruntime (verify's tolerance:
1e-5 + 1e-4 of the output scale)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from .verify_helper import verify_on_wasm

# (name, N, C, H, W, kernel, strides, pads, dilations)
CASES = [
    ("svtr_5x5_s1", 1, 8, 12, 80, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1)),
    ("svtr_5x5_s21", 1, 8, 12, 80, (5, 5), (2, 1), (2, 2, 2, 2), (1, 1)),
    ("efficientnet_5x5_s2_asym", 1, 6, 16, 16, (5, 5), (2, 2), (1, 1, 2, 2), (1, 1)),
    ("convnext_7x7", 2, 4, 14, 14, (7, 7), (1, 1), (3, 3, 3, 3), (1, 1)),
    ("mobilenet_3x3_s1_7x7", 1, 9, 7, 7, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    ("mobilenet_3x3_s2_14", 1, 7, 14, 14, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1)),
    ("3x3_s1_ow13", 2, 3, 9, 13, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    ("3x3_s12", 1, 5, 9, 33, (3, 3), (1, 2), (1, 1, 1, 1), (1, 1)),
    ("3x3_s21", 1, 5, 9, 33, (3, 3), (2, 1), (1, 1, 1, 1), (1, 1)),
    ("4x4_s2_even_kernel", 1, 3, 10, 19, (4, 4), (2, 2), (1, 1, 2, 2), (1, 1)),
    ("1x5_row", 1, 3, 4, 21, (1, 5), (1, 1), (0, 2, 0, 2), (1, 1)),
    ("5x5_s2_wide", 1, 2, 7, 300, (5, 5), (2, 2), (2, 2, 2, 2), (1, 1)),
    ("5x5_s3_vertical", 1, 3, 17, 12, (5, 5), (3, 1), (2, 2, 2, 2), (1, 1)),
    ("5x5_no_pad_tiny", 1, 3, 6, 6, (5, 5), (1, 1), (0, 0, 0, 0), (1, 1)),
    ("3x3_dilated_rows", 1, 3, 11, 13, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2)),
]


def _out(n, k, s, p0, p1, d):
    return (n + p0 + p1 - d * (k - 1) - 1) // s + 1


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("epilogue", ["bias", "relu_residual", "clip_nobias"])
def test_depthwise_matches_onnxruntime(tmp_path, case, epilogue):
    name, n, c, h, w, k, s, pads, d = case
    rng = np.random.default_rng(len(name) * 7 + len(epilogue))
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    weight = rng.standard_normal((c, 1, *k)).astype(np.float32) / k[0]
    bias = rng.standard_normal(c).astype(np.float32)
    oh, ow = _out(h, k[0], s[0], pads[0], pads[2], d[0]), _out(w, k[1], s[1], pads[1], pads[3], d[1])
    inits = [numpy_helper.from_array(weight, "w")]
    conv_in = ["x", "w"]
    if epilogue != "clip_nobias":
        inits.append(numpy_helper.from_array(bias, "b"))
        conv_in.append("b")
    nodes = [helper.make_node("Conv", conv_in, ["y0"], group=c, kernel_shape=list(k), strides=list(s),
                              pads=list(pads), dilations=list(d))]
    feeds = {"x": x}
    if epilogue == "relu_residual":
        feeds["r"] = rng.standard_normal((n, c, oh, ow)).astype(np.float32)
        nodes += [helper.make_node("Add", ["y0", "r"], ["y1"]), helper.make_node("Relu", ["y1"], ["y"])]
    elif epilogue == "clip_nobias":
        inits += [numpy_helper.from_array(np.float32(-0.5), "lo"), numpy_helper.from_array(np.float32(0.7), "hi")]
        nodes.append(helper.make_node("Clip", ["y0", "lo", "hi"], ["y"]))
    else:
        nodes.append(helper.make_node("Identity", ["y0"], ["y"]))
    # two threads split the output rows mid-plane (a strip starts at any row)
    verify_on_wasm(tmp_path, nodes, feeds, {"y": ("float32", (n, c, oh, ow))}, inits=inits,
                   threads=2 if epilogue == "relu_residual" else 1)

"""The conv paths the wasm backend picks besides im2col + GEMM (emit/conv.py), each against onnxruntime
(verify's tolerance: 1e-5 + 1e-4 of the output scale), all ops in wasm, with bias, fused activations and a fused
residual, on one and two threads:
- 3x3 stride-1 convs by Winograd F(2x2, 3x3) (csrc/conv_winograd.c): odd output sizes (partial edge tiles), any
  padding, batches, output channels not a multiple of 4 or 8, more input channels than one K block, blocks of
  fewer than 12 tiles (a partial 4-row panel), threads splitting tiles or output channels;
- 1x1 convs over few pixels computed transposed on weights packed at load (csrc/conv2d.c pointwise_transposed);
and which kernel each kind of conv gets."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from ..helpers import run_cli, save_model
from .verify_helper import verify_on_wasm, vi

# (name, N, Cin, Cout, H, W, pads (top, left, bottom, right))
CASES = [
    ("stage3_like_cout44", 1, 64, 44, 14, 14, (1, 1, 1, 1)),  # 49 tiles; the last 4 channels a partial group
    ("odd_7x7", 1, 32, 40, 7, 7, (1, 1, 1, 1)),  # edge tiles; few tiles: threads split channels
    ("batch2_no_pad", 2, 33, 35, 9, 12, (0, 0, 0, 0)),  # 7x10 outputs, tiles across two images
    ("asymmetric_pads", 1, 32, 32, 10, 9, (0, 1, 2, 0)),
    ("many_tiles", 1, 32, 32, 40, 36, (1, 1, 1, 1)),  # 360 tiles: two blocks, threads split tiles
    ("cin_600", 1, 600, 32, 6, 6, (1, 1, 1, 1)),  # two K blocks of the GEMM
    ("nine_tiles", 1, 40, 48, 5, 5, (1, 1, 1, 1)),  # fewer than 12 tiles: 4-row panels, the last partial
]


def _conv_model(case, epilogue, rng):
    name, n, cin, cout, h, w, pads = case
    oh, ow = h + pads[0] + pads[2] - 2, w + pads[1] + pads[3] - 2
    x = rng.standard_normal((n, cin, h, w)).astype(np.float32)
    weight = (rng.standard_normal((cout, cin, 3, 3)) / np.sqrt(9 * cin)).astype(np.float32)
    inits = [numpy_helper.from_array(weight, "w")]
    conv_in = ["x", "w"]
    if epilogue != "clip_nobias":
        inits.append(numpy_helper.from_array(rng.standard_normal(cout).astype(np.float32), "b"))
        conv_in.append("b")
    nodes = [helper.make_node("Conv", conv_in, ["y0"], kernel_shape=[3, 3], pads=list(pads))]
    feeds = {"x": x}
    if epilogue == "relu_residual":
        feeds["r"] = rng.standard_normal((n, cout, oh, ow)).astype(np.float32)
        nodes += [helper.make_node("Add", ["y0", "r"], ["y1"]), helper.make_node("Relu", ["y1"], ["y"])]
    elif epilogue == "clip_nobias":
        inits += [numpy_helper.from_array(np.float32(-0.5), "lo"), numpy_helper.from_array(np.float32(0.7), "hi")]
        nodes.append(helper.make_node("Clip", ["y0", "lo", "hi"], ["y"]))
    else:
        nodes.append(helper.make_node("Sigmoid", ["y0"], ["y"]))
    return nodes, feeds, inits, (n, cout, oh, ow)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("epilogue", ["bias_sigmoid", "relu_residual", "clip_nobias"])
def test_winograd_matches_onnxruntime(tmp_path, case, epilogue):
    rng = np.random.default_rng(len(case[0]) * 7 + len(epilogue))
    nodes, feeds, inits, y_shape = _conv_model(case, epilogue, rng)
    verify_on_wasm(tmp_path, nodes, feeds, {"y": ("float32", y_shape)}, inits=inits,
                   threads=2 if epilogue != "clip_nobias" else 1)


# (name, N, Cin, Cout, H, W)
POINTWISE_CASES = [
    ("7x7_cout80", 1, 64, 80, 7, 7),
    ("batch2_5x5_cout13", 2, 24, 13, 5, 5),  # 25 pixels; a partial last column panel
    ("3x3_pixels9", 1, 40, 48, 3, 3),  # fewer than 12 rows: 4-row panels, the last partial
]


@pytest.mark.parametrize("case", POINTWISE_CASES, ids=[c[0] for c in POINTWISE_CASES])
@pytest.mark.parametrize("epilogue", ["bias_sigmoid", "relu_residual", "clip_nobias"])
def test_transposed_pointwise_matches_onnxruntime(tmp_path, case, epilogue):
    name, n, cin, cout, h, w = case
    rng = np.random.default_rng(len(name) * 5 + len(epilogue))
    nodes, feeds, inits, y_shape = _conv_model((name, n, cin, cout, h + 2, w + 2, (0, 0, 0, 0)), epilogue, rng)
    weight = (rng.standard_normal((cout, cin, 1, 1)) / np.sqrt(cin)).astype(np.float32)
    inits[0] = numpy_helper.from_array(weight, "w")
    nodes[0] = helper.make_node("Conv", nodes[0].input, ["y0"], kernel_shape=[1, 1])
    feeds["x"] = rng.standard_normal((n, cin, h, w)).astype(np.float32)
    verify_on_wasm(tmp_path, nodes, feeds, {"y": ("float32", y_shape)}, inits=inits,
                   threads=2 if epilogue != "clip_nobias" else 1)


def _kernels_called(tmp_path, conv_attrs: dict, cin: int, cout: int, options=(), size: int = 8) -> set[str]:
    """Build one Conv (size x size input) for wasm and return the conv kernels the generated C calls (and
    "transposed" when the conv takes the transposed pointwise path)."""
    rng = np.random.default_rng(0)
    k = conv_attrs.get("kernel_shape", [3, 3])
    group = conv_attrs.get("group", 1)
    weight = rng.standard_normal((cout, cin // group, *k)).astype(np.float32)
    pads, s, d = conv_attrs.get("pads", [0] * 4), conv_attrs.get("strides", [1, 1]), conv_attrs.get("dilations", [1, 1])
    out = [(size + pads[i] + pads[i + 2] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2)]
    model = save_model([helper.make_node("Conv", ["x", "w"], ["y"], **conv_attrs)], [vi("x", "float32", (1, cin, size, size))],
                       [vi("y", "float32", (1, cout, *out))], tmp_path / "m.onnx",
                       initializers=[numpy_helper.from_array(weight, "w")])
    extra = [a for o in ("wasm.emit_c=true", "wasm.threads=false", *options) for a in ("--backend-option", o)]
    proc = run_cli("build", str(model), "-o", str(tmp_path / "b"), "--backends", "wasm", *extra)
    assert proc.returncode == 0, proc.stderr
    c = (tmp_path / "b" / "wasm" / "model.c").read_text()
    called = {f for f in ("wdn_conv3x3_wino_f32", "wdn_conv2d_f32", "wdn_conv2d_dw_f32") if f"{f}(&" in c}
    return called | ({"transposed"} if ".packed_wt = prepared" in c else set())


@pytest.mark.parametrize("attrs, cin, cout, options, size, expected", [
    ({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, 32, 32, (), 8, "wdn_conv3x3_wino_f32"),
    ({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, 32, 32, ("wasm.winograd=false",), 8, "wdn_conv2d_f32"),
    ({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]}, 32, 32, (), 8, "wdn_conv2d_f32"),
    ({"kernel_shape": [3, 3], "dilations": [2, 2], "pads": [2, 2, 2, 2]}, 32, 32, (), 8, "wdn_conv2d_f32"),
    ({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, 16, 64, (), 8, "wdn_conv2d_f32"),  # too few input channels
    ({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "group": 2}, 64, 64, (), 8, "wdn_conv2d_f32"),
    ({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "group": 32}, 32, 32, (), 8, "wdn_conv2d_dw_f32"),
    ({"kernel_shape": [5, 5], "pads": [2, 2, 2, 2]}, 32, 32, (), 8, "wdn_conv2d_f32"),
    ({"kernel_shape": [1, 1]}, 16, 24, (), 7, "wdn_conv2d_f32 transposed"),
    ({"kernel_shape": [1, 1], "pads": [0, 0, 1, 1]}, 16, 24, (), 8, "wdn_conv2d_f32"),
    ({"kernel_shape": [1, 1]}, 16, 24, (), 8, "wdn_conv2d_f32"),  # 64 pixels: full 8-column panels already
    ({"kernel_shape": [1, 1], "strides": [2, 2]}, 16, 24, (), 8, "wdn_conv2d_f32"),
], ids=["3x3", "option_off", "stride2", "dilated", "cin16", "grouped", "depthwise", "5x5", "1x1_49px", "1x1_padded", "1x1_64px",
        "1x1_stride2"])
def test_conv_kernel_choice(tmp_path, attrs, cin, cout, options, size, expected):
    assert _kernels_called(tmp_path, attrs, cin, cout, options, size) == set(expected.split())

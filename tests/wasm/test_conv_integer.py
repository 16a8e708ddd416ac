"""ConvInteger runs natively on the wasm backend (the conv of quantize_dynamic models) and equals onnxruntime's
int32 output exactly at 1 and 2 threads; a QDQ Pad whose value comes from a DequantizeLinear stays in wasm."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from .test_quantize_ops import check, init, worker  # noqa: F401  (worker: the shared fixture)


@pytest.mark.parametrize("case", ["u8_i8_pads", "i8_u8_stride_group", "conv_1d", "depthwise_dilated", "no_zp"])
def test_conv_integer(tmp_path, worker, case):  # noqa: F811
    rng = np.random.default_rng(11)
    if case == "u8_i8_pads":  # the quantize_dynamic form: uint8 x, int8 w, scalar zero points, K = 27
        x = rng.integers(0, 256, (2, 3, 11, 13)).astype(np.uint8)
        w = rng.integers(-128, 128, (20, 3, 3, 3)).astype(np.int8)
        zps = [np.uint8(129), np.int8(-3)]
        attrs = {"pads": [1, 2, 0, 1]}
    elif case == "i8_u8_stride_group":
        x = rng.integers(-128, 128, (1, 8, 9, 10)).astype(np.int8)
        w = rng.integers(0, 256, (6, 4, 2, 3)).astype(np.uint8)
        zps = [np.int8(5), np.uint8(200)]
        attrs = {"strides": [2, 3], "group": 2, "pads": [1, 1, 1, 1]}
    elif case == "conv_1d":  # whisper/speech: 1-D conv (zero points of one element: onnxruntime takes no other)
        x = rng.integers(0, 256, (1, 16, 37)).astype(np.uint8)
        w = rng.integers(0, 256, (9, 16, 3)).astype(np.uint8)
        zps = [np.uint8(7), np.array([250], np.uint8)]
        attrs = {"pads": [1, 1], "strides": [2]}
    elif case == "depthwise_dilated":
        x = rng.integers(0, 256, (1, 5, 12, 12)).astype(np.uint8)
        w = rng.integers(-128, 128, (5, 1, 3, 3)).astype(np.int8)
        zps = [np.uint8(100), np.int8(0)]
        attrs = {"group": 5, "dilations": [2, 2], "pads": [2, 1, 2, 2]}
    else:
        x = rng.integers(0, 256, (1, 4, 6, 6)).astype(np.uint8)
        w = rng.integers(0, 256, (3, 4, 1, 1)).astype(np.uint8)
        zps = []
        attrs = {}
    inits = [init("w", w)] + [init(n, z) for n, z in zip(["xz", "wz"], zps)]
    names = ["x", "w"] + ["xz", "wz"][:len(zps)]
    import onnxruntime as ort  # the output shape: from onnxruntime itself
    from onnx import TensorProto
    from .test_quantize_ops import vi
    g = helper.make_graph([helper.make_node("ConvInteger", names, ["y"], **attrs)], "g", [vi("x", x.dtype, x.shape)],
                          [helper.make_tensor_value_info("y", TensorProto.INT32, None)], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 10)])
    m.ir_version = 8
    shape = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0].shape
    check(tmp_path, worker, [helper.make_node("ConvInteger", names, ["y"], **attrs)], {"x": x},
          {"y": (np.int32, shape)}, inits, opset=10)


def test_pad_value_from_dequantize(tmp_path, worker):  # noqa: F811
    """efficientnet's QDQ form: Pad(x, pads, DequantizeLinear(q)) with the value computed at run time."""
    x = np.random.default_rng(2).standard_normal((1, 3, 5, 6)).astype(np.float32)
    inits = [init("pads", np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)), init("q", np.int8(-7)),
             init("s", np.float32(0.25)), init("z", np.int8(1))]
    nodes = [helper.make_node("DequantizeLinear", ["q", "s", "z"], ["v"]),
             helper.make_node("Pad", ["x", "pads", "v"], ["y"], mode="constant")]
    check(tmp_path, worker, nodes, {"x": x}, {"y": (np.float32, (1, 3, 8, 9))}, inits, opset=13)

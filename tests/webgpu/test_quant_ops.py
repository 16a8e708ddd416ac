"""Quantized ops and the newer model families' ops on webgpu: DequantizeLinear, QuantizeLinear,
DynamicQuantizeLinear, MatMulInteger, com.microsoft MatMulNBits, ArgMax/ArgMin, Resize, ConvTranspose, Split.

Each model goes through `webdnn-build verify --backend webgpu` (Dawn in Node, compared with onnxruntime)
with every op on the GPU.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conformance.test_webgpu import _adapter
from tests.helpers import requires

from .test_index_ops import T, on_wgpu_py, typed_model, verify

pytestmark = requires(None if _adapter() else "no WebGPU adapter in Node (eval \"$(tools/setup-webgpu.sh)\")")

RNG = np.random.default_rng(7)
T.update({"uint8": TensorProto.UINT8, "int8": TensorProto.INT8})


@pytest.mark.parametrize("qtype", ["uint8", "int8"])
def test_quantize_dequantize_per_tensor_and_axis(tmp_path, qtype):
    lo = 0 if qtype == "uint8" else -128
    x = (RNG.standard_normal((2, 3, 5)) * 40).astype(np.float32)
    x[0, 0, :4] = [0.5, 1.5, 2.5, -2.5]         # halves: to even
    x[1, 2, :3] = [1e6, -1e6, np.nan]           # saturate; NaN -> the type's minimum
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"]),
             helper.make_node("QuantizeLinear", ["x", "sa", "za"], ["qa"], axis=1),
             helper.make_node("DequantizeLinear", ["qa", "sa", "za"], ["dqa"], axis=1),
             helper.make_node("QuantizeLinear", ["x", "s"], ["qn"]),                     # no zero point: uint8
             helper.make_node("DequantizeLinear", ["i32", "s"], ["d32"])]                 # int32 input
    m = typed_model(nodes, {"x": ("float32", x.shape), "i32": ("int32", (4,))},
                    {"q": (qtype, None), "dq": ("float32", None), "qa": (qtype, None), "dqa": ("float32", None),
                     "qn": ("uint8", None), "d32": ("float32", None)},
                    {"s": np.array(1.0, np.float32), "z": np.array(lo + 7, qtype),
                     "sa": np.array([0.5, 1.0, 2.0], np.float32), "za": np.array([lo, lo + 100, lo + 255], qtype)},
                    opset=13)
    feeds = {"x": x, "i32": np.array([-5, 0, 7, 1000000], np.int32)}
    verify(tmp_path, m, feeds)


def test_dynamic_quantize_matmul_integer(tmp_path):
    """quantize_dynamic's pattern: DynamicQuantizeLinear(A) · MatMulInteger with int8 constant weights."""
    w = RNG.integers(-128, 128, (40, 9)).astype(np.int8)
    nodes = [helper.make_node("DynamicQuantizeLinear", ["a"], ["aq", "as", "az"]),
             helper.make_node("MatMulInteger", ["aq", "w", "az"], ["y"]),
             helper.make_node("MatMulInteger", ["aq", "wu", "az", "wz"], ["yu"]),           # uint8 B, per-column zp
             helper.make_node("MatMulInteger", ["ai", "bi"], ["yb"])]                        # batched, computed int8
    m = typed_model(nodes, {"a": ("float32", (2, 5, 40)), "ai": ("int8", (3, 4, 17)), "bi": ("int8", (3, 17, 6))},
                    {"aq": ("uint8", None), "as": ("float32", None), "az": ("uint8", None), "y": ("int32", None),
                     "yu": ("int32", None), "yb": ("int32", None)},
                    {"w": w, "wu": RNG.integers(0, 256, (40, 9)).astype(np.uint8),
                     "wz": RNG.integers(0, 256, (9,)).astype(np.uint8)}, opset=13)
    feeds = {"a": (RNG.standard_normal((2, 5, 40)) * 3 + 1).astype(np.float32),
             "ai": RNG.integers(-128, 128, (3, 4, 17)).astype(np.int8),
             "bi": RNG.integers(-128, 128, (3, 17, 6)).astype(np.int8)}
    verify(tmp_path, m, feeds)


def _nbits_model(k, n, block, zp_kind, bias):
    blocks = -(-k // block)
    codes = RNG.integers(0, 16, (n, blocks * block)).astype(np.uint8)
    packed = (codes[:, 0::2] | (codes[:, 1::2] << 4)).reshape(n, blocks, block // 2)
    inits = {"b": packed, "scales": (RNG.random(n * blocks) * 0.1 + 0.01).astype(np.float32)}
    ins = ["a", "b", "scales"]
    if zp_kind == "packed":
        zc = RNG.integers(0, 16, (n, 2 * (-(-blocks // 2)))).astype(np.uint8)
        inits["zp"] = (zc[:, 0::2] | (zc[:, 1::2] << 4))
        ins.append("zp")
    elif zp_kind == "float":
        inits["zp"] = (RNG.random(n * blocks) * 15).astype(np.float32)
        ins.append("zp")
    if bias:
        inits["bias"] = RNG.standard_normal(n).astype(np.float32)
        ins += [""] * (5 - len(ins)) + ["bias"]
    node = helper.make_node("MatMulNBits", ins, ["y"], domain="com.microsoft", K=k, N=n, bits=4, block_size=block)
    graph = helper.make_graph([node], "t", [helper.make_tensor_value_info("a", TensorProto.FLOAT, (2, 3, k))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, (2, 3, n))],
                              initializer=[numpy_helper.from_array(v, kk) for kk, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("k,n,block,zp_kind,bias", [(64, 10, 32, None, False), (80, 7, 16, "packed", True),
                                                      (96, 5, 32, "float", False)])
def test_matmul_nbits(tmp_path, k, n, block, zp_kind, bias):
    m = _nbits_model(k, n, block, zp_kind, bias)
    verify(tmp_path, m, {"a": RNG.standard_normal((2, 3, k)).astype(np.float32)})


def test_argmax_argmin(tmp_path):
    nodes = [helper.make_node("ArgMax", ["ids"], ["am"], axis=-1, keepdims=0),              # clip_text: int32 ids
             helper.make_node("ArgMin", ["x"], ["an"], axis=1),
             helper.make_node("ArgMax", ["x"], ["al"], axis=0, select_last_index=1)]
    x = RNG.integers(-3, 3, (3, 4, 5)).astype(np.float32)
    m = typed_model(nodes, {"ids": ("int32", (2, 9)), "x": ("float32", x.shape)},
                    {"am": ("int64", None), "an": ("int64", None), "al": ("int64", None)})
    verify(tmp_path, m, {"ids": RNG.integers(0, 50000, (2, 9)).astype(np.int32), "x": x})


RESIZE_CASES = [
    ("nearest", "asymmetric", "floor", (1, 2, 3, 4), [1, 1, 2, 2]),
    ("nearest", "half_pixel", "round_prefer_floor", (1, 2, 5, 4), [1, 1, 1.6, 0.5]),
    ("nearest", "align_corners", "round_prefer_ceil", (1, 1, 4, 3), [1, 1, 2.5, 3]),
    ("nearest", "pytorch_half_pixel", "ceil", (2, 1, 3, 3), [1, 1, 0.7, 2]),
    ("linear", "half_pixel", None, (1, 2, 3, 4), [1, 1, 2, 2]),
    ("linear", "pytorch_half_pixel", None, (1, 2, 6, 5), [1, 1, 0.5, 1.6]),
    ("linear", "asymmetric", None, (1, 1, 4, 4), [1, 1, 1.5, 3]),
    ("linear", "align_corners", None, (2, 2, 3, 5), [1, 1, 2, 0.6]),
]


@pytest.mark.parametrize("mode,ctm,nm,shape,scales", RESIZE_CASES)
def test_resize(tmp_path, mode, ctm, nm, shape, scales):
    attrs = {"mode": mode, "coordinate_transformation_mode": ctm}
    if nm:
        attrs["nearest_mode"] = nm
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], **attrs)
    m = typed_model([node], {"x": ("float32", shape)}, {"y": ("float32", None)},
                    {"scales": np.array(scales, np.float32)}, opset=13)
    verify(tmp_path, m, {"x": RNG.standard_normal(shape).astype(np.float32)})


def test_resize_sizes_int_data(tmp_path):
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest")
    m = typed_model([node], {"x": ("int32", (1, 2, 3, 3))}, {"y": ("int32", None)},
                    {"sizes": np.array([1, 2, 7, 5], np.int64)}, opset=13)
    verify(tmp_path, m, {"x": RNG.integers(-50, 50, (1, 2, 3, 3)).astype(np.int32)})


@pytest.mark.parametrize("attrs,wshape,xshape", [
    ({"strides": [2, 2]}, (4, 3, 2, 2), (1, 4, 5, 5)),                                        # unet upsampling
    ({"strides": [2, 3], "pads": [1, 0, 0, 2], "output_padding": [1, 2]}, (3, 2, 3, 4), (2, 3, 4, 3)),
    ({"group": 2, "dilations": [2, 1], "pads": [1, 1, 1, 1]}, (4, 3, 3, 3), (1, 4, 4, 6)),
    ({"strides": [2]}, (3, 2, 3), (1, 3, 7)),                                                 # 1-D
])
def test_convtranspose(tmp_path, attrs, wshape, xshape):
    w = RNG.standard_normal(wshape).astype(np.float32)
    b = RNG.standard_normal(wshape[1] * attrs.get("group", 1)).astype(np.float32)
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], **attrs)
    m = typed_model([node], {"x": ("float32", xshape)}, {"y": ("float32", None)}, {"w": w, "b": b})
    feeds = {"x": RNG.standard_normal(xshape).astype(np.float32)}
    verify(tmp_path, m, feeds)


def test_split_and_softmax_axis(tmp_path):
    nodes = [helper.make_node("Split", ["x", "sizes"], ["a", "b", "c"], axis=1),               # yolov8
             helper.make_node("Split", ["xi"], ["p", "q"], axis=-1, num_outputs=2),
             helper.make_node("Softmax", ["x"], ["sm"], axis=1),                               # not the last axis
             helper.make_node("ReduceMean", ["x", "axes"], ["rm"], keepdims=0)]
    m = typed_model(nodes, {"x": ("float32", (2, 6, 3)), "xi": ("int64", (3, 4))},
                    {"a": ("float32", None), "b": ("float32", None), "c": ("float32", None),
                     "p": ("int64", None), "q": ("int64", None), "sm": ("float32", None), "rm": ("float32", None)},
                    {"sizes": np.array([1, 3, 2], np.int64), "axes": np.array([0, 2], np.int64)}, opset=18)
    feeds = {"x": RNG.standard_normal((2, 6, 3)).astype(np.float32), "xi": RNG.integers(-9, 9, (3, 4)).astype(np.int64)}
    verify(tmp_path, m, feeds)
    on_wgpu_py(tmp_path, m, feeds)

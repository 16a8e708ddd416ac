"""Integer and extra unary elementwise ops on webgpu: Mod (fmod 0/1), Bitwise*, BitShift, Max/Min/Neg/Abs and
arithmetic on 8/16-bit integers (wrapping at their width), comparisons on them, inverse trig / hyperbolic
functions; every op on the GPU, checked against onnxruntime through `webdnn-build verify --backend webgpu`."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from tests.conformance.test_webgpu import _adapter
from tests.helpers import requires

from .test_index_ops import T, typed_model, verify

pytestmark = requires(None if _adapter() else "no WebGPU adapter in Node (eval \"$(tools/setup-webgpu.sh)\")")

RNG = np.random.default_rng(5)
T.update({"uint8": TensorProto.UINT8, "int8": TensorProto.INT8, "int16": TensorProto.INT16,
          "uint16": TensorProto.UINT16, "uint32": TensorProto.UINT32})


def test_integer_ops(tmp_path):
    nodes = [helper.make_node("Mod", ["a", "b"], ["mod0"]),
             helper.make_node("Mod", ["a", "b"], ["mod1"], fmod=1),
             helper.make_node("Add", ["a", "b"], ["add8"]),                  # wraps at 8 bits
             helper.make_node("Mul", ["a", "b"], ["mul8"]),
             helper.make_node("Neg", ["a"], ["neg8"]),
             helper.make_node("Max", ["a", "b", "a"], ["max8"]),
             helper.make_node("Less", ["a", "b"], ["lt8"]),
             helper.make_node("BitwiseAnd", ["a", "b"], ["and8"]),
             helper.make_node("BitwiseNot", ["u"], ["notu"]),
             helper.make_node("BitwiseXor", ["u", "v"], ["xoru"]),
             helper.make_node("BitShift", ["u", "s"], ["shl"], direction="LEFT"),
             helper.make_node("BitShift", ["u", "s"], ["shr"], direction="RIGHT"),
             helper.make_node("Sub", ["u", "v"], ["subu"]),                  # wraps below 0
             helper.make_node("Div", ["u", "v"], ["divu"]),
             helper.make_node("Min", ["w", "w2"], ["minw"]),
             helper.make_node("Mod", ["f", "g"], ["modf"], fmod=1)]
    a = RNG.integers(-128, 128, (3, 8)).astype(np.int8)
    b = RNG.integers(-128, 128, (3, 8)).astype(np.int8)
    b[b == 0] = 3
    m = typed_model(nodes, {"a": ("int8", (3, 8)), "b": ("int8", (3, 8)), "u": ("uint8", (3, 8)), "v": ("uint8", (3, 8)),
                            "s": ("uint8", (8,)), "w": ("uint32", (4,)), "w2": ("uint32", (4,)),
                            "f": ("float32", (5,)), "g": ("float32", (5,))},
                    {"mod0": ("int8", None), "mod1": ("int8", None), "add8": ("int8", None), "mul8": ("int8", None),
                     "neg8": ("int8", None), "max8": ("int8", None), "lt8": ("bool", None), "and8": ("int8", None),
                     "notu": ("uint8", None), "xoru": ("uint8", None), "shl": ("uint8", None), "shr": ("uint8", None),
                     "subu": ("uint8", None), "divu": ("uint8", None), "minw": ("uint32", None), "modf": ("float32", None)},
                    opset=18)
    v = RNG.integers(1, 256, (3, 8)).astype(np.uint8)
    feeds = {"a": a, "b": b, "u": RNG.integers(0, 256, (3, 8)).astype(np.uint8), "v": v,
             "s": np.arange(8, dtype=np.uint8), "w": np.array([0, 7, 4000000000, 5], np.uint32),
             "w2": np.array([1, 3, 3000000000, 5], np.uint32),
             "f": np.array([5.5, -5.5, 7.25, -0.5, 3.0], np.float32), "g": np.array([2.0, 2.0, -3.0, 0.3, -2.0], np.float32)}
    verify(tmp_path, m, feeds)


def test_inverse_trig_hyperbolic(tmp_path):
    ops = ["Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Atanh"]
    x = np.concatenate([np.linspace(-0.95, 0.95, 37), [1e-4, -3e-3, 0.1]]).astype(np.float32)
    nodes = [helper.make_node(op, ["x"], [op.lower()]) for op in ops] + [helper.make_node("Acosh", ["y"], ["acosh"])]
    m = typed_model(nodes, {"x": ("float32", x.shape), "y": ("float32", x.shape)},
                    {o.lower(): ("float32", None) for o in ops + ["Acosh"]})
    verify(tmp_path, m, {"x": x, "y": (1.0 + np.abs(x) * 5).astype(np.float32)})

"""Each WGSL kernel family against onnxruntime, run by the Python plan executor on wgpu-py.

Every case runs with the plan's workgroup sizes and with odd ones (kernels must be correct for
any override value), and 1-D dispatches folded into two dimensions.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from .common import model, run_and_compare

RNG = np.random.default_rng(0)
ODD = [{}, {"wg_overrides": {"WG_X": 7, "WG_Y": 3}, "max_workgroups_per_dim": 5}]


def r(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, shape).astype(np.float32)


def test_binary_broadcast_and_fused_chain(tmp_path):
    nodes = [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("Relu", ["s"], ["t"]),
             helper.make_node("Mul", ["t", "half"], ["u"]), helper.make_node("Sub", ["u", "c"], ["y"])]
    m = model(nodes, {"a": (2, 3, 4, 5), "b": (3, 1, 5), "c": (5,)}, {"y": (2, 3, 4, 5)},
              {"half": np.array(0.5, np.float32)})
    plan = run_and_compare(tmp_path, m, {"a": r(2, 3, 4, 5), "b": r(3, 1, 5), "c": r(5)}, runner_kwargs=ODD)
    gpu = [s["gpu"] for s in plan["steps"]]
    assert len(gpu) == 1 and gpu[0]["op"] == "Add+Mul+Sub"  # the Relu is fused onto the Add by the optimizer


@pytest.mark.parametrize("op", ["Sigmoid", "Tanh", "Exp", "Abs", "Neg", "Erf", "Softplus", "HardSwish", "Elu",
                                "Gelu", "Sqrt", "Log", "Floor", "Reciprocal", "Mish"])
def test_unary(tmp_path, op, request):
    opset = 20 if op in ("Gelu", "Mish") else 17
    lo = 0.1 if op in ("Sqrt", "Log", "Reciprocal") else -4.0
    x = r(3, 17, lo=lo, hi=4.0)
    if lo < 0:  # where naive formulas cancel: tiny tanh arguments, softplus of very negative x
        x[0, :4] = [-12.0, -9.5, 1e-4, -3e-3]
    m = model([helper.make_node(op, ["x"], ["y"])], {"x": (3, 17)}, {"y": (3, 17)}, opset=opset)
    run_and_compare(tmp_path, m, {"x": x}, rtol=2e-4, atol=1e-7 if op in ("Tanh", "Mish", "Softplus") else 1e-5)


def test_pow_clip_leaky_max_variadic(tmp_path):
    nodes = [helper.make_node("Pow", ["x", "two"], ["p"]), helper.make_node("Clip", ["p", "lo", "hi"], ["c"]),
             helper.make_node("LeakyRelu", ["x"], ["l"], alpha=0.2), helper.make_node("Max", ["c", "l", "z"], ["y"])]
    m = model(nodes, {"x": (4, 9), "z": (9,)}, {"y": (4, 9)},
              {"two": np.array(2.0, np.float32), "lo": np.array(0.1, np.float32), "hi": np.array(0.7, np.float32)})
    run_and_compare(tmp_path, m, {"x": r(4, 9, lo=-2, hi=2), "z": r(9)})


@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm(tmp_path, ta, tb):
    m_, k, n = 19, 37, 23
    a = r(k, m_) if ta else r(m_, k)
    b = r(n, k) if tb else r(k, n)
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=ta, transB=tb, alpha=0.5, beta=2.0)
    m = model([node], {"a": a.shape}, {"y": (m_, n)}, {"b": b, "c": r(n)})
    run_and_compare(tmp_path, m, {"a": a}, runner_kwargs=ODD)


@pytest.mark.parametrize("a_shape,b_shape", [((5, 7), (7, 3)), ((2, 3, 5, 7), (7, 9)), ((2, 3, 5, 7), (3, 7, 4)),
                                             ((1, 3, 5, 7), (2, 1, 7, 4)), ((7,), (7, 4))])
def test_matmul(tmp_path, a_shape, b_shape):
    out = tuple(np.matmul(np.zeros(a_shape), np.zeros(b_shape)).shape)
    m = model([helper.make_node("MatMul", ["a", "b"], ["y"])], {"a": a_shape, "b": b_shape}, {"y": out})
    run_and_compare(tmp_path, m, {"a": r(*a_shape), "b": r(*b_shape)}, runner_kwargs=ODD)


CONVS = [
    dict(x=(1, 3, 13, 11), w=(8, 3, 3, 3), pads=[1, 1, 1, 1]),
    dict(x=(2, 4, 9, 9), w=(6, 4, 1, 1)),
    dict(x=(1, 4, 15, 15), w=(5, 4, 3, 5), strides=[2, 3], dilations=[1, 2], pads=[0, 2, 1, 0]),
    dict(x=(1, 8, 10, 10), w=(8, 1, 3, 3), group=8, pads=[1, 1, 1, 1], strides=[2, 2]),   # depthwise: direct
    dict(x=(1, 8, 6, 6), w=(4, 4, 3, 3), group=2),                                        # grouped GEMM
    dict(x=(1, 4, 20), w=(3, 4, 5), pads=[2, 2]),                                          # 1-D
]


@pytest.mark.parametrize("case", range(len(CONVS)))
def test_conv(tmp_path, case):
    c = dict(CONVS[case])
    x, w = c.pop("x"), c.pop("w")
    import onnx.reference
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **c)
    out = onnx.reference.ReferenceEvaluator(node).run(None, {"x": np.zeros(x, np.float32), "w": np.zeros(w, np.float32),
                                                             "b": np.zeros(w[0], np.float32)})[0].shape
    m = model([node, helper.make_node("Relu", ["y"], ["z"])], {"x": x}, {"z": out}, {"w": r(*w), "b": r(w[0])})
    run_and_compare(tmp_path, m, {"x": r(*x)}, runner_kwargs=ODD)


def test_conv_residual_add_fused(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", "x"], ["s"]), helper.make_node("Relu", ["s"], ["y"])]
    m = model(nodes, {"x": (1, 4, 7, 7)}, {"y": (1, 4, 7, 7)}, {"w": r(4, 4, 3, 3), "b": r(4)})
    plan = run_and_compare(tmp_path, m, {"x": r(1, 4, 7, 7)})
    ops = [s["gpu"]["op"] for s in plan["steps"]]
    assert ops == ["Conv"] and len(plan["steps"][0]["gpu"]["bindings"]) == 4  # x, w, b (x again as the residual: bound once), y


@pytest.mark.parametrize("op,attrs", [
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    ("MaxPool", dict(kernel_shape=[2, 2], ceil_mode=1, strides=[2, 2], dilations=[1, 1])),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, count_include_pad=1)),
])
def test_pool(tmp_path, op, attrs):
    import onnx.reference
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    out = onnx.reference.ReferenceEvaluator(node).run(None, {"x": np.zeros((1, 3, 10, 10), np.float32)})[0].shape
    run_and_compare(tmp_path, model([node], {"x": (1, 3, 10, 10)}, {"y": out}), {"x": r(1, 3, 10, 10)})


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pool(tmp_path, op):
    m = model([helper.make_node(op, ["x"], ["y"])], {"x": (2, 5, 9, 13)}, {"y": (2, 5, 1, 1)})
    run_and_compare(tmp_path, m, {"x": r(2, 5, 9, 13)}, runner_kwargs=ODD)


@pytest.mark.parametrize("op,axis,opset", [("Softmax", -1, 17), ("Softmax", 1, 17), ("LogSoftmax", -1, 17),
                                           ("Softmax", 1, 11)])
def test_softmax(tmp_path, op, axis, opset):
    m = model([helper.make_node(op, ["x"], ["y"], axis=axis)], {"x": (3, 4, 300)}, {"y": (3, 4, 300)}, opset=opset)
    run_and_compare(tmp_path, m, {"x": r(3, 4, 300, lo=-5, hi=5)}, runner_kwargs=ODD)


@pytest.mark.parametrize("op,axes,keep", [("ReduceMean", [-1], 1), ("ReduceSum", [1, 2], 0), ("ReduceMax", [0, 2], 1),
                                          ("ReduceMin", [1], 1), ("ReduceL2", None, 0), ("ReduceSumSquare", [2], 1)])
def test_reduce(tmp_path, op, axes, keep):
    x = r(3, 4, 5)
    out = x
    inits = {}
    inputs = ["x"]
    if axes is not None:
        inits["axes"] = np.array(axes, np.int64)
        inputs.append("axes")
    node = helper.make_node(op, inputs, ["y"], keepdims=keep)
    import onnx.reference
    out = onnx.reference.ReferenceEvaluator(model([node], {"x": x.shape}, {"y": None}, inits, opset=18)).run(None, {"x": x})[0]
    m = model([node], {"x": x.shape}, {"y": out.shape}, inits, opset=18)
    run_and_compare(tmp_path, m, {"x": x}, runner_kwargs=ODD)


def test_norms(tmp_path):
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "mu", "var"], ["bn"]),
             helper.make_node("InstanceNormalization", ["bn", "s", "b"], ["inn"]),
             helper.make_node("LayerNormalization", ["inn", "ls", "lb"], ["ln"], axis=-2),
             helper.make_node("LRN", ["ln"], ["y"], size=3, alpha=0.01, beta=0.75, bias=1.5)]
    inits = {"s": r(4, lo=0.5), "b": r(4), "mu": r(4), "var": r(4, lo=0.5, hi=2), "ls": r(6, 7), "lb": r(7)}
    m = model(nodes, {"x": (2, 4, 6, 7)}, {"y": (2, 4, 6, 7)}, inits)
    run_and_compare(tmp_path, m, {"x": r(2, 4, 6, 7)}, passes=[], runner_kwargs=ODD)


def test_data_movement(tmp_path):
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
             helper.make_node("Slice", ["t", "st", "en", "ax", "sp"], ["s"]),
             helper.make_node("Concat", ["s", "s2"], ["c"], axis=1),
             helper.make_node("Reshape", ["c", "shape"], ["rs"]),
             helper.make_node("Gather", ["rs", "idx"], ["g"], axis=1),
             helper.make_node("Expand", ["g", "eshape"], ["e"]),
             helper.make_node("Pad", ["e", "pads"], ["y"], mode="reflect")]
    inits = {"st": np.array([1, 5], np.int64), "en": np.array([4, 0], np.int64), "ax": np.array([1, 3], np.int64),
             "sp": np.array([1, -2], np.int64), "shape": np.array([2, -1], np.int64),
             "idx": np.array([[0, 3], [5, -1]], np.int64), "eshape": np.array([3, 2, 2, 2], np.int64),
             "pads": np.array([0, 0, 1, 0, 0, 0, 1, 1], np.int64)}
    # x [2,3,4,6] -> t [2,4,6,3] -> s [2,3,6,1] ; s2 [2,1,6,1] -> c [2,4,6,1] -> rs [2,24] -> g [2,2,2] -> e [3,2,2,2]
    m = model(nodes, {"x": (2, 3, 4, 6), "s2": (2, 1, 6, 1)}, {"y": (3, 2, 4, 3)}, inits)
    run_and_compare(tmp_path, m, {"x": r(2, 3, 4, 6), "s2": r(2, 1, 6, 1)}, runner_kwargs=ODD)

"""expand_functions: ONNX ops without a native kernel become their ONNX function body, when every part
of the body then runs natively; the bundle matches onnxruntime (verify: rtol 1e-4 against the scale,
``webdnn-build verify``'s default) with every op on the wasm kernels."""

from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

from webdnn_build.ir import Graph, Node, Value
from webdnn_build.registry import PassContext
from webdnn_build_optimize.passes import expand_functions

from ..wasm.verify_helper import verify_on_wasm


def test_rms_normalization_runs_on_wasm_kernels(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    scale = numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "scale")
    node = helper.make_node("RMSNormalization", ["x", "scale"], ["y"], axis=-1, epsilon=1e-5)
    verify_on_wasm(tmp_path, [node], {"x": x}, {"y": ("float32", (2, 5, 8))}, inits=[scale], opset=23)


def test_softmax_cross_entropy_expands_through_nested_nll(tmp_path):
    """SoftmaxCrossEntropyLoss's body holds a NegativeLogLikelihoodLoss, whose body is expanded in turn."""
    rng = np.random.default_rng(1)
    scores = rng.standard_normal((3, 5, 2)).astype(np.float32)
    labels = rng.integers(0, 5, size=(3, 2)).astype(np.int64)
    weight = numpy_helper.from_array(rng.uniform(0.5, 1.5, 5).astype(np.float32), "w")
    node = helper.make_node("SoftmaxCrossEntropyLoss", ["scores", "labels", "w"], ["loss"], reduction="mean")
    verify_on_wasm(tmp_path, [node], {"scores": scores, "labels": labels}, {"loss": ("float32", ())},
                   inits=[weight], opset=13)


def _graph_with(node: Node, values: list[Value], opset: int) -> Graph:
    g = Graph(name="g", opsets={"": opset})
    for v in values:
        g.values[v.name] = v
    g.inputs = [v.name for v in values if v.const is None and v.name in node.inputs]
    g.outputs = list(node.outputs)
    g.nodes = [node]
    return g


def test_nothing_expands_without_a_native_backend():
    node = Node("Swish", ["x"], ["y"], {}, "", "swish")
    g = _graph_with(node, [Value("x", "float32", (4,)), Value("y", "float32", (4,))], 24)
    assert expand_functions.run(g, PassContext()) is False  # js only: its kernel runs Swish
    assert [n.op_type for n in g.nodes] == ["Swish"]


def test_a_body_with_a_part_no_backend_runs_natively_is_left_alone():
    """Only Sigmoid is "native" here: Swish's body (Mul, Sigmoid, Mul) would swap one js step for two."""
    node = Node("Swish", ["x"], ["y"], {}, "", "swish")
    g = _graph_with(node, [Value("x", "float32", (4,)), Value("y", "float32", (4,))], 24)
    ctx = PassContext(runs_natively=lambda n, graph: n.op_type == "Sigmoid")
    assert expand_functions.run(g, ctx) is False
    assert [n.op_type for n in g.nodes] == ["Swish"] and set(g.values) == {"x", "y"}


def test_expansion_keeps_the_node_names_and_values_unique():
    node = Node("Swish", ["x"], ["y"], {"alpha": 0.5}, "", "swish")
    g = _graph_with(node, [Value("x", "float32", (4,)), Value("y", "float32", (4,))], 24)
    ctx = PassContext(runs_natively=lambda n, graph: n.op_type != "Swish")
    assert expand_functions.run(g, ctx) is True
    assert [n.op_type for n in g.nodes] == ["Mul", "Sigmoid", "Mul"]
    assert g.nodes[-1].outputs == ["y"] and g.inputs == ["x"]
    assert all(n.name.startswith("swish/") for n in g.nodes)
    made = [o for n in g.nodes for o in n.outputs if o != "y"]
    assert len(set(made)) == len(made) and all(name.startswith("swish/") for name in made)
    alpha = next(v for v in g.values.values() if v.is_const and v.name.startswith("swish/"))
    assert float(alpha.const) == 0.5


def test_attributes_left_at_their_default_reach_the_body(tmp_path):
    """MeanVarianceNormalization without ``axes``: the body must reduce over the default [0, 2, 3]."""
    x = np.random.default_rng(2).standard_normal((3, 4, 2, 2)).astype(np.float32)
    node = helper.make_node("MeanVarianceNormalization", ["x"], ["y"])
    verify_on_wasm(tmp_path, [node], {"x": x}, {"y": ("float32", (3, 4, 2, 2))}, opset=13)

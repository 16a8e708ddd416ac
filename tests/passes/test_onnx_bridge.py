"""The IR → ONNX bridge the pass tests and fold_constants rely on."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import AttributeProto

from webdnn_build.ir import Graph, Node, Value
from webdnn_build_optimize.onnx_bridge import attribute_to_proto, graph_to_model, node_to_onnx

from .graphs import run_onnxruntime


def test_attributes_follow_the_schema() -> None:
    assert attribute_to_proto("alpha", 1, "LeakyRelu", "", 17).type == AttributeProto.FLOAT
    assert attribute_to_proto("perm", (1, 0), "Transpose", "", 17).type == AttributeProto.INTS
    assert attribute_to_proto("value", np.ones(2, np.float32), "Constant", "", 17).type == AttributeProto.TENSOR
    assert attribute_to_proto("mode", b"constant", "Pad", "", 17).s == b"constant"
    assert attribute_to_proto("custom", [], "MyOp", "x", 1).type == AttributeProto.INTS


def test_fused_activation_becomes_a_node() -> None:
    node = Node("MatMul", ["a", "b"], ["y"], {"fused_activation": "Clip", "fused_activation_min": 0.0, "fused_activation_max": 6.0})
    protos, inits = node_to_onnx(node, 17)
    assert [p.op_type for p in protos] == ["MatMul", "Clip"]
    assert protos[1].output == ["y"] and protos[0].output[0] == protos[1].input[0]
    assert not any(a.name.startswith("fused_activation") for a in protos[0].attribute)
    assert sorted(float(onnx.numpy_helper.to_array(t)) for t in inits) == [0.0, 6.0]


def test_graph_with_symbolic_dims_runs() -> None:
    g = Graph(opsets={"": 17})
    g.values["x"] = Value("x", "float32", ("N", 3))
    g.values["w"] = Value("w", "float32", (3, 2), np.ones((3, 2), np.float32))
    g.values["y"] = Value("y", "float32", ("N", 2))
    g.inputs, g.outputs = ["x"], ["y"]
    g.nodes.append(Node("MatMul", ["x", "w"], ["y"], {"fused_activation": "Relu"}))
    model = graph_to_model(g)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    x = np.array([[1, 2, 3], [-1, -2, -3]], np.float32)
    np.testing.assert_array_equal(run_onnxruntime(model, {"x": x})["y"], [[6, 6], [0, 0]])

"""A backend plugin ships its runtime part in the bundle (issue 12, item 2, first step): the toy backend below (a
Python backend that only runs Relu) writes `toyrelu/runtime.js`, an ES module exporting `backend = { create }`,
and names it in its manifest entry (`runtime`). load(..., { backends: ['toyrelu'] }) in a Node worker that imported
nothing registers it through the runtime's public registerBackend() and runs it; the result equals onnxruntime's.
A corrupted runtime module is refused (its digest is in `integrity`) and the load falls back to the next backend
with the reason in the fallback log. The built-in backends are registered through the same interface
(js-runtime/test/backends-registry.test.js)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import helper

from webdnn_build.compiler import BuildOptions, compile_model
from webdnn_build.node import NodeWorker
from webdnn_build.plugins import get_host
from webdnn_build.registry import BackendArtifact
from webdnn_build.verify import run_onnxruntime

from .helpers import float_input, save_model

RUNTIME_JS = """// The toy backend's runtime part: y = max(x, 0), the op its program names.
export const backend = {
  async create(bundle, entry) {
    const program = await bundle.readJSON(entry.program, 'manifest.json "backends.toyrelu.program"');
    return {
      run(feeds) {
        const x = feeds.get(program.input);
        const data = Float32Array.from(x.data, (v) => (v > 0 ? v : 0));
        return new Map([[program.output, { dtype: 'float32', shape: [...x.shape], data }]]);
      },
      dispose() {},
    };
  },
};
"""


class ToyReluBackend:
    """Runs a graph of one Relu, in JS shipped with the bundle."""

    name = "toyrelu"
    options = ()

    def supported_ops(self):
        return {("", "Relu")}

    def storage_bytes(self, dtype):
        return 4 if dtype == "float32" else None

    def generate(self, graph, ctx):
        (node,) = graph.nodes
        program = json.dumps({"input": node.inputs[0], "output": node.outputs[0]}).encode()
        return BackendArtifact(files={"program.json": program, "runtime.js": RUNTIME_JS.encode()},
                               manifest={"program": "toyrelu/program.json", "runtime": "toyrelu/runtime.js"},
                               placement={"native": 1, "fallback": 0})


@pytest.fixture
def toy_backend():
    registry = get_host().registry
    registry.add_backend(ToyReluBackend())
    yield
    del registry.backends["toyrelu"]


def _build(tmp_path):
    model = save_model([helper.make_node("Relu", ["x"], ["y"])], [float_input("x", [2, 8])], [float_input("y", [2, 8])],
                       tmp_path / "relu.onnx")
    out = tmp_path / "bundle"
    result = compile_model(model, out, BuildOptions(backends=["toyrelu", "js"]), log=lambda m: None)
    assert result.manifest["backends"]["toyrelu"]["runtime"] == "toyrelu/runtime.js"
    assert "toyrelu/runtime.js" in result.manifest["integrity"]
    return model, out


def test_the_bundle_brings_its_backend_and_load_registers_it(toy_backend, tmp_path):
    model, out = _build(tmp_path)
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8)
    with NodeWorker() as w:
        info = w.load(out, ["toyrelu", "js"], None)
        assert info["backend"] == "toyrelu", info
        outputs, _ = w.run(info["handle"], {"x": x}, {"x": "float32"})
    np.testing.assert_array_equal(dict(outputs)["y"], run_onnxruntime(model, {"x": x})["y"])


def test_a_corrupted_backend_module_is_refused_and_the_load_falls_back(toy_backend, tmp_path):
    _, out = _build(tmp_path)
    (out / "toyrelu" / "runtime.js").write_text(RUNTIME_JS.replace("v > 0", "v < 0"))
    with NodeWorker() as w:
        info = w.load(out, ["toyrelu", "js"], None)
    assert info["backend"] == "js", info
    (entry,) = [f for f in info["fallbackLog"] if f["backend"] == "toyrelu"]
    assert "toyrelu/runtime.js is corrupted" in entry["reason"], entry

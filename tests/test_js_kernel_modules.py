"""JS kernels shipped in the bundle (issue 12, item 1, first step): a plugin registers an ES module with
``registry.add_js_kernel(domain, ops, path)``; the compiler copies it into every bundle whose graph uses those ops
(``kernels/<digest>.js``, listed in the manifest and in ``integrity``), every backend that runs js kernels supports
the op (js; wasm and webgpu as a js step), and the runtime registers the kernels when it loads the bundle: the Node
worker here imports nothing (no ``registerKernel`` call anywhere). Results equal numpy's float32 x³ exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import helper

from webdnn_build.compiler import BuildOptions, compile_model
from webdnn_build.errors import PluginError, WebDNNError
from webdnn_build.node import NodeWorker
from webdnn_build.plugins import get_host

from .helpers import custom_op_model, float_input, save_model

DOMAIN = "example.jskernels"

CUBE_JS = """// y = x * x * x in float32 (one rounding per multiply, as numpy)
export const kernels = {
  Cube([x], attrs, ctx) {
    const y = ctx.output(0, x.shape, x.dtype);
    for (let i = 0; i < y.data.length; i++) y.data[i] = Math.fround(Math.fround(x.data[i] * x.data[i]) * x.data[i]);
    return [y];
  },
};
"""


@pytest.fixture
def cube_js(tmp_path):
    module = tmp_path / "cube.js"
    module.write_text(CUBE_JS)
    registry = get_host().registry
    registry.add_js_kernel(DOMAIN, ["Cube"], module)
    yield module
    registry.js_kernels[:] = [m for m in registry.js_kernels if m.domain != DOMAIN]


def _model(tmp_path, shape=(3, 50)):
    return custom_op_model(tmp_path / "cube.onnx", "Cube", DOMAIN, shape)


def test_the_bundle_carries_the_kernel_and_every_backend_runs_it(cube_js, tmp_path):
    out = tmp_path / "bundle"
    result = compile_model(_model(tmp_path), out, BuildOptions(backends=["js", "wasm", "webgpu"]), log=lambda m: None)
    (entry,) = result.manifest["kernels"]
    assert entry["domain"] == DOMAIN and entry["ops"] == ["Cube"] and entry["file"].startswith("kernels/")
    assert (out / entry["file"]).read_text() == CUBE_JS and entry["file"] in result.manifest["integrity"]
    assert result.manifest["backends"]["wasm"]["placement"] == {"native": 1, "fallback": 1,
                                                              "fallback_ops": [f"{DOMAIN}.Cube"]}
    x = np.random.default_rng(0).standard_normal((3, 50)).astype(np.float32)
    want = np.maximum(x * x * x, 0)
    with NodeWorker() as w:
        for backend in ("js", "wasm", "webgpu"):
            info = w.load(out, [backend], None)
            assert info["backend"] == backend
            outputs, _ = w.run(info["handle"], {"x": x}, {"x": "float32"})
            np.testing.assert_array_equal(dict(outputs)["y"], want, err_msg=backend)


def test_a_tampered_kernel_module_is_refused(cube_js, tmp_path):
    out = tmp_path / "bundle"
    result = compile_model(_model(tmp_path), out, BuildOptions(backends=["js"]), log=lambda m: None)
    module = out / result.manifest["kernels"][0]["file"]
    module.write_text(CUBE_JS.replace("x.data[i]) * x.data[i]", "x.data[i]) * 2"))
    with NodeWorker() as w, pytest.raises(Exception, match=r"kernels/[0-9a-f]{16}\.js is corrupted"):
        w.load(out, ["js"], None)


def test_a_bundle_without_the_custom_op_carries_no_kernel(cube_js, tmp_path):
    save_model([helper.make_node("Relu", ["x"], ["y"])], [float_input("x", [4])], [float_input("y", [4])],
               tmp_path / "relu.onnx")
    result = compile_model(tmp_path / "relu.onnx", tmp_path / "b", BuildOptions(backends=["js"]), log=lambda m: None)
    assert "kernels" not in result.manifest and not (tmp_path / "b" / "kernels").exists()


def test_without_the_plugin_the_custom_op_is_unsupported_and_bad_registrations_are_refused(tmp_path):
    with pytest.raises(WebDNNError, match="Cube"):
        compile_model(_model(tmp_path), tmp_path / "b", BuildOptions(backends=["js"]), log=lambda m: None)
    registry = get_host().registry
    with pytest.raises(PluginError, match="is not a file"):
        registry.add_js_kernel(DOMAIN, ["Cube"], tmp_path / "missing.js")
    with pytest.raises(PluginError, match="custom domain"):
        registry.add_js_kernel("", ["Cube"], __file__)
    assert not [m for m in registry.js_kernels if m.domain == DOMAIN]


def test_the_manifest_kernels_list_is_checked(cube_js, tmp_path):
    out = tmp_path / "bundle"
    compile_model(_model(tmp_path), out, BuildOptions(backends=["js"]), log=lambda m: None)
    manifest = json.loads((out / "manifest.json").read_text())
    for edit, message in ((lambda m: m["kernels"][0].update(file="../x.js"), "leaves the bundle"),
                          (lambda m: m["kernels"][0].update(domain=""), "must name a custom domain"),
                          (lambda m: m["kernels"][0].update(ops=["Square"]), "exports no kernel for")):
        m = json.loads(json.dumps(manifest))
        edit(m)
        (out / "manifest.json").write_text(json.dumps(m))
        with NodeWorker() as w, pytest.raises(Exception, match=message):
            w.load(out, ["js"], None)

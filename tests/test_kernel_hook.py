"""A plugin adds a native kernel through ``webdnn_register_kernels`` (registry.add_kernel): a custom op the
js kernels do not know runs in wasm from the plugin's emitter and C source, and matches a numpy
reference exactly (x³ in float32, one rounding per multiply, the same order)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from webdnn_build.compiler import BuildOptions, compile_model
from webdnn_build.errors import WebDNNError
from webdnn_build.node import NodeWorker
from webdnn_build.plugins import get_host

from .helpers import custom_op_model

DOMAIN = "example.kernels"

CUBE_C = """
static void example_cube(const float* x, float* y, int n, int tid, int nth) {
  int lo = (int)((long long)n * tid / nth), hi = (int)((long long)n * (tid + 1) / nth);
  for (int i = lo; i < hi; i++) y[i] = x[i] * x[i] * x[i];
}
"""


class CubeEmitter:
    """y = x³ for static float32 tensors of at most 4096 elements (so that a larger one falls back)."""

    ops = ("Cube",)
    domain = DOMAIN

    def supports(self, node, graph) -> bool:
        x, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
        return x.dtype == y.dtype == "float32" and x.is_static and x.numel() <= 4096

    def emit(self, node, ctx) -> list[str]:
        n = ctx.graph.values[node.inputs[0]].numel()
        return [f"example_cube({ctx.ptr(node.inputs[0])}, {ctx.ptr(node.outputs[0])}, {n}, tid, nth);"]


@pytest.fixture
def cube_kernel():
    registry = get_host().registry
    registry.add_kernel("wasm", CubeEmitter(), CUBE_C)
    yield
    registry.kernels[:] = [k for k in registry.kernels if not isinstance(k.emitter, CubeEmitter)]


def _model(tmp_path, shape):
    return custom_op_model(tmp_path / "cube.onnx", "Cube", DOMAIN, shape)


def test_plugin_kernel_runs_a_custom_op_in_wasm(cube_kernel, tmp_path):
    out = tmp_path / "bundle"
    result = compile_model(_model(tmp_path, (3, 50)), out, BuildOptions(backends=["wasm"]), log=lambda m: None)
    assert result.manifest["backends"]["wasm"]["placement"] == {"native": 2, "fallback": 0}
    plan = json.loads((out / "wasm" / "plan.json").read_text())
    assert not any("js" in s for s in plan["steps"])
    x = np.random.default_rng(0).standard_normal((3, 50)).astype(np.float32)
    with NodeWorker() as w:
        for threads in (1, 2):
            info = w.load(out, ["wasm"], threads=threads)
            outputs, _ = w.run(info["handle"], {"x": x}, {"x": "float32"})
            np.testing.assert_array_equal(dict(outputs)["y"], np.maximum(x * x * x, 0))
            w.dispose(info["handle"])


def test_a_node_the_plugin_kernel_refuses_is_a_clear_build_error(cube_kernel, tmp_path):
    with pytest.raises(WebDNNError, match="Cube"):
        compile_model(_model(tmp_path, (100, 100)), tmp_path / "bundle", BuildOptions(backends=["wasm"]),
                      log=lambda m: None)
    assert not (tmp_path / "bundle").exists()


def test_without_the_plugin_the_op_is_unsupported(tmp_path):
    with pytest.raises(WebDNNError, match="Cube"):
        compile_model(_model(tmp_path, (3, 50)), tmp_path / "bundle", BuildOptions(backends=["wasm"]),
                      log=lambda m: None)

"""`webdnn-build verify --backend webgpu` on the generated models, on the software adapter in Node.

Skipped (with the reason; under CI=true failed) when Node has no WebGPU adapter: run
`eval "$(tools/setup-webgpu.sh)"`.
"""

from __future__ import annotations

import json

import pytest

from tests.conformance.test_webgpu import _adapter
from tests.helpers import requires, run_cli

pytestmark = requires(None if _adapter() else "no WebGPU adapter in Node (eval \"$(tools/setup-webgpu.sh)\")")


@pytest.mark.parametrize("name", ["tiny_cnn", "mobilenetv2", "resnet50"])
def test_verify_on_webgpu(generated_models, name):
    proc = run_cli("verify", str(generated_models / f"{name}.onnx"), "--backend", "webgpu", "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["backend"] == "webgpu"
    for out in report["outputs"]:
        # the documented fp32 tolerance: max abs error <= 1e-5 + 1e-4 * max|reference|
        assert out["max_abs"] <= 1e-5 + 1e-4 * out["scale"]

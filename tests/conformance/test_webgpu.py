"""The ONNX backend suite on the webgpu backend (WGSL kernels through the JS runtime on Dawn; ops
without a kernel run on the js kernels on the CPU).

By default (CI) a representative part runs: the node tests of the ops with WGSL kernels that the
model zoo leans on, and SqueezeNet. ``WEBDNN_CONFORMANCE_WEBGPU=full`` runs the whole suite (a
software adapter needs minutes for the node tests and 1-3 minutes per light model; the results go
to docs/conformance.md through tools/conformance_report.py). Needs a WebGPU adapter in Node: run
``eval "$(tools/setup-webgpu.sh)"`` first; without one the module is skipped with that reason (under
CI=true it fails)."""

import os
import subprocess

from tests.helpers import ROOT, requires

from .suite import build_suite


def _adapter() -> bool:
    if not (ROOT / "node_modules" / "webgpu").is_dir():
        return False
    probe = ("const { create } = await import('webgpu');"
             "const a = await create([]).requestAdapter(); console.log(a ? 'ok' : 'none');")
    try:
        out = subprocess.run(["node", "--input-type=module", "-e", probe], capture_output=True, text=True,
                             timeout=60, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.strip().endswith("ok")


#: the CI subset: kernels the light models and ResNet/MobileNet use, plus one light model
REPRESENTATIVE = (r"^test_(conv_with|basic_conv|gemm|matmul_2d|maxpool_2d_(default|pads|strides)|averagepool_2d_(default|pads)"
                  r"|globalaveragepool|relu|add|add_bcast|mul|sigmoid|softmax_(axis|default)|concat_|transpose_default"
                  r"|batchnorm_epsilon|lrn|reshape_reordered|squeezenet)")

if _adapter():
    full = os.environ.get("WEBDNN_CONFORMANCE_WEBGPU") == "full"
    globals().update(build_suite("webgpu", __name__, default_filter=None if full else REPRESENTATIVE))
else:
    pytestmark = requires("no WebGPU adapter in Node (eval \"$(tools/setup-webgpu.sh)\")")

if "pytestmark" in globals():
    def test_webgpu_conformance_needs_an_adapter():
        """Placeholder so that the skip (and its reason; under CI=true the failure) shows up in the report."""

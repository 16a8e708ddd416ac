"""End to end in headless Chromium: a bundle built for webgpu, wasm and js picks the first backend
the browser can run, and falls back with the reason in runner.fallbackLog:

- WebGPU available (Chromium's SwiftShader, --enable-unsafe-webgpu) -> webgpu
- navigator.gpu removed, or Chromium started without --enable-unsafe-webgpu (no adapter) -> wasm
- navigator.gpu and globalThis.WebAssembly removed before the runtime loads -> js
- the WebGPU device lost (device.destroy()) between runs or during a run -> the run moves on to
  wasm, runner.fallbackLog gains { backend: 'webgpu', phase: 'run' } (docs/webgpu-backend.md)

Outputs are compared with onnxruntime (rtol 1e-5, atol 1e-6: float32 elementwise ops).
The harness is tests/browser/harness.mjs (playwright-core driving /usr/bin/chromium); the tests skip
with the reason when Chromium, Node or playwright-core is missing (and fail under CI=true). When the webgpu codegen plugin is
not installed, the bundle is built for wasm,js and a hand-written webgpu plan is added (a GPU step
for x * 2 + w, then the Relu as a CPU step, i.e. a GPU -> CPU transfer).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.browser.common import HARNESS, harness_unavailable
from tests.browser.common import node as _node
from tests.helpers import ROOT, float_input, require_or_skip, requires, save_model

PAGE = "/tests/browser/pages/run-bundle.html"
N = 1024
RTOL, ATOL = 1e-5, 1e-6

# x * 2 + w, one thread per element; arena values are bound read_write (docs/webgpu-backend.md)
SCALE_ADD = """
override WG_X: u32 = 64;
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> t: array<f32>;
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= arrayLength(&t)) { return; }
  t[i] = x[i] * 2.0 + w[i];
}
"""


_REASON = harness_unavailable()
pytestmark = requires(_REASON and f"headless Chromium harness unavailable: {_REASON}")


def _model(path: Path) -> Path:
    w = numpy_helper.from_array(((np.arange(N) % 7) - 3 + 0.5).astype(np.float32), "w")
    two = numpy_helper.from_array(np.array(2, np.float32), "two")
    nodes = [
        helper.make_node("Mul", ["x", "two"], ["t"]),
        helper.make_node("Add", ["t", "w"], ["u"]),
        helper.make_node("Relu", ["u"], ["y"]),
    ]
    return save_model(nodes, [float_input("x", [N])], [float_input("y", [N])], path, [w, two])


def _build(model: Path, out: Path, backends: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "webdnn_build", "build", str(model), "-o", str(out), "--backends", backends, "--force", "-q"],
        capture_output=True, text=True, cwd=ROOT,
    )


def _add_handmade_webgpu_plan(bundle: Path) -> None:
    """Adds webgpu/plan.json: GPU step t = x*2 + w, CPU step y = Relu(t)."""
    program = json.loads((bundle / "js" / "program.json").read_text())
    by_name = {v["name"]: v for v in program["values"]}
    w_const = by_name["w"]["const"]
    values = [
        {"name": "x", "dtype": "float32", "shape": [N], "gpu": {"buffer": 0, "offset": 0, "byteLength": N * 4}},
        {"name": "w", "dtype": "float32", "shape": [N], "const": w_const, "gpu": {"buffer": 1, "offset": 0, "byteLength": N * 4}},
        {"name": "t", "dtype": "float32", "shape": [N], "gpu": {"buffer": 0, "offset": N * 4, "byteLength": N * 4}},
        {"name": "y", "dtype": "float32", "shape": [N]},
    ]
    plan = {
        "opsets": {"": 17},
        "precision": "f32",
        "values": values,
        "buffers": [{"byteLength": 2 * N * 4, "kind": "arena"}, {"byteLength": N * 4, "kind": "weights"}],
        "shaders": [SCALE_ADD],
        "inputs": [0],
        "outputs": [3],
        "steps": [
            {"gpu": {"shader": 0, "entryPoint": "main", "name": "scale_add", "op": "Mul+Add",
                     "bindings": [{"value": 0}, {"value": 1}, {"value": 2}],
                     "workgroup": {"override": {"WG_X": 64}}, "invocations": [N, 1, 1]}},
            {"cpu": {"op": "Relu", "domain": "", "name": "relu", "inputs": [2], "outputs": [3], "attrs": {}}},
        ],
    }
    (bundle / "webgpu").mkdir(exist_ok=True)
    (bundle / "webgpu" / "plan.json").write_text(json.dumps(plan))
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["backends"]["webgpu"] = {"plan": "webgpu/plan.json"}
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser_fallback")
    model = _model(tmp / "scale_add_relu.onnx")
    bundle = tmp / "bundle"
    r = _build(model, bundle, "webgpu,wasm,js")
    handmade = False
    if r.returncode != 0:
        assert "unknown backend" in r.stderr and "webgpu" in r.stderr, r.stderr
        r = _build(model, bundle, "wasm,js")
        assert r.returncode == 0, r.stderr
        _add_handmade_webgpu_plan(bundle)
        handmade = True
    x = (np.sin(np.arange(N)) * 10).astype(np.float32)
    data = tmp / "data"
    data.mkdir()
    (data / "inputs.json").write_text(json.dumps({"x": {"dtype": "float32", "shape": [N], "data": x.tolist()}}))

    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    expected = sess.run(None, {"x": x})[0]
    return {"bundle": bundle, "data": data, "expected": expected, "handmade": handmade}


def _run(setup, *, disable=(), webgpu_flag=True, isolate=False, backends="webgpu,wasm,js", lose=None) -> dict:
    query = f"bundle=/bundle/&inputs=/data/inputs.json&backends={backends}"
    if lose:
        query += f"&lose={lose}"
    if disable:
        query += "&disable=" + ",".join(disable)
    cmd = [_node(), str(HARNESS), "--mount", f"/={ROOT}", "--mount", f"/bundle/={setup['bundle']}",
           "--mount", f"/data/={setup['data']}", "--timeout", "120", "--page", f"{PAGE}?{query}"]
    if not webgpu_flag:
        cmd.append("--no-webgpu")
    if isolate:
        cmd.append("--isolate")
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, f"harness failed ({r.returncode}):\n{r.stderr[-3000:]}\n{r.stdout[-2000:]}"
    out = json.loads(r.stdout.strip().splitlines()[-1])
    result = out["result"]
    assert "error" not in result, f"page error: {result['error']}\nconsole: {out['console']}\npage errors: {out['pageErrors']}"
    return result


def _check_outputs(result, expected):
    y = result["outputs"]["y"]
    assert y["shape"] == [N] and y["dtype"] == "float32"
    np.testing.assert_allclose(np.array(y["data"], np.float32), expected, rtol=RTOL, atol=ATOL)


def test_webgpu_when_available(setup):
    result = _run(setup)
    if result["backend"] != "webgpu":
        reasons = {f["backend"]: f["reason"] for f in result["fallbackLog"]}
        if "no adapter" in reasons.get("webgpu", ""):
            require_or_skip(f"Chromium gives no WebGPU adapter here: {reasons['webgpu']}")
    assert result["backend"] == "webgpu", result["fallbackLog"]
    assert result["fallbackLog"] == []
    _check_outputs(result, setup["expected"])


def test_no_navigator_gpu_falls_back_to_wasm(setup):
    result = _run(setup, disable=["webgpu"], isolate=True)
    assert result["hasGPU"] is False
    assert result["backend"] == "wasm"
    assert [f["backend"] for f in result["fallbackLog"]] == ["webgpu"]
    assert result["fallbackLog"][0]["reason"].startswith("no WebGPU in this environment (navigator.gpu is undefined")
    _check_outputs(result, setup["expected"])


def test_no_unsafe_webgpu_flag_falls_back_to_wasm(setup):
    result = _run(setup, webgpu_flag=False)
    assert result["backend"] == "wasm"
    assert [f["backend"] for f in result["fallbackLog"]] == ["webgpu"]
    assert "no adapter" in result["fallbackLog"][0]["reason"]
    _check_outputs(result, setup["expected"])


def test_no_webgpu_no_wasm_falls_back_to_js(setup):
    result = _run(setup, disable=["webgpu", "wasm"])
    assert result["hasWasm"] is False
    assert result["backend"] == "js"
    reasons = {f["backend"]: f["reason"] for f in result["fallbackLog"]}
    assert list(reasons) == ["webgpu", "wasm"]
    assert reasons["webgpu"].startswith("no WebGPU in this environment")
    assert reasons["wasm"] == "WebAssembly is not available in this environment"
    _check_outputs(result, setup["expected"])


@pytest.mark.parametrize("when", ["between", "during"])
def test_lost_device_moves_the_run_on_to_wasm(setup, when):
    result = _run(setup, lose=when)
    if result["backend"] != "webgpu":
        require_or_skip(f"Chromium gives no WebGPU adapter here: {result['fallbackLog']}")
    _check_outputs(result, setup["expected"])
    after = result["afterLoss"]
    assert "error" not in after, after
    assert after["backend"] == "wasm"
    lost = after["fallbackLog"][-1]
    assert lost["backend"] == "webgpu" and lost["phase"] == "run"
    assert lost["reason"].startswith("the device was lost (destroyed"), lost
    _check_outputs(after, setup["expected"])


def test_lost_device_with_no_backend_left_rejects_the_run(setup):
    result = _run(setup, lose="during", backends="webgpu")
    if result["backend"] != "webgpu":
        require_or_skip(f"Chromium gives no WebGPU adapter here: {result['fallbackLog']}")
    after = result["afterLoss"]
    assert after["error"].startswith("the WebGPU device was lost"), after
    assert after["error"].endswith("load the model again"), after
    assert [f["backend"] for f in after["fallbackLog"]] == ["webgpu"]

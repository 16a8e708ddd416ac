"""The model-family suite (tools/model_suite.py): each family, as each exporter leaves it, built for js,
wasm and webgpu and compared with onnxruntime on the suite's inputs (valid token ids, padded masks).

Tolerance (float32, every backend): max abs error <= 1e-5 + 1e-4 * max|reference|.
Where the ops ran is asserted too: the number of ops a backend runs on its own kernels may not fall
below the floor recorded here (raise the floors as native coverage grows; docs/conformance.md).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import requires, run_cli

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ("bert", "distilbert", "vit")
VARIANTS = ("dynamo", "legacy")

#: (family, variant) -> ops on wasm kernels at least, of the ops after passes (measured 2026-12-02; vit.legacy runs every op in wasm)
WASM_NATIVE_FLOOR = {
    ("bert", "dynamo"): 79, ("bert", "legacy"): 75,
    ("distilbert", "dynamo"): 78, ("distilbert", "legacy"): 74,
    ("vit", "dynamo"): 82, ("vit", "legacy"): 76,
}

#: the same for webgpu: ops on the GPU at least (vit.legacy runs every op there)
WEBGPU_NATIVE_FLOOR = {
    ("bert", "dynamo"): 66, ("bert", "legacy"): 62,
    ("distilbert", "dynamo"): 66, ("distilbert", "legacy"): 62,
    ("vit", "dynamo"): 70, ("vit", "legacy"): 64,
}


def _have(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


pytestmark = requires(None if all(_have(m) for m in ("torch", "transformers", "onnxscript"))
                      else "torch, transformers and onnxscript are needed to generate the suite (requirements-dev.txt)")


@pytest.fixture(scope="session")
def suite(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model-suite")
    subprocess.run([sys.executable, str(ROOT / "tools/model_suite.py"), "--out", str(out), "-q", *FAMILIES],
                   check=True, capture_output=True)
    return out


def _verify(suite: Path, family: str, variant: str, backend: str) -> tuple[dict, str]:
    feeds = []
    for npy in sorted(suite.glob(f"{family}.*.npy")):
        feeds += ["--input", f"{npy.name[len(family) + 1:-4]}={npy}"]
    proc = run_cli("verify", str(suite / f"{family}.{variant}.onnx"), "--backend", backend, *feeds, "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return json.loads(proc.stdout), proc.stderr


def _check_outputs(report: dict, backend: str) -> None:
    assert report["ok"] is True and report["backend"] == backend
    for out in report["outputs"]:
        assert out["max_abs"] <= 1e-5 + 1e-4 * out["scale"], out


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_js_matches_onnxruntime(suite, family, variant):
    report, _ = _verify(suite, family, variant, "js")
    _check_outputs(report, "js")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_wasm_matches_onnxruntime_with_native_floor(suite, family, variant):
    report, log = _verify(suite, family, variant, "wasm")
    _check_outputs(report, "wasm")
    native, total = map(int, re.search(r"wasm: (\d+)/(\d+) ops in wasm", log).groups())
    assert native >= WASM_NATIVE_FLOOR[family, variant], f"{native}/{total} ops in wasm"


def _webgpu_reason():
    from tests.conformance.test_webgpu import _adapter
    return None if _adapter() else "no WebGPU adapter in Node (eval \"$(tools/setup-webgpu.sh)\")"


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_webgpu_matches_onnxruntime(suite, family, variant):
    reason = _webgpu_reason()
    if reason:
        from tests.helpers import require_or_skip
        require_or_skip(reason)
    report, log = _verify(suite, family, variant, "webgpu")
    _check_outputs(report, "webgpu")
    native, total = map(int, re.search(r"webgpu: (\d+)/(\d+) ops on the GPU", log).groups())
    assert native >= WEBGPU_NATIVE_FLOOR[family, variant], f"{native}/{total} ops on the GPU"

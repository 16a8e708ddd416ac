"""The model-family suite (tools/model_suite.py): each family, as each exporter leaves it (and the nine
light model-zoo graphs with random weights), built for js, wasm and webgpu and compared with
onnxruntime on the suite's inputs (valid token ids, padded masks, seeded images and audio features).

Tolerance (float32, every backend, every family): max abs error <= 1e-5 + 1e-4 * max|reference|.
Where the ops ran is asserted too: the number of ops a backend runs on its own kernels may not fall
below the floor recorded here (raise the floors as native coverage grows; docs/model-suite.md).

What runs: by default the CI subset (``CI_CASES``): every torch-exported family on every backend with
one export variant, bert with both, and three of the light architectures. ``WEBDNN_MODEL_SUITE=all`` runs every family with every variant on every backend. Cases
outside the subset are not collected (so they are not skips). Models are exported on first use,
once per session, so ``-k`` selections export only what they need.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import sys
import threading
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

from tests.helpers import requires, run_cli

ROOT = Path(__file__).resolve().parents[2]


def _model_suite():
    """tools/model_suite.py as a module (it imports torch only when it builds a family)."""
    if "model_suite" not in sys.modules:
        spec = importlib.util.spec_from_file_location("model_suite", ROOT / "tools/model_suite.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["model_suite"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["model_suite"]


#: every (family, variant) the suite writes: a family's exports (torch's dynamo and legacy exporters; "zoo"
#: for the re-weighted light model-zoo graphs) less its dropped ones
CASES = tuple((f.name, v) for f in _model_suite().FAMILIES.values() for v in f.variants)

#: the default (CI) subset: every family exported from torch on every backend with one export, the one
#: with the rarer ops (dynamo: SDPA's NaN guard, opset-18 ReduceMean/Split; legacy: Pad, GlobalAveragePool,
#: Flatten/Expand mask graphs) or else the cheaper to export (legacy); bert keeps both (the two mask
#: graphs); three of the nine light architectures (fire modules; LRN and inception Concats; BN with
#: Caffe scale layers and 58 Concats); the others, 5-575 MB each and up to minutes per run on a software
#: adapter, run with WEBDNN_MODEL_SUITE=all
CI_CASES = (
    ("bert", "dynamo"), ("bert", "legacy"), ("distilbert", "legacy"), ("vit", "dynamo"),
    ("clip_text", "dynamo"), ("clip_vision", "legacy"), ("whisper_encoder", "legacy"), ("convnext", "dynamo"),
    ("efficientnet", "legacy"), ("mobilenetv3", "dynamo"), ("yolov8", "dynamo"), ("unet", "legacy"),
    ("speech", "legacy"), ("svtr_rec", "legacy"),
    ("light_squeezenet", "zoo"), ("light_inception_v1", "zoo"), ("light_densenet121", "zoo"),
)
_ALL = os.environ.get("WEBDNN_MODEL_SUITE", "").strip().lower() == "all"
SELECTED = CASES if _ALL else CI_CASES

#: (backend, family, export or export.kind) -> ops allowed to run on the js kernels (js steps on wasm, CPU
#: steps on webgpu), with why; every other case runs every op natively
MAX_FALLBACK: dict[tuple[str, str, str], tuple[int, str]] = {}

#: post-export variants in the default (CI) run: every kind on the MiniLM-style BERT
CI_DERIVED = (("bert", "legacy", "fused"), ("bert", "legacy", "int8"), ("bert", "legacy", "qdq"),
              ("bert", "legacy", "int4"))

#: kind -> (rtol of the max error, bound of the mean error as a share of the scale or None, reference level)
DERIVED_TOLERANCE = {"fused": (1e-4, None, "all"), "int4": (1e-4, None, "all"),
                     "int8": (0.5, 5e-3, "all"), "qdq": (0.5, 5e-3, "basic")}

#: (backend, family, variant) -> why it does not match onnxruntime: a backend bug, run as
#: xfail(strict=True) so that the fix shows up (none at present)
KNOWN_MISMATCH: dict[tuple[str, str, str], str] = {}


def _have(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


pytestmark = requires(None if all(_have(m) for m in ("torch", "transformers", "onnxscript"))
                      else "torch, transformers and onnxscript are needed to generate the suite (requirements-dev.txt)")


_exported: set[tuple[str, str]] = set()
_lock = threading.Lock()


@pytest.fixture(scope="session")
def suite(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("model-suite")


def _export(suite: Path, family: str, variant: str, kind: str = "") -> Path:
    """The model file, exported (and its post-export variant ``kind`` made) on first use, in this process:
    torch is imported once per session."""
    with _lock:
        ms = _model_suite()
        if (family, variant) not in _exported:
            with contextlib.redirect_stderr(io.StringIO()):
                ms.export(ms.FAMILIES[family], suite, [variant], lambda m: None)
            _exported.add((family, variant))
        if kind and (family, f"{variant}.{kind}") not in _exported:
            with contextlib.redirect_stderr(io.StringIO()):
                ms.derive(ms.FAMILIES[family], suite, variant, [kind], lambda m: None)
            _exported.add((family, f"{variant}.{kind}"))
    return suite / (f"{family}.{variant}.{kind}.onnx" if kind else f"{family}.{variant}.onnx")


def _verify(suite: Path, family: str, variant: str, backend: str, kind: str = "") -> tuple[dict, str]:
    model = _export(suite, family, variant, kind)
    feeds = []
    for npy in sorted(suite.glob(f"{family}.*.npy")):
        feeds += ["--input", f"{npy.name[len(family) + 1:-4]}={npy}"]
    level = DERIVED_TOLERANCE[kind][2] if kind else "all"
    proc = run_cli("verify", str(model), "--backend", backend, *feeds, "--json", "--reference-optimization", level)
    try:  # exit status 1 with a report: it ran, and the outputs differ (_check_outputs says how much)
        return json.loads(proc.stdout), proc.stderr
    except json.JSONDecodeError:
        pytest.fail(f"verify exited with {proc.returncode}: {proc.stderr[-2000:]}{proc.stdout[-2000:]}")


def _check_outputs(report: dict, backend: str, kind: str = "", spread: Optional[dict[str, float]] = None) -> None:
    """``spread``: per output, how far onnxruntime's optimized session is from its basic one (mean abs); a
    re-quantizing variant's mean error may reach it where it exceeds the share of the scale."""
    assert report["backend"] == backend
    rtol, mean_bound, _ = DERIVED_TOLERANCE[kind] if kind else (1e-4, None, "all")
    for out in report["outputs"]:
        assert out["max_abs"] <= 1e-5 + rtol * out["scale"], out
        if mean_bound is not None:
            own = (spread or {}).get(out["name"], 0.0)
            assert out["mean_abs"] <= max(mean_bound * out["scale"], own), {**out, "onnxruntime_spread": own}
    if not kind or DERIVED_TOLERANCE[kind][1] is None:
        assert report["ok"] is True


_PLACEMENT = {"wasm": r"wasm: (\d+)/(\d+) ops in wasm", "webgpu": r"webgpu: (\d+)/(\d+) ops on the GPU"}


def _check_placement(log: str, backend: str, family: str, variant: str) -> None:
    native, total = map(int, re.search(_PLACEMENT[backend], log).groups())
    allowed, why = MAX_FALLBACK.get((backend, family, variant), (0, ""))
    assert total - native <= allowed, f"{native}/{total} ops native on {backend}" + (f" (allowed: {why})" if why else "")


def _cases(backend: str):
    def marks(f: str, v: str):
        why = KNOWN_MISMATCH.get((backend, f, v))
        return [pytest.mark.xfail(reason=why, strict=True)] if why else []
    return [pytest.param(f, v, id=f"{f}-{v}", marks=marks(f, v)) for f, v in SELECTED]


def _derived_cases():
    ms = _model_suite()
    every = [(f, v, k) for f, v in CASES for k in ms.derived_kinds(f)]
    return [pytest.param(f, v, k, id=f"{f}-{v}-{k}") for f, v, k in (every if _ALL else CI_DERIVED)]


def test_cases_cover_the_suite():
    """Every family and export the tool writes is a case here, and the CI subset runs every family exported
    from torch."""
    ms = _model_suite()
    assert set(CASES) == {(f.name, v) for f in ms.FAMILIES.values() for v in f.variants}
    assert {(f, v.split(".")[0]) for _, f, v in MAX_FALLBACK} <= set(CASES)
    torch_families = {f.name for f in ms.FAMILIES.values() if f.write is None}
    assert set(CI_CASES) <= set(CASES) and torch_families <= {f for f, _ in CI_CASES}
    assert all(k in ms.derived_kinds(f) for f, _, k in CI_DERIVED)


def _webgpu_reason():
    from tests.conformance.test_webgpu import _adapter
    return None if _adapter() else "no WebGPU adapter in Node (eval \"$(tools/setup-webgpu.sh)\")"


def _run(suite: Path, family: str, variant: str, backend: str, kind: str = "") -> None:
    if backend == "webgpu":
        reason = _webgpu_reason()
        if reason:
            from tests.helpers import require_or_skip
            require_or_skip(reason)
    report, log = _verify(suite, family, variant, backend, kind)
    spread = _spread(suite, family, variant, kind) if kind and DERIVED_TOLERANCE[kind][1] is not None else None
    _check_outputs(report, backend, kind, spread)


_spreads: dict[tuple[str, str, str], dict[str, float]] = {}


def _spread(suite: Path, family: str, variant: str, kind: str) -> dict[str, float]:
    """onnxruntime's own all-vs-basic spread of a variant (webdnn_build.verify.reference_spread), once per model:
    the three backends' cases share it."""
    key = (family, variant, kind)
    if key not in _spreads:
        from webdnn_build.verify import reference_spread
        _spreads[key] = reference_spread(suite / f"{family}.{variant}.{kind}.onnx",
                                         {p.name[len(family) + 1:-4]: np.load(p)
                                          for p in sorted(suite.glob(f"{family}.*.npy"))})
    return _spreads[key]
    if backend != "js":
        _check_placement(log, backend, family, f"{variant}.{kind}" if kind else variant)


@pytest.mark.parametrize("family,variant", _cases("js"))
def test_js_matches_onnxruntime(suite, family, variant):
    _run(suite, family, variant, "js")


@pytest.mark.parametrize("family,variant", _cases("wasm"))
def test_wasm_matches_onnxruntime_all_native(suite, family, variant):
    _run(suite, family, variant, "wasm")


@pytest.mark.parametrize("family,variant", _cases("webgpu"))
def test_webgpu_matches_onnxruntime_all_native(suite, family, variant):
    _run(suite, family, variant, "webgpu")


@pytest.mark.parametrize("backend", ["js", "wasm", "webgpu"])
@pytest.mark.parametrize("family,variant,kind", _derived_cases())
def test_derived_variant_matches_onnxruntime(suite, family, variant, kind, backend):
    _run(suite, family, variant, backend, kind)

"""Weight shards in headless Chromium (issue 11): a cold load reports monotone progress to 100%; a reload is served
from the Cache API (no shard request reaches the server, counted by the test server); a second bundle with the same
weights downloads none either; `cache: false` fetches again; in a fresh profile a shard with one flipped byte is
refused with an error naming it. Outputs are compared with onnxruntime (rtol 1e-4, atol 1e-5: float32 MatMul sums).

Driver: tests/browser/weight_cache.mjs (tests/browser/harness.mjs: playwright-core and /usr/bin/chromium); the test
skips with the reason when those are missing, and fails under CI=true."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import helper, numpy_helper

from tests.browser.common import harness_unavailable, node
from tests.helpers import ROOT, float_input, requires, save_model

pytestmark = requires(harness_unavailable() and f"headless Chromium harness unavailable: {harness_unavailable()}")

DRIVER = ROOT / "tests" / "browser" / "weight_cache.mjs"
RTOL, ATOL = 1e-4, 1e-5


def _build(model: Path, out: Path, backends: str) -> None:
    r = subprocess.run([sys.executable, "-m", "webdnn_build", "build", str(model), "-o", str(out), "--backends", backends,
                        "--shard-size", "64KiB", "-q"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_shards_progress_cache_and_corruption(tmp_path):
    rng = np.random.default_rng(11)
    w1 = (rng.standard_normal((256, 512)) / 16).astype(np.float32)
    w2 = (rng.standard_normal((512, 64)) / 16).astype(np.float32)
    model = save_model([helper.make_node("MatMul", ["x", "W1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
                        helper.make_node("MatMul", ["r", "W2"], ["y"])],
                       [float_input("x", [1, 256])], [float_input("y", [1, 64])], tmp_path / "mlp.onnx",
                       [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(w2, "W2")])
    good, twin, bad = tmp_path / "good", tmp_path / "twin", tmp_path / "bad"
    _build(model, good, "wasm,js")
    _build(model, twin, "js")  # another bundle (other backends), the same weights: the same shards
    shards = json.loads((good / "manifest.json").read_text())["weights"]["shards"]
    assert len(shards) >= 10
    assert [s["sha256"] for s in json.loads((twin / "manifest.json").read_text())["weights"]["shards"]] == \
        [s["sha256"] for s in shards]
    shutil.copytree(good, bad)
    target = bad / shards[3]["file"]
    data = bytearray(target.read_bytes())
    data[1000] ^= 0x04
    target.write_bytes(bytes(data))

    x = np.sin(np.arange(256, dtype=np.float32))[None, :]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "inputs.json").write_text(json.dumps({"x": {"shape": [1, 256], "data": x.ravel().tolist()}}))
    import onnxruntime as ort

    expected = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0].ravel()

    r = subprocess.run([node(), str(DRIVER), "--root", str(ROOT), "--good", str(good), "--twin", str(twin),
                        "--bad", str(bad), "--inputs", str(inputs), "--backends", "wasm,js"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])

    total = sum(s["byteLength"] for s in shards)
    for run in ("cold", "reload", "twin", "uncached"):
        res = out[run]
        assert "error" not in res, (run, res)
        np.testing.assert_allclose(res["outputs"]["y"], expected, rtol=RTOL, atol=ATOL, err_msg=run)
    assert out["cold"]["backend"] == "wasm"

    cold = out["cold"]
    assert cold["shardRequests"] == len(shards)
    loaded = [p["loaded"] for p in cold["progress"]]
    assert all(b >= a for a, b in zip(loaded, loaded[1:])), loaded
    assert loaded[-1] == total and all(p["total"] == total for p in cold["progress"])
    assert len(loaded) >= len(shards)  # at least one report per shard

    assert out["reload"]["shardRequests"] == 0, "the reload downloaded weight shards"
    assert out["reload"]["progress"][-1]["loaded"] == total
    assert out["twin"]["shardRequests"] == 0, "a bundle with the same shards downloaded them again"
    assert out["uncached"]["shardRequests"] == len(shards)
    assert sorted(out["cacheKeys"]) == sorted(f"https://webdnn-weights.invalid/sha256/{s['sha256']}" for s in shards)

    bad_result = out["bad"]
    assert "error" in bad_result, bad_result
    assert f"weight shard {shards[3]['file']} is corrupted" in bad_result["error"], bad_result["error"]

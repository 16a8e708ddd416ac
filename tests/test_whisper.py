"""A Whisper-style encoder + decoder step loop (issue 10): a `transformers` WhisperForConditionalGeneration from a
small config with seeded random weights (examples/whisper/make_model.py), the encoder bundle run once and the
decoder step bundle (dims left open) in a greedy loop with its self-attention cache kept on the device
(examples/whisper/transcribe.mjs). On js, wasm and webgpu: onnxruntime's 64 tokens on the same files, each step's
logits within `verify`'s float tolerance (1e-5 + 1e-4 × scale), and on webgpu no download but the logits."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import ROOT, example_module, import_or_require, run_cli

make_model = example_module("examples/whisper/make_model.py")

STEPS = 64


@pytest.fixture(scope="module")
def whisper(tmp_path_factory):
    import_or_require("torch")
    import_or_require("transformers")
    import_or_require("onnxruntime")
    out = tmp_path_factory.mktemp("whisper")
    proc = subprocess.run([sys.executable, str(ROOT / "examples/whisper/make_model.py"), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    backends = "js,wasm,webgpu"
    proc = run_cli("build", str(out / "encoder.onnx"), "-o", str(out / "encoder"), "--backends", backends)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("build", str(out / "decoder_step.onnx"), "-o", str(out / "decoder"), "--backends", backends,
                   *make_model.input_shapes())
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize("backend", ["js", "wasm", "webgpu"])
def test_whisper_decoding_matches_onnxruntime_token_by_token(whisper, backend):
    proc = subprocess.run(["node", str(ROOT / "examples/whisper/transcribe.mjs"), str(whisper), "--steps", str(STEPS),
                           "--backends", backend, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    ours = json.loads(proc.stdout)
    assert ours["backend"] == backend
    tokens, logits = make_model.reference_tokens(whisper / "encoder.onnx", whisper / "decoder_step.onnx", STEPS)
    assert len(set(tokens)) > 3, "the reference decodes a constant: the test would prove little"
    for step, (got, want) in enumerate(zip(ours["logits"], logits)):
        err = float(np.max(np.abs(np.asarray(got) - want)))
        assert err <= 1e-5 + 1e-4 * float(np.max(np.abs(want))), f"step {step}: logits differ by {err}"
    assert ours["tokens"] == tokens
    if backend == "webgpu":  # the self-attention cache stays on the GPU: each step downloads its logits only
        want = [len(make_model.START) * make_model.VOCAB * 4] + [make_model.VOCAB * 4] * (STEPS - 1)
        assert ours["bytesRead"] == want, ours["bytesRead"][:4]

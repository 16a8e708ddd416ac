"""A GPT-2-style decoder with a KV cache, one bundle for every step (issue 10): greedy decoding in Node
(examples/decoder-lm/generate.mjs, the cache fed back from each step's present key/values, kept on the device with
run(feeds, { keep }), starting empty), on js, wasm and webgpu, gives onnxruntime's tokens for 64 steps, and each
step's logits within the float tolerance of `verify` (1e-5 + 1e-4 × scale); on webgpu each step downloads its logits
and nothing else (the key/values stay in GPU buffers). The model is a `transformers` GPT2LMHeadModel with seeded random weights
(examples/decoder-lm/make_model.py)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from tests.helpers import ROOT, example_module, import_or_require, run_cli

make_model = example_module("examples/decoder-lm/make_model.py")

STEPS = 64
PROMPT = [5, 17, 33]


@pytest.fixture(scope="module")
def decoder(tmp_path_factory):
    import_or_require("torch")
    import_or_require("transformers")
    import_or_require("onnxruntime")
    out = tmp_path_factory.mktemp("decoder-lm")
    model = make_model.export(out)
    bundle = out / "bundle"
    proc = run_cli("build", str(model), "-o", str(bundle), "--backends", "js,wasm,webgpu", *make_model.input_shapes(2))
    assert proc.returncode == 0, proc.stderr
    return model, bundle


def test_bundle_declares_the_cache_dims_open(decoder):
    _, bundle = decoder
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["dims"]["past"] == {"min": 0, "max": 127}
    assert manifest["dims"]["seq"] == {"min": 1, "max": 128}
    # the attention mask's length is the cache's plus the step's (learnt from the KV Concat; checked per run)
    assert manifest["dims"]["total"] == {"min": 1, "max": 128, "equals": "past + seq"}
    # the exporter's shape arithmetic (Shape -> Gather -> Concat ...) is folded into DimValues nodes
    plan = json.loads((bundle / "wasm" / "plan.json").read_text())
    js_ops = [s["js"]["op"] for s in plan["steps"] if "js" in s]
    assert "Shape" not in js_ops and js_ops.count("DimValues") <= 30, js_ops
    shapes = {i["name"]: i["shape"] for i in manifest["inputs"]}
    assert shapes["past_key_0"] == [1, make_model.HEADS, "past", make_model.EMBED // make_model.HEADS]
    outs = {o["name"]: o["shape"] for o in manifest["outputs"]}
    assert outs["logits"] == [1, "seq", make_model.VOCAB]


@pytest.mark.parametrize("backend", ["js", "wasm", "webgpu"])
def test_greedy_decoding_matches_onnxruntime_token_by_token(decoder, backend):
    model, bundle = decoder
    proc = subprocess.run(["node", str(ROOT / "examples/decoder-lm/generate.mjs"), str(bundle), "--steps", str(STEPS),
                           "--prompt", ",".join(map(str, PROMPT)), "--backends", backend, "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    ours = json.loads(proc.stdout)
    assert ours["backend"] == backend
    tokens, logits = make_model.reference_tokens(model, PROMPT, STEPS)
    assert len(set(tokens)) > 3, "the reference decodes a constant: the test would prove little"
    for step, (got, want) in enumerate(zip(ours["logits"], logits)):
        err = float(np.max(np.abs(np.asarray(got) - want)))
        assert err <= 1e-5 + 1e-4 * float(np.max(np.abs(want))), f"step {step}: logits differ by {err}"
    assert ours["tokens"] == tokens
    if backend == "webgpu":  # the KV cache stays on the GPU: each step downloads its logits and nothing else
        logits_bytes = [len(PROMPT) * make_model.VOCAB * 4] + [make_model.VOCAB * 4] * (STEPS - 1)
        assert ours["bytesRead"] == logits_bytes, ours["bytesRead"][:4]

"""Attention subgraphs as exporters leave them run as one fused wasm kernel (webdnn_build.codegen.fuse_attention,
csrc/attention.c) and match onnxruntime: max abs error <= 1e-5 + 1e-4 * max|reference|."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from ..helpers import float_input, run_cli, save_model

B, H, S, L, D = 2, 3, 5, 7, 8


def _model(tmp_path, form: str):
    """Q [B,H,S,D], Kt [B,H,D,L], V [B,H,L,D] inputs; `form`: sdpa (scale on both sides, mask bias, NaN guard),
    legacy (Div by sqrt(D) after the MatMul, [B,1,1,L] bias), plain (no scale, no bias)."""
    nodes, inits = [], []
    q, kt = "q", "kt"
    if form == "sdpa":
        c = numpy_helper.from_array(np.array(D ** -0.25, np.float32), "c")
        inits.append(c)
        nodes += [helper.make_node("Mul", ["q", "c"], ["qs"]), helper.make_node("Mul", ["kt", "c"], ["kts"])]
        q, kt = "qs", "kts"
    nodes.append(helper.make_node("MatMul", [q, kt], ["scores"]))
    s = "scores"
    if form == "legacy":
        inits.append(numpy_helper.from_array(np.array(np.sqrt(D), np.float32), "d"))
        nodes.append(helper.make_node("Div", ["scores", "d"], ["scaled"]))
        s = "scaled"
    if form in ("sdpa", "legacy"):
        nodes.append(helper.make_node("Add", [s, "bias"], ["biased"]))
        s = "biased"
    nodes.append(helper.make_node("Softmax", [s], ["p"], axis=-1))
    p = "p"
    if form == "sdpa":
        inits.append(numpy_helper.from_array(np.array(0.0, np.float32), "zero"))
        nodes += [helper.make_node("IsNaN", ["p"], ["nan"]), helper.make_node("Where", ["nan", "zero", "p"], ["pg"])]
        p = "pg"
    nodes.append(helper.make_node("MatMul", [p, "v"], ["y"]))
    inputs = [float_input("q", [B, H, S, D]), float_input("kt", [B, H, D, L]), float_input("v", [B, H, L, D])]
    bias_shape = [B, 1, S, L] if form == "sdpa" else [B, 1, 1, L]
    if form != "plain":
        inputs.append(float_input("bias", bias_shape))
    model = save_model(nodes, inputs, [float_input("y", [B, H, S, D])], tmp_path / f"attn_{form}.onnx", initializers=inits)
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal(shape).astype(np.float32)
             for n, shape in (("q", [B, H, S, D]), ("kt", [B, H, D, L]), ("v", [B, H, L, D]))}
    if form != "plain":
        bias = np.zeros(bias_shape, np.float32)
        bias[..., L - 2:] = -1e9 if form == "legacy" else -np.inf   # padded keys
        if form == "sdpa":
            bias[1, 0, 2, :] = -np.inf  # a fully masked query row: softmax gives NaN, the guard makes it 0
        feeds["bias"] = bias
    for name, array in feeds.items():
        np.save(tmp_path / f"{name}.npy", array)
    return model, [f"--input={n}={tmp_path / n}.npy" for n in feeds]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("form", ["sdpa", "legacy", "plain"])
def test_fused_attention_on_wasm(tmp_path, form, threads):
    model, feeds = _model(tmp_path, form)
    proc = run_cli("verify", str(model), "--backend", "wasm", "--threads", str(threads), "--json", *feeds)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    for out in report["outputs"]:
        assert out["max_abs"] <= 1e-5 + 1e-4 * out["scale"]
    assert "1 attentions fused" in proc.stderr, proc.stderr
    m = re.search(r"wasm: (\d+)/(\d+) ops in wasm", proc.stderr)
    assert m and m.group(1) == m.group(2), proc.stderr

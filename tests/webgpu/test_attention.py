"""webdnn.FusedAttention on webgpu: softmax(Q·Kᵀ·scale + bias)·V as one kernel (wgsl/attention.py).

Each model is fused by webdnn_build.codegen.fuse_attention (the plan has one FusedAttention step and no
Softmax), runs through `webdnn-build verify --backend webgpu` (Dawn in Node, compared with onnxruntime)
with every op on the GPU, and, when wgpu-py has an adapter, with odd workgroup sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from tests.conformance.test_webgpu import _adapter
from tests.helpers import requires
from webdnn_build_webgpu.wgsl import attention as wgsl_attention

from .common import build, check_plan
from .test_index_ops import on_wgpu_py, typed_model, verify

pytestmark = requires(None if _adapter() else "no WebGPU adapter in Node (eval \"$(tools/setup-webgpu.sh)\")")

RNG = np.random.default_rng(3)


def _attention(b, h, s, l, d, dv, *, scale_op=None, bias_shape=None, nan_guard=False):
    """Q [B,H,S,D], K [B,H,L,D] transposed in the graph, V [B,H,L,Dv]; optional Mul/Div scale, bias, NaN guard."""
    nodes = [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
             helper.make_node("MatMul", ["q", "kt"], ["s0"])]
    x, inits = "s0", {}
    if scale_op:
        inits["c"] = np.array(np.sqrt(d) if scale_op == "Div" else 1 / np.sqrt(d), np.float32)
        nodes.append(helper.make_node(scale_op, [x, "c"], ["s1"]))
        x = "s1"
    inputs = {"q": ("float32", (b, h, s, d)), "k": ("float32", (b, h, l, d)), "v": ("float32", (b, h, l, dv))}
    if bias_shape is not None:
        inputs["bias"] = ("float32", bias_shape)
        nodes.append(helper.make_node("Add", [x, "bias"], ["s2"]))
        x = "s2"
    nodes.append(helper.make_node("Softmax", [x], ["p"], axis=-1))
    p = "p"
    if nan_guard:
        inits["zero"] = np.array(0.0, np.float32)
        nodes += [helper.make_node("IsNaN", ["p"], ["isnan"]), helper.make_node("Where", ["isnan", "zero", "p"], ["pg"])]
        p = "pg"
    nodes.append(helper.make_node("MatMul", [p, "v"], ["y"]))
    m = typed_model(nodes, inputs, {"y": ("float32", None)}, inits)
    feeds = {"q": RNG.standard_normal((b, h, s, d)).astype(np.float32),
             "k": RNG.standard_normal((b, h, l, d)).astype(np.float32),
             "v": RNG.standard_normal((b, h, l, dv)).astype(np.float32)}
    return m, feeds


def _check_fused(tmp_path, m):
    (tmp_path / "plan").mkdir()
    _, plan = build(tmp_path / "plan", m)
    check_plan(plan)
    ops = [s["gpu"]["op"] for s in plan["steps"] if "gpu" in s]
    assert all("gpu" in s for s in plan["steps"]), plan["steps"]
    assert ops.count("FusedAttention") == 1 and "Softmax" not in ops, ops


def test_sdpa_nan_guard_fully_masked_row(tmp_path):
    """torch SDPA export: Mul scale, additive -inf mask [B,1,S,L], Where(IsNaN) guard; row 2 fully masked."""
    b, h, s, l, d = 2, 3, 5, 7, 8
    m, feeds = _attention(b, h, s, l, d, d, scale_op="Mul", bias_shape=(b, 1, s, l), nan_guard=True)
    mask = np.where(RNG.random((b, 1, s, l)) < 0.3, -np.inf, 0.0).astype(np.float32)
    mask[:, :, :, 0] = 0.0
    mask[0, 0, 2, :] = -np.inf          # fully masked: NaN probabilities, zeroed by the guard
    feeds["bias"] = mask
    _check_fused(tmp_path, m)
    report = verify(tmp_path, m, feeds)
    assert report["ok"]
    on_wgpu_py(tmp_path, m, feeds)


def test_div_scaled_key_padding_bias(tmp_path):
    """BERT-style: Div by sqrt(d), bias [B,1,1,L] (finite large negative), L past one workgroup's width."""
    b, h, s, l, d = 2, 4, 9, 130, 16
    m, feeds = _attention(b, h, s, l, d, d, scale_op="Div", bias_shape=(b, 1, 1, l))
    bias = np.zeros((b, 1, 1, l), np.float32)
    bias[1, :, :, 100:] = -10000.0
    feeds["bias"] = bias
    _check_fused(tmp_path, m)
    verify(tmp_path, m, feeds)
    on_wgpu_py(tmp_path, m, feeds)


def test_plain_unscaled_different_value_dim(tmp_path):
    """No scale, no bias, Dv != D, one query row per head (a block of rows past S)."""
    m, feeds = _attention(1, 2, 3, 33, 4, 12)
    _check_fused(tmp_path, m)
    verify(tmp_path, m, feeds)


def test_long_keys_stay_unfused(tmp_path):
    """Scores that do not fit workgroup memory: not fused, the unfused ops run on the GPU."""
    l = wgsl_attention.MAX_SCORES
    m, feeds = _attention(1, 1, 2, l, 4, 4, scale_op="Mul")
    (tmp_path / "plan").mkdir()
    _, plan = build(tmp_path / "plan", m)
    ops = [s["gpu"]["op"] for s in plan["steps"] if "gpu" in s]
    assert "FusedAttention" not in ops and "Softmax" in ops, ops
    verify(tmp_path, m, feeds)


@pytest.mark.parametrize("s,l,d", [(1, 5, 3), (20, 400, 64), (2, 3000, 64)])
def test_rows_per_block(s, l, d):
    r = wgsl_attention.rows_per_block(s, l, d)
    assert 1 <= r <= wgsl_attention.MAX_ROWS and (r == 1 or r * (l + d) <= wgsl_attention.MAX_SCORES)
    assert r < 2 * s or r == 1

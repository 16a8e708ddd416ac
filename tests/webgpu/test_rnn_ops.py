"""RNN, GRU, LSTM and ConvInteger on webgpu: every op on the GPU, results against onnxruntime through
`webdnn-build verify --backend webgpu` (Dawn in Node); a few also on the wgpu-py plan executor with odd
workgroup sizes."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.conformance.test_webgpu import _adapter
from tests.helpers import requires

from .test_index_ops import T, on_wgpu_py, typed_model, verify

pytestmark = requires(None if _adapter() else "no WebGPU adapter in Node (eval \"$(tools/setup-webgpu.sh)\")")

RNG = np.random.default_rng(11)
T.update({"uint8": TensorProto.UINT8, "int8": TensorProto.INT8})


def _f(*shape, scale=0.5):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def _rnn_model(op, direction, t, n, i, h, *, bias=True, init=True, peephole=False, computed_w=False,
               outputs=("y", "yh", "yc"), **attrs):
    nd = 2 if direction == "bidirectional" else 1
    g = {"RNN": 1, "GRU": 3, "LSTM": 4}[op]
    inits = {"r": _f(nd, g * h, h)}
    ins = {"x": ("float32", (t, n, i))}
    if computed_w:
        ins["w"] = ("float32", (nd, g * h, i))
    else:
        inits["w"] = _f(nd, g * h, i)
    names = ["x", "w", "r", "", "", ""]
    if bias:
        inits["b"] = _f(nd, 2 * g * h)
        names[3] = "b"
    if init:
        ins["h0"] = ("float32", (nd, n, h))
        names[5] = "h0"
    if op == "LSTM":
        names += ["", ""]
        if init:
            ins["c0"] = ("float32", (nd, n, h))
            names[6] = "c0"
        if peephole:
            inits["p"] = _f(nd, 3 * h)
            names[7] = "p"
    while names and not names[-1]:
        names.pop()
    outs = [o if o in outputs else "" for o in (("y", "yh", "yc") if op == "LSTM" else ("y", "yh"))]
    while outs and not outs[-1]:
        outs.pop()
    node = helper.make_node(op, names, outs, hidden_size=h, direction=direction, **attrs)
    m = typed_model([node], ins, {o: ("float32", None) for o in outs if o}, inits)
    feeds = {k: _f(*s, scale=1.0) for k, (_, s) in ins.items()}
    return m, feeds


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("lbr", [0, 1])
def test_gru(tmp_path, direction, lbr):
    m, feeds = _rnn_model("GRU", direction, 7, 3, 5, 6, linear_before_reset=lbr)
    verify(tmp_path, m, feeds)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_lstm_peepholes(tmp_path, direction):
    m, feeds = _rnn_model("LSTM", direction, 6, 2, 4, 5, peephole=True)
    verify(tmp_path, m, feeds)


def test_lstm_defaults_and_odd_workgroups(tmp_path):
    """No bias, no initial state, Y only; hidden size larger than the workgroup (loops over rows)."""
    m, feeds = _rnn_model("LSTM", "bidirectional", 4, 2, 3, 70, bias=False, init=False, outputs=("y",))
    verify(tmp_path, m, feeds)
    on_wgpu_py(tmp_path, m, feeds)


def test_gru_state_only_computed_weights(tmp_path):
    m, feeds = _rnn_model("GRU", "forward", 5, 1, 4, 8, computed_w=True, outputs=("yh",))
    verify(tmp_path, m, feeds)


def test_rnn_and_activations(tmp_path):
    """Simple RNN with its default Tanh; GRU with other activations (alpha/beta consumed in order per direction)."""
    m, feeds = _rnn_model("RNN", "bidirectional", 5, 2, 3, 4)
    verify(tmp_path, m, feeds)
    (tmp_path / "gru").mkdir()
    m, feeds = _rnn_model("GRU", "bidirectional", 4, 2, 3, 5, activations=["HardSigmoid", "Softsign", "Sigmoid", "LeakyRelu"],
                          activation_alpha=[0.3, 0.05], activation_beta=[0.4])
    verify(tmp_path / "gru", m, feeds)


def test_recurrent_unsupported_stays_on_cpu(tmp_path):
    """clip and sequence_lens run on the js kernels."""
    m, feeds = _rnn_model("GRU", "forward", 4, 1, 3, 4, clip=0.5)
    verify(tmp_path, m, feeds, all_on_gpu=False)


@pytest.mark.parametrize("wtype", ["uint8", "int8"])
def test_conv_integer(tmp_path, wtype):
    """uint8 x (what onnxruntime's ConvInteger takes), uint8 or int8 weights (constant: packed, or computed)."""
    lo, hi = (0, 256) if wtype == "uint8" else (-128, 128)
    u8 = "uint8"

    def q(*s, t=wtype):
        return RNG.integers(0, 256, s).astype(u8) if t == u8 else RNG.integers(lo, hi, s).astype(t)
    nodes = [
        helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], pads=[1, 0, 1, 2], strides=[2, 1], dilations=[1, 2]),
        helper.make_node("ConvInteger", ["x2", "wg"], ["yg"], group=2),                  # grouped, no zero points
        helper.make_node("ConvInteger", ["x", "wc", "xz", "wz"], ["yc"], auto_pad="SAME_UPPER"),  # computed weights
        helper.make_node("ConvInteger", ["x1", "w1", "x1z"], ["y1"], pads=[1, 1]),       # 1-D
    ]
    m = typed_model(nodes, {"x": (u8, (2, 2, 7, 6)), "x2": (u8, (1, 4, 5, 5)), "wc": (wtype, (3, 2, 2, 2)),
                            "x1": (u8, (1, 3, 9))},
                    {"y": ("int32", None), "yg": ("int32", None), "yc": ("int32", None), "y1": ("int32", None)},
                    {"w": q(6, 2, 3, 3), "xz": np.array(3, u8), "wz": np.array(lo + 100, wtype), "wg": q(4, 2, 2, 2),
                     "w1": q(2, 3, 3), "x1z": np.array(9, u8)}, opset=13)
    feeds = {"x": q(2, 2, 7, 6, t=u8), "x2": q(1, 4, 5, 5, t=u8), "wc": q(3, 2, 2, 2), "x1": q(1, 3, 9, t=u8)}
    verify(tmp_path, m, feeds)
    on_wgpu_py(tmp_path, m, feeds)

"""LSTM and GRU run in wasm and match onnxruntime (float32, within verify's tolerance)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from .verify_helper import verify_on_wasm

RNG = np.random.default_rng(11)


def _w(name, shape, scale=0.3):
    return numpy_helper.from_array((RNG.standard_normal(shape) * scale).astype(np.float32), name)


# (op, direction, batch, extras): extras: "b" biases, "h0"/"c0" initial states, "p" peepholes, lbr
CASES = [
    ("LSTM", "bidirectional", 1, ("b", "h0", "c0")),       # the speech model's LSTM
    ("GRU", "forward", 1, ("b", "h0", "lbr")),             # and its GRU (torch: linear_before_reset=1)
    ("LSTM", "reverse", 3, ("p",)),
    ("GRU", "bidirectional", 2, ("b",)),                   # linear_before_reset=0
    ("LSTM", "forward", 2, ()),
    ("GRU", "reverse", 1, ("h0", "lbr")),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_rnn(tmp_path, case, threads):
    op, direction, n, extras = CASES[case]
    t, i, h = 7, 10, 9
    d = 2 if direction == "bidirectional" else 1
    g = 4 if op == "LSTM" else 3
    inits = [_w("W", (d, g * h, i)), _w("R", (d, g * h, h))]
    ins = ["x", "W", "R", "B" if "b" in extras else "", "", "h0" if "h0" in extras else ""]
    if "b" in extras:
        inits.append(_w("B", (d, 2 * g * h)))
    feeds = {"x": RNG.standard_normal((t, n, i)).astype(np.float32)}
    if "h0" in extras:
        feeds["h0"] = (RNG.standard_normal((d, n, h)) * 0.5).astype(np.float32)
    attrs = {"hidden_size": h, "direction": direction}
    outputs = {"y": (np.float32, (t, d, n, h)), "yh": (np.float32, (d, n, h))}
    outs = ["y", "yh"]
    if op == "LSTM":
        ins += ["c0" if "c0" in extras else "", "P" if "p" in extras else ""]
        if "c0" in extras:
            feeds["c0"] = (RNG.standard_normal((d, n, h)) * 0.5).astype(np.float32)
        if "p" in extras:
            inits.append(_w("P", (d, 3 * h)))
        outs.append("yc")
        outputs["yc"] = (np.float32, (d, n, h))
    else:
        attrs["linear_before_reset"] = int("lbr" in extras)
    while ins and not ins[-1]:
        ins.pop()
    node = helper.make_node(op, ins, outs, **attrs)
    verify_on_wasm(tmp_path, [node], feeds, outputs, inits, threads=threads)

"""LayerNormalization runs natively on the wasm backend (no js fallback) and matches onnxruntime."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from onnx import helper, numpy_helper

from ..helpers import float_input, run_cli, save_model


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape, axis, with_bias", [
    ((2, 16, 384), -1, True),
    ((3, 5, 7), 1, False),
    ((4, 6), -1, True),  # cols = 6: scalar tail
])
def test_layernorm_on_wasm(tmp_path, shape, axis, with_bias, threads):
    rng = np.random.default_rng(0)
    norm_shape = shape[axis:]
    scale = numpy_helper.from_array(rng.uniform(0.5, 1.5, norm_shape).astype(np.float32), "scale")
    inits = [scale]
    inputs = ["x", "scale"]
    if with_bias:
        inits.append(numpy_helper.from_array(rng.normal(0, 1, norm_shape).astype(np.float32), "bias"))
        inputs.append("bias")
    node = helper.make_node("LayerNormalization", inputs, ["y"], axis=axis, epsilon=1e-5)
    model = save_model([node], [float_input("x", list(shape))], [float_input("y", list(shape))],
                       tmp_path / "ln.onnx", initializers=inits)
    proc = run_cli("verify", str(model), "--backend", "wasm", "--threads", str(threads), "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    for out in report["outputs"]:
        assert out["max_abs"] <= 1e-5 + 1e-4 * out["scale"]
    m = re.search(r"wasm: (\d+)/(\d+) ops in wasm", proc.stderr)
    assert m, proc.stderr
    assert m.group(1) == m.group(2), proc.stderr

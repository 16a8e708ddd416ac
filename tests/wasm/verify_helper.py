"""verify a small ONNX model on the wasm backend: every op in wasm, outputs match onnxruntime."""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
from onnx import helper

from ..helpers import run_cli, save_model


def vi(name: str, dtype, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), list(shape))


def verify_on_wasm(tmp_path, nodes, feeds: dict, outputs: dict, inits=(), threads: int = 1, opset: int = 17,
                   all_in_wasm: bool = True, options: tuple[str, ...] = ()) -> dict:
    """Build ``nodes`` (graph inputs ``feeds``: name -> array; ``outputs``: name -> (dtype, shape)), run
    ``webdnn-build verify --backend wasm`` (``options``: ``wasm.KEY=VALUE`` build options) and check the match
    and (``all_in_wasm``) that no op ran in js."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    model = save_model(nodes, [vi(k, v.dtype, v.shape) for k, v in feeds.items()],
                       [vi(k, dt, shape) for k, (dt, shape) in outputs.items()], tmp_path / "m.onnx",
                       initializers=inits, opset=opset)
    args = []
    for k, v in feeds.items():
        np.save(tmp_path / f"{k}.npy", v)
        args += ["--input", f"{k}={tmp_path / f'{k}.npy'}"]
    extra = [a for o in options for a in ("--backend-option", o)]
    proc = run_cli("verify", str(model), "--backend", "wasm", "--threads", str(threads), "--json", *extra, *args)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    assert report["ok"] is True, report
    m = re.search(r"wasm: (\d+)/(\d+) ops in wasm", proc.stderr)
    assert m, proc.stderr
    if all_in_wasm:
        assert m.group(1) == m.group(2), proc.stderr
    return report

"""Every backend records where the graph's ops run ("placement" in its manifest entry), and the
counts agree with its plan: native ops on its own kernels, fallback ops as js/CPU steps (issue 9, item 7)."""

from __future__ import annotations

import json

import numpy as np
from onnx import helper

from webdnn_build.compiler import BuildOptions, compile_model

from .helpers import float_input, save_model


def test_placement_matches_the_plans(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("DFT", ["r"], ["g"], axis=1),   # no native kernel for this one (yet)
             helper.make_node("Sigmoid", ["g"], ["y"])]
    model = save_model(nodes, [float_input("x", [1, 4, 1])], [float_input("y", [1, 4, 2])], tmp_path / "m.onnx")
    result = compile_model(model, tmp_path / "b", BuildOptions(backends=["js", "wasm", "webgpu"]), log=lambda s: None)
    entries = result.manifest["backends"]
    assert entries["js"]["placement"] == {"native": 3, "fallback": 0}

    wasm = json.loads((result.out_dir / "wasm" / "plan.json").read_text())
    js_steps = sum(1 for s in wasm["steps"] if "js" in s)
    wasm_ops = sum(len(s["ops"]) for s in wasm["steps"] if "wasm" in s)
    assert entries["wasm"]["placement"] == {"native": wasm_ops, "fallback": js_steps, "fallback_ops": ["DFT"]}
    assert js_steps == 1 and wasm_ops == 2

    gpu = json.loads((result.out_dir / "webgpu" / "plan.json").read_text())
    cpu_steps = sum(1 for s in gpu["steps"] if "cpu" in s)
    assert entries["webgpu"]["placement"]["fallback"] == cpu_steps
    assert entries["webgpu"]["placement"]["native"] + cpu_steps >= 1
    assert entries["webgpu"]["placement"].get("fallback_ops", []) == (["DFT"] if cpu_steps else [])

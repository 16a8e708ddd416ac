"""Helpers of the webgpu codegen tests: build one-op models, check plan.json, run on wgpu-py."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.helpers import require_or_skip
from webdnn_build.compiler import BuildOptions, compile_model

from . import wgpu_runner

MAX_BINDING = 128 << 20


def model(nodes, inputs: dict[str, tuple], outputs: dict[str, Optional[tuple]], inits: dict[str, np.ndarray] = None,
          opset: int = 17) -> onnx.ModelProto:
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()]
    inits = [numpy_helper.from_array(np.asarray(a), n) for n, a in (inits or {}).items()]
    graph = helper.make_graph(nodes, "t", ins, outs, initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def build(tmp_path: Path, m: onnx.ModelProto, options: dict[str, str] | None = None,
          passes: Optional[list[str]] = None) -> tuple[Path, dict[str, Any]]:
    src = tmp_path / "m.onnx"
    onnx.save(m, str(src))
    opts = BuildOptions(backends=["webgpu"], backend_options={"webgpu": options or {}}, passes=passes)
    out = compile_model(src, tmp_path / "bundle", opts, log=lambda s: None).out_dir
    return out, json.loads((out / "webgpu" / "plan.json").read_text())


def check_plan(plan: dict[str, Any], max_binding: int = MAX_BINDING) -> None:
    """The invariants docs/webgpu-backend.md promises the runtime."""
    assert plan["precision"] in ("f32", "f16")
    assert plan["buffers"][0]["kind"] == "arena"
    assert all(b["kind"] in ("arena", "weights") for b in plan["buffers"])
    assert len(set(plan["shaders"])) == len(plan["shaders"]), "shaders are deduplicated"
    for v in plan["values"]:
        gpu = v.get("gpu")
        if gpu is None:
            continue
        pieces = gpu["parts"] if "parts" in gpu else [gpu]
        if "parts" in gpu:
            assert "const" in v, "only constants are split"
        for p in pieces:
            assert p["offset"] % 256 == 0
            assert p["byteLength"] <= max_binding
            assert p["offset"] + p["byteLength"] <= plan["buffers"][p["buffer"]]["byteLength"]
    used_shaders = set()
    for step in plan["steps"]:
        assert len(step) == 1 and ("gpu" in step or "cpu" in step)
        if "cpu" in step:
            continue
        g = step["gpu"]
        used_shaders.add(g["shader"])
        assert len(g["bindings"]) <= 8
        assert ("invocations" in g) != ("workgroups" in g)
        wg = g["workgroup"]["override"]
        assert math.prod(wg.get(k, 1) for k in ("WG_X", "WG_Y", "WG_Z")) <= 256
        src = plan["shaders"][g["shader"]]
        for i, b in enumerate(g["bindings"]):
            assert f"@binding({i})" in src
            v = plan["values"][b["value"]]
            decl = "read" if "const" in v else "read_write"
            assert f"@group(0) @binding({i}) var<storage, {decl}>" in src
            if "part" in b:
                assert b["part"] < len(v["gpu"]["parts"])
        # an arena range is bound once per dispatch (writable aliasing)
        keys = [(b["value"], b.get("part")) for b in g["bindings"]]
        assert len(keys) == len(set(keys))
    assert used_shaders == set(range(len(plan["shaders"])))


def needs_gpu():
    """Skips (fails under CI=true) when wgpu-py or a Vulkan adapter is missing."""
    if wgpu_runner.device() is None:
        require_or_skip(f"wgpu-py with a Vulkan adapter is not available ({wgpu_runner.unavailable_reason()}; "
                        "pip install -r requirements-dev.txt; eval \"$(tools/setup-webgpu.sh)\")")


def ort_run(m: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def run_and_compare(tmp_path: Path, m: onnx.ModelProto, feeds: dict[str, np.ndarray], *, options=None,
                    rtol: float = 1e-4, atol: float = 1e-5, runner_kwargs: list[dict] = ({},),
                    passes: Optional[list[str]] = None) -> dict[str, Any]:
    needs_gpu()
    bundle, plan = build(tmp_path, m, options, passes)
    check_plan(plan)
    ref = ort_run(m, feeds)
    for kw in runner_kwargs:
        out = wgpu_runner.PlanRunner(bundle, **kw).run(feeds)
        for name, want in ref.items():
            got = out[name]
            assert got.shape == want.shape, (name, got.shape, want.shape)
            err = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
            scale = float(np.max(np.abs(want))) if want.size else 0.0
            assert err <= atol + rtol * scale, f"{name} ({kw}): max abs err {err} (scale {scale})"
    return plan

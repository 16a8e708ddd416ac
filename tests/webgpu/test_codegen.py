"""The webgpu backend's codegen: partition, transfers, memory plan, binding splits, plan.json invariants."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from webdnn_build.errors import ConfigError
from webdnn_build.plugins import get_host
from webdnn_build_webgpu.wgsl import base as wgsl_base
from webdnn_build_webgpu.wgsl.cumulative import MAX_TOPK_DIM

from . import wgpu_runner
from .common import build, check_plan, model, needs_gpu, run_and_compare

RNG = np.random.default_rng(1)


def test_registered_with_the_js_ops():
    backends = get_host().registry.backends
    assert backends["webgpu"].supported_ops() == backends["js"].supported_ops()


def test_cpu_fallback_gets_transfers(tmp_path):
    # TopK over an axis longer than its WGSL kernel takes runs on the CPU: its input is downloaded, its output
    # uploaded for the Relu after it
    n = MAX_TOPK_DIM + 1
    nodes = [helper.make_node("Mul", ["x", "x"], ["m"]), helper.make_node("TopK", ["m", "k"], ["v", "i"], axis=-1),
             helper.make_node("Relu", ["v"], ["y"])]
    m = model(nodes, {"x": (3, n)}, {"y": (3, 4)}, {"k": np.array([4], np.int64)})
    bundle, plan = build(tmp_path, m)
    check_plan(plan)
    kinds = [next(iter(s)) for s in plan["steps"]]
    assert kinds == ["gpu", "cpu", "gpu"]
    names = [v["name"] for v in plan["values"]]
    cpu = plan["steps"][1]["cpu"]
    assert [names[i] for i in cpu["download"]] == ["m"]
    assert [names[i] for i in cpu["upload"]] == ["v"]
    # the int64 indices output never touches the GPU
    assert "gpu" not in plan["values"][names.index("i")]
    mul = plan["steps"][0]["gpu"]
    assert len(mul["bindings"]) == 2  # Mul(x, x) binds x once
    needs_gpu()  # the plan is checked; the numbers need the device
    x = RNG.standard_normal((3, n)).astype(np.float32)
    out = wgpu_runner.PlanRunner(bundle).run({"x": x})
    want = np.maximum(np.sort(x * x, axis=-1)[:, ::-1][:, :4], 0)
    np.testing.assert_allclose(out["y"], want, rtol=1e-6)


def test_arena_offsets_are_256_aligned_and_io_planned(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sigmoid", ["a"], ["b"]),
             helper.make_node("Softmax", ["b"], ["y"])]
    _, plan = build(tmp_path, model(nodes, {"x": (3, 5)}, {"y": (3, 5)}))
    check_plan(plan)
    gpu_values = [v for v in plan["values"] if "gpu" in v]
    assert {v["name"] for v in gpu_values} >= {"x", "y"}
    assert all(v["gpu"]["offset"] % 256 == 0 and v["gpu"]["byteLength"] % 256 == 0 for v in gpu_values)


def test_identical_ops_share_one_shader(tmp_path):
    nodes = [helper.make_node("Softmax", ["x"], ["a"]), helper.make_node("Softmax", ["a"], ["b"]),
             helper.make_node("Softmax", ["b"], ["y"])]
    _, plan = build(tmp_path, model(nodes, {"x": (2, 50)}, {"y": (2, 50)}))
    assert len(plan["shaders"]) == 1 and len(plan["steps"]) == 3


def test_large_weight_is_split_across_bindings(tmp_path, monkeypatch):
    # with a 4 KiB binding limit a 64x40 fc weight (10 KiB) needs 3 parts, each its own buffer
    monkeypatch.setattr(wgsl_base, "MAX_BINDING_BYTES", 4096)
    w = RNG.standard_normal((64, 40)).astype(np.float32)
    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)
    b = RNG.standard_normal(64).astype(np.float32)
    m = model([node], {"x": (2, 40)}, {"y": (2, 64)}, {"w": w, "b": b})
    bundle, plan = build(tmp_path, m)
    check_plan(plan, max_binding=4096)
    wv = next(v for v in plan["values"] if v["name"] == "w")
    assert len(wv["gpu"]["parts"]) == 3 and wv["gpu"]["byteLength"] == w.nbytes
    assert len({p["buffer"] for p in wv["gpu"]["parts"]}) == 3
    step = plan["steps"][0]["gpu"]
    assert [b.get("part") for b in step["bindings"] if plan["values"][b["value"]]["name"] == "w"] == [0, 1, 2]
    needs_gpu()  # the plan is checked; the numbers need the device
    x = RNG.standard_normal((2, 40)).astype(np.float32)
    out = wgpu_runner.PlanRunner(bundle).run({"x": x})
    np.testing.assert_allclose(out["y"], x @ w.T + b, rtol=1e-4, atol=1e-5)


def test_f16_precision_plan(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])]
    m = model(nodes, {"x": (1, 2, 5, 5)}, {"y": (1, 3, 5, 5)}, {"w": RNG.standard_normal((3, 2, 3, 3)).astype(np.float32)})
    _, plan = build(tmp_path, m, {"precision": "f16"})
    check_plan(plan)
    assert plan["precision"] == "f16"
    assert all(s.startswith("enable f16;") for s in plan["shaders"])
    assert "array<f16>" in plan["shaders"][0]
    x = next(v for v in plan["values"] if v["name"] == "x")
    assert x["gpu"]["byteLength"] == 256  # 50 halves, rounded up to the alignment
    (tmp_path / "bad").mkdir()
    with pytest.raises(ConfigError, match="precision"):
        build(tmp_path / "bad", m, {"precision": "f64"})


@pytest.mark.parametrize("name", ["tiny_cnn", "mobilenetv2", "resnet50"])
def test_models_all_on_gpu(tmp_path, generated_models, name):
    """Every op of the example models has a WGSL kernel (no CPU steps)."""
    import json

    from webdnn_build.compiler import BuildOptions, compile_model
    out = compile_model(generated_models / f"{name}.onnx", tmp_path / "b", BuildOptions(backends=["webgpu"]),
                        log=lambda s: None).out_dir
    plan = json.loads((out / "webgpu/plan.json").read_text())
    check_plan(plan)
    assert all("gpu" in s for s in plan["steps"])


@pytest.mark.parametrize("shape", [(1, 3, 4)])
def test_run_and_compare_smoke(tmp_path, shape):
    m = model([helper.make_node("Relu", ["x"], ["y"])], {"x": shape}, {"y": shape})
    run_and_compare(tmp_path, m, {"x": RNG.standard_normal(shape).astype(np.float32)})

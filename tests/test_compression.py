"""Build-time weight compression (issue 11, webdnn_build/compress.py): `--quantize fp16|int8|int4` with per-pattern
overrides, the stored sizes, every backend decoding at load exactly what the compiler computed with (compared with
onnxruntime on the model whose weights are the round-tripped values, at verify's float tolerance), the accuracy
report in the manifest, and `--max-accuracy-loss` failing a build and leaving nothing behind."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn_build.compress import MIN_ELEMENTS, QuantizeSpec, _fp16, _int4, _int8, parse_quantize
from webdnn_build.errors import ConfigError
from webdnn_build.node import NodeWorker
from webdnn_build.verify import run_onnxruntime

from .helpers import run_cli, save_model


def _model(path):
    """Conv (weight [16, 8, 3, 3]) -> Mul by a [1, 16, 12, 12] map -> Relu -> Flatten -> MatMul ([2304, 64]) ->
    Gemm (transB, [32, 64]) -> Add of a [1, 32] bias, too small to compress."""
    rng = np.random.default_rng(0)
    inits = {"conv_w": rng.standard_normal((16, 8, 3, 3)) * 0.2, "mm_w": rng.standard_normal((2304, 64)) * 0.05,
             "fc_w": rng.standard_normal((32, 64)) * 0.2, "bias": rng.standard_normal((1, 32)),
             "table": rng.random((1, 16, 12, 12)) + 0.5}  # (not a product's weight: per tensor, asymmetric)
    nodes = [helper.make_node("Conv", ["x", "conv_w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Mul", ["c", "table"], ["ct"]),
             helper.make_node("Relu", ["ct"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("MatMul", ["f", "mm_w"], ["m"]),
             helper.make_node("Gemm", ["m", "fc_w"], ["g"], transB=1),
             helper.make_node("Add", ["g", "bias"], ["y"])]
    return save_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 12, 12])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32])], path,
                      initializers=[numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()], opset=13)


def _round_tripped(model, out, mode):
    """The model with each compressed weight replaced by what the compiler computes with."""
    m = onnx.load(str(model))
    axes = {"conv_w": 0, "mm_w": 1, "fc_w": 0, "table": None}
    reduction = {"mm_w": 0, "fc_w": 1}  # int4: the MatMul / Gemm weights, in blocks along K
    for init in m.graph.initializer:
        if init.name in axes:
            w = numpy_helper.to_array(init)
            if mode == "int4" and init.name in reduction:
                back = _int4(w, reduction[init.name])[1]
            else:
                back = (_fp16 if mode == "fp16" else _int8)(w, axes[init.name])[1]
            init.CopyFrom(numpy_helper.from_array(back, init.name))
    onnx.save(m, str(out))
    return out


def test_quantize_arguments():
    spec = parse_quantize(["int8", "*fc*=fp16", "fc_w=none"])
    assert spec.default == "int8" and spec.mode_for("conv_w") == "int8" and spec.mode_for("my_fc_b") == "fp16"
    assert spec.mode_for("fc_w") == "none"  # the later pattern wins
    assert not QuantizeSpec().active and parse_quantize(["none"]).active is False
    for bad, msg in (["int3"], "mode must be one of"), (["=int8"], "expected PATTERN=MODE"):
        with pytest.raises(ConfigError, match=msg):
            parse_quantize(bad)


@pytest.mark.parametrize("mode, ratio, tensors", [("fp16", 0.51, {"fp16": 4}), ("int8", 0.27, {"int8": 4}),
                                                   ("int4", 0.17, {"int4": 2, "int8": 2})])
def test_compressed_weights_decode_on_every_backend_as_compiled(tmp_path, mode, ratio, tensors):
    model = _model(tmp_path / "m.onnx")
    plain = tmp_path / "plain"
    assert run_cli("build", str(model), "-o", str(plain), "--backends", "js", "-q").returncode == 0
    out = tmp_path / mode
    proc = run_cli("build", str(model), "-o", str(out), "--backends", "js,wasm,webgpu", "--quantize", mode, "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)["results"][0]["compression"]
    assert info["tensors"] == tensors and info["storedBytes"] <= ratio * info["rawBytes"], info
    # the weight file shrinks by what the four weights saved (the bias stays float32)
    saved = (plain / "weights.bin").stat().st_size - (out / "weights.bin").stat().st_size
    assert saved >= (1 - ratio) * info["rawBytes"] - 64, saved
    acc = info["accuracy"]
    assert acc["backend"] == "js" and acc["outputs"]["y"]["cosine"] > 0.99 and acc["loss"] < 1e-2, acc
    assert acc["outputs"]["y"]["top1Agreement"] == 1.0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["compression"]["accuracy"] == acc

    reference_model = _round_tripped(model, tmp_path / f"rt_{mode}.onnx", mode)
    x = np.random.default_rng(1).standard_normal((1, 8, 12, 12)).astype(np.float32)
    want = run_onnxruntime(reference_model, {"x": x})["y"]
    with NodeWorker() as worker:
        for backend in ("js", "wasm", "webgpu"):
            loaded = worker.load(out, [backend], None)
            assert loaded["backend"] == backend
            (name, got), = worker.run(loaded["handle"], {"x": x}, {"x": "float32"})[0]
            err = float(np.max(np.abs(got - want)))
            assert err <= 1e-5 + 1e-4 * float(np.max(np.abs(want))), (backend, err)


def test_small_and_excluded_constants_stay_float32(tmp_path):
    model = _model(tmp_path / "m.onnx")
    out = tmp_path / "b"
    proc = run_cli("build", str(model), "-o", str(out), "--backends", "js", "--quantize", "int8",
                   "--quantize", "mm_*=none", "--json")
    assert proc.returncode == 0, proc.stderr
    program = json.loads((out / "js" / "program.json").read_text())
    encodings = {v["name"]: v["const"]["encoding"] for v in program["values"] if "const" in v}
    assert encodings["mm_w"] == "raw" and encodings["conv_w"] == "int8" and encodings["bias"] == "raw"
    assert np.size(np.zeros((1, 32))) < MIN_ELEMENTS


def test_max_accuracy_loss_fails_the_build_and_writes_nothing(tmp_path):
    model = _model(tmp_path / "m.onnx")
    out = tmp_path / "b"
    proc = run_cli("build", str(model), "-o", str(out), "--backends", "js", "--quantize", "int8",
                   "--max-accuracy-loss", "1e-9")
    assert proc.returncode != 0 and "more than --max-accuracy-loss 1e-09" in proc.stderr, proc.stderr
    assert not out.exists()


def test_quantize_in_the_config(tmp_path):
    """`quantize` in webdnn.toml (a mode, a list, or a table of pattern = mode; a model's own replaces the top-level
    one), part of the build key: changing it rebuilds."""
    from webdnn_build.config import load_config, parse_quantize_key
    assert parse_quantize_key({"*": "int8", "*emb*": "fp16"}, "cfg") == ["int8", "*emb*=fp16"]
    assert parse_quantize_key(["fp16", "a=none"], "cfg") == ["fp16", "a=none"]
    with pytest.raises(ConfigError, match="quantize must be a mode"):
        parse_quantize_key(8, "cfg")
    _model(tmp_path / "m.onnx")
    cfg = tmp_path / "webdnn.toml"
    cfg.write_text('backends = ["js"]\nquantize = "fp16"\n[[models]]\npath = "m.onnx"\n'
                   '[[models]]\npath = "m.onnx"\nout = "b2"\nquantize = { "*" = "int8", "mm_*" = "none" }\n')
    assert [m.quantize for m in load_config(cfg).models] == [["fp16"], ["int8", "mm_*=none"]]
    proc = run_cli("build", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first = json.loads((tmp_path / "webdnn-bundles" / "m" / "manifest.json").read_text())["compression"]
    second = json.loads((tmp_path / "b2" / "manifest.json").read_text())["compression"]
    assert first["tensors"] == {"fp16": 4} and second["tensors"] == {"int8": 3}
    cfg.write_text(cfg.read_text().replace('quantize = "fp16"', 'quantize = "int8"'))
    statuses = [r["status"] for r in json.loads(run_cli("build", "--json", cwd=tmp_path).stdout)["results"]]
    assert statuses == ["built", "up-to-date"]

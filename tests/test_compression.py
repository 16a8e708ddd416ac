"""Build-time weight compression (issue 11, webdnn_build/compress.py): `--quantize fp16|int8|int4[:B]|eightbit` with
per-pattern overrides, the stored sizes, every backend decoding at load exactly what the compiler computed with (compared with
onnxruntime on the model whose weights are the round-tripped values, at verify's float tolerance), the accuracy
report in the manifest, and `--max-accuracy-loss` failing a build and leaving nothing behind."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn_build.compress import (EIGHTBIT_MAGNITUDES, EIGHTBIT_MAX, INT8_AS_FP16_BELOW, INT8_FP16_BUDGET,
                                   MIN_ELEMENTS, Compressed, QuantizeSpec, _eightbit, _fp16, _int4, _int8, int4_block,
                                   parse_quantize)
from webdnn_build.errors import ConfigError
from webdnn_build.node import NodeWorker
from webdnn_build.verify import run_onnxruntime
from webdnn_build.weights import read_weights

from .helpers import float_input, run_cli, save_model

CONSTANTS_JS = Path(__file__).resolve().parents[1] / "js-runtime" / "src" / "constants.js"


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
            if int4_block(mode) and init.name in reduction:
                back = _int4(w, reduction[init.name], int4_block(mode))[1]
            elif mode == "eightbit":
                back = _eightbit(w)[1]
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
    # int4:B (B a power of two from 16 to 1024; plain int4 is 32) and eightbit, as the default and per pattern
    spec = parse_quantize(["eightbit", "*attn*=int4:128", "fc_w=INT4:0016", "x=int4"])
    assert spec.default == "eightbit" and spec.patterns == [("*attn*", "int4:128"), ("fc_w", "int4:16"), ("x", "int4")]
    assert [int4_block(m) for m in ("int4", "int4:16", "int4:1024", "int8", "eightbit")] == [32, 16, 1024, None, None]
    for bad in ("int4:48", "int4:8", "int4:x", "int4:", "int4:2048", "*attn*=int4:-32"):
        with pytest.raises(ConfigError, match="the int4 block must be a power of two from 16 to 1024"):
            parse_quantize([bad])


def _int4_stored(block: int) -> int:
    """The stored bytes of the test model with int4:block: its two product weights as int4 (N x blocks codes of
    block / 2 bytes and a float32 scale), the Conv weight and the map as int8 (1216 and 2304 bytes)."""
    stored = 1216 + 2304
    for n, k in ((64, 2304), (32, 64)):  # mm_w [K=2304, N=64]; fc_w [N=32, K=64] (transB)
        blocks = -(-k // block)
        stored += n * blocks * (block // 2 + 4)
    return stored


def _weight_bytes(bundle: Path) -> int:
    """The bundle's weight bytes, before any shard deflate: the manifest's weights.byteLength (shards), else the
    size of weights.bin (one file)."""
    weights = json.loads((bundle / "manifest.json").read_text()).get("weights")
    return weights["byteLength"] if isinstance(weights, dict) else (bundle / "weights.bin").stat().st_size


@pytest.mark.parametrize("mode, ratio, tensors", [("fp16", 0.51, {"fp16": 4}), ("int8", 0.27, {"int8": 4}),
                                                   ("int4", 0.17, {"int4": 2, "int8": 2}),
                                                   ("int4:16", 0.19, {"int4": 2, "int8": 2}),
                                                   ("int4:128", 0.14, {"int4": 2, "int8": 2}),
                                                   ("eightbit", 0.26, {"eightbit": 4})])
def test_compressed_weights_decode_on_every_backend_as_compiled(tmp_path, mode, ratio, tensors):
    model = _model(tmp_path / "m.onnx")
    plain = tmp_path / "plain"
    assert run_cli("build", str(model), "-o", str(plain), "--backends", "js", "-q").returncode == 0
    out = tmp_path / mode
    # (as a pattern: every constant gets exactly this mode, small int8 ones included: see INT8_AS_FP16_BELOW)
    proc = run_cli("build", str(model), "-o", str(out), "--backends", "js,wasm,webgpu", "--quantize", f"*={mode}",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)["results"][0]["compression"]
    assert info["tensors"] == tensors and info["storedBytes"] <= ratio * info["rawBytes"], info
    if int4_block(mode):  # (smaller blocks: more scales; a block over K = 64 pads fc_w's columns to it)
        assert info["storedBytes"] == _int4_stored(int4_block(mode)), info
    if mode == "eightbit":  # a byte per element, nothing else
        assert info["storedBytes"] * 4 == info["rawBytes"], info
    # the weight file shrinks by what the four weights saved (the bias stays float32)
    saved = _weight_bytes(plain) - _weight_bytes(out)
    assert saved >= (1 - ratio) * info["rawBytes"] - 64, saved
    acc = info["accuracy"]
    loss = 2e-2 if mode == "int4:128" else 1e-2  # (a block of 128 random weights: one scale for a wider spread)
    assert acc["backend"] == "js" and acc["outputs"]["y"]["cosine"] > 1 - loss and acc["loss"] < loss, acc
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
    """Vectors and tensors under MIN_ELEMENTS stay float32, PATTERN=none excludes; with int8 as the default mode,
    constants under INT8_AS_FP16_BELOW elements are stored as fp16, smallest first up to INT8_FP16_BUDGET of the
    int8 elements, unless a pattern names them."""
    model = _model(tmp_path / "m.onnx")

    def encodings(*quantize):
        out = tmp_path / f"b{len(quantize)}"
        proc = run_cli("build", str(model), "-o", str(out), "--backends", "js",
                       *[a for q in quantize for a in ("--quantize", q)])
        assert proc.returncode == 0, proc.stderr
        program = json.loads((out / "js" / "program.json").read_text())
        return {v["name"]: v["const"]["encoding"] for v in program["values"] if "const" in v}

    got = encodings("int8", "mm_*=none")
    assert got["mm_w"] == "raw" and got["bias"] == "raw" and np.size(np.zeros((1, 32))) < MIN_ELEMENTS
    assert got["conv_w"] == "int8"  # (the three left are all small: 2% of their 5,504 elements fits none of them)
    got = encodings("int8")  # 2% of 152,960 int8 elements: conv_w's 1,152 fit, fc_w's 2,048 more do not
    assert (got["mm_w"], got["conv_w"], got["fc_w"], got["table"]) == ("int8", "fp16", "int8", "int8"), got
    assert 1152 < INT8_AS_FP16_BELOW and 1152 <= INT8_FP16_BUDGET * 152960 < 1152 + 2048
    assert encodings("int8", "conv_*=int8")["conv_w"] == "int8"  # (a pattern names it: exactly int8)


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


# -- eightbit: the table, the accuracy, and the runtime decoding the compiler's round trip to the bit -------------

def test_eightbit_encoding():
    """A byte per element: bit 7 the sign, bits 0-6 the nearest of 128 magnitudes (a 3-bit-exponent, 4-bit-mantissa
    float's, as the integers 0..1984) to |w| / scale, scale = max|w| / 1984; the round trip is ±magnitude * scale in
    float32. Accuracy: cosine > 0.99 on a Gaussian matrix (it is 0.9999), about as good on heavy tails."""
    t = EIGHTBIT_MAGNITUDES
    assert t.dtype == np.float32 and t.shape == (128,) and EIGHTBIT_MAX == 1984 == t[-1]
    assert np.all(np.diff(t) > 0) and np.array_equal(t, np.rint(t)) and list(t[:18]) == list(range(18))
    assert list(t[32:35]) == [32, 34, 36] and list(t[112:114]) == [1024, 1088]  # steps double each 16 codes from 16
    rng = np.random.default_rng(0)
    for w in (rng.standard_normal((256, 256)).astype(np.float32), rng.standard_t(3, (128, 64)).astype(np.float32)):
        enc, back = _eightbit(w)
        codes = enc.payloads[0]
        assert codes.dtype == np.uint8 and codes.shape == w.shape and enc.stored_bytes * 4 == enc.raw_bytes
        scale = np.float32(enc.descriptor["scale"])
        assert enc.descriptor == {"encoding": "eightbit", "scale": float(scale)}
        assert scale == np.float32(np.abs(w).max() / 1984)
        magnitude, negative = codes & 127, codes >= 128
        assert np.array_equal(negative, (w < 0) & (magnitude > 0))  # (zero has one code)
        assert codes.ravel()[np.abs(w).argmax()] & 127 == 127
        # the exact round trip (float32 products), and each code the nearest magnitude
        assert np.array_equal(back, np.where(negative, -t[magnitude], t[magnitude]) * scale)
        x = np.abs(w.astype(np.float64)) / float(scale)
        nearest = np.abs(x[..., None] - t.astype(np.float64)).min(-1)
        assert np.allclose(np.abs(x - t[magnitude]), nearest, rtol=0, atol=1e-9)
        a, b = w.astype(np.float64).ravel(), back.astype(np.float64).ravel()
        assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.9998
    # a chunked encode is the same encode; zeros stay zeros (scale 1); an underflowing scale keeps float32
    w = rng.standard_normal((64, 64)).astype(np.float32)
    assert np.array_equal(_eightbit(w, step=1000)[0].payloads[0], _eightbit(w)[0].payloads[0])
    zeros = _eightbit(np.zeros((32, 32), np.float32))
    assert zeros[0].descriptor["scale"] == 1.0 and not zeros[0].payloads[0].any() and not zeros[1].any()
    assert _eightbit(np.full((32, 32), 1e-42, np.float32)) is None
    top = np.finfo(np.float32).max  # 1984 * fl(top / 1984) rounds past float32's range; one step below does not
    assert _eightbit(np.full((32, 32), top, np.float32)) is None
    assert _eightbit(np.full((32, 32), np.nextafter(top, np.float32(0)), np.float32))[1].max() < np.inf


def _decode_in_js(cases: list[tuple[dict, bytes]]) -> list[np.ndarray]:
    """js-runtime's decodeConstant on (descriptor, weight bytes) pairs: the float32 results, or the error messages."""
    script = (
        "const { decodeConstant } = await import(process.argv[1]); const out = [];"
        "for (const [desc, hex] of JSON.parse(process.argv[2])) {"
        "  try { const t = decodeConstant(desc, Uint8Array.from(Buffer.from(hex, 'hex')));"
        "        out.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('hex')); }"
        "  catch (e) { out.push({ error: `${e.constructor.name}: ${e.message}` }); } }"
        "console.log(JSON.stringify(out));")
    proc = subprocess.run(["node", "--input-type=module", "-e", script, CONSTANTS_JS.as_uri(),
                           json.dumps([[d, b.hex()] for d, b in cases])], capture_output=True, text=True, check=True)
    return [r if isinstance(r, dict) else np.frombuffer(bytes.fromhex(r), np.float32) for r in json.loads(proc.stdout)]


def test_eightbit_decodes_in_js_bit_for_bit():
    """The runtime's decodeEightbit gives the compiler's round trip bit for bit: every byte value under scales that
    round in every way (random float32, tiny, subnormal, near float32's top), and a whole random tensor; bad
    descriptors are refused with an Error naming the field."""
    rng = np.random.default_rng(3)
    every_byte = np.arange(256, dtype=np.uint8).reshape(16, 16)
    scales = [np.float32(x) for x in (1.0, 0.1, 1 / 3, 2.0 ** -126, 1e-44, 3.4e38 / 1984, 1.7e35)]
    scales += list((rng.standard_normal(24) ** 2 * 10.0 ** rng.integers(-30, 30, 24)).astype(np.float32))
    cases = [({"encoding": "eightbit", "dtype": "float32", "shape": [16, 16], "offset": 0, "byteLength": 256,
               "scale": float(s)}, every_byte.tobytes()) for s in scales]
    w = (rng.standard_normal((48, 40)) * 0.03).astype(np.float32)
    enc, back = _eightbit(w)
    cases.append(({**enc.descriptor, "dtype": "float32", "shape": list(w.shape), "offset": 16,
                   "byteLength": w.size}, bytes(16) + enc.payloads[0].tobytes()))
    got = _decode_in_js(cases)
    for s, g in zip(scales, got):
        want = np.concatenate([EIGHTBIT_MAGNITUDES, -EIGHTBIT_MAGNITUDES]) * s  # (as _eightbit computes it)
        assert isinstance(g, np.ndarray) and np.array_equal(g.view(np.uint32), want.view(np.uint32)), s
    assert np.array_equal(got[-1].view(np.uint32), back.ravel().view(np.uint32))

    good = {"encoding": "eightbit", "dtype": "float32", "shape": [2, 2], "offset": 0, "byteLength": 4, "scale": 0.5}
    bad = [({"scale": "0.5"}, '"scale"'), ({"scale": None}, '"scale"'), ({"scale": -1}, '"scale"'),
           ({"scale": 1e39}, '"scale"'), ({"scale": 1e37}, '"scale"'), ({"byteLength": 3}, "needs 4 bytes"),
           ({"byteLength": -4}, '"byteLength"'), ({"offset": 1.5}, '"offset"'), ({"offset": 14}, "outside the weights"),
           ({"dtype": "float16"}, "must be float32"), ({"shape": [2, -2]}, '"shape"')]
    cases = [(good, bytes(16))] + [({**good, **change}, bytes(16)) for change, _ in bad]
    got = _decode_in_js(cases)
    assert isinstance(got[0], np.ndarray) and not got[0].any()
    for (change, field), g in zip(bad, got[1:]):
        assert isinstance(g, dict) and g["error"].startswith("Error: ") and field in g["error"], (change, g)


def test_uses_eightbit_tells_the_bundle_writer_to_deflate():
    w = np.random.default_rng(0).standard_normal((32, 32)).astype(np.float32)
    assert Compressed({"a": _eightbit(w)[0], "b": _int8(w, 0)[0]}).uses_eightbit
    assert not Compressed({"b": _int8(w, 0)[0]}).uses_eightbit and not Compressed().uses_eightbit


def test_bad_int4_block_is_refused_on_the_command_line_and_in_the_config(tmp_path):
    model = _model(tmp_path / "m.onnx")
    for bad in ("int4:48", "int4:8", "int4:x", "mm_*=int4:2048"):
        proc = run_cli("build", str(model), "-o", str(tmp_path / "b"), "--backends", "js", "--quantize", bad)
        assert proc.returncode == 2 and f"--quantize {bad!r}: the int4 block must be a power of two from 16 to 1024" \
            in proc.stderr, proc.stderr
    assert not (tmp_path / "b").exists()
    (tmp_path / "webdnn.toml").write_text('backends = ["js"]\n[[models]]\npath = "m.onnx"\n'
                                          'quantize = { "*" = "int8", "mm_*" = "int4:8" }\n')
    proc = run_cli("build", "--json", cwd=tmp_path)
    assert proc.returncode == 2 and "quantize: 'mm_*=int4:8': the int4 block must be a power of two" in proc.stderr, \
        proc.stderr


def test_accuracy_not_measured_when_random_inputs_do_not_run(tmp_path):
    """Random token ids beyond a 2-row table (BERT's token types): the build goes on and says why the report is
    missing; with --max-accuracy-loss it fails and writes nothing."""
    emb = np.random.default_rng(0).standard_normal((2, 1024)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((1024, 64)).astype(np.float32)
    model = save_model([helper.make_node("Gather", ["E", "ids"], ["h"]), helper.make_node("MatMul", ["h", "W"], ["y"])],
                       [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 4])], [float_input("y", [1, 4, 64])],
                       tmp_path / "m.onnx", [numpy_helper.from_array(emb, "E"), numpy_helper.from_array(w, "W")])
    proc = run_cli("build", str(model), "-o", str(tmp_path / "a"), "--backends", "js", "--quantize", "int8")
    assert proc.returncode == 0, proc.stderr
    acc = json.loads((tmp_path / "a" / "manifest.json").read_text())["compression"]["accuracy"]
    assert "does not run on random inputs" in acc["notMeasured"] and "Gather" in acc["notMeasured"], acc
    proc = run_cli("build", str(model), "-o", str(tmp_path / "b"), "--backends", "js", "--quantize", "int8",
                   "--max-accuracy-loss", "0.1")
    assert proc.returncode != 0 and "--max-accuracy-loss cannot be checked" in proc.stderr, proc.stderr
    assert not (tmp_path / "b").exists()
    np.save(tmp_path / "ids.npy", np.array([[0, 1, 1, 0]], np.int64))
    proc = run_cli("build", str(model), "-o", str(tmp_path / "c"), "--backends", "js", "--quantize", "int8",
                   "--sample-input", f"ids={tmp_path / 'ids.npy'}", "--max-accuracy-loss", "0.1")
    assert proc.returncode == 0, proc.stderr


def test_bias_correction_removes_the_mean_shift_of_int8_layers(tmp_path):
    """int8 Conv / Gemm biases are corrected by dW · E[x] (webdnn_build/bias_correction.py, E[x] from onnxruntime on
    the calibration inputs): on inputs the calibration never saw, the outputs' mean error against float32 shrinks;
    --no-bias-correction keeps the biases."""
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array((rng.standard_normal((32, 8, 3, 3)) * 0.3).astype(np.float32), "conv_w"),
             numpy_helper.from_array(rng.standard_normal(32).astype(np.float32), "conv_b"),
             numpy_helper.from_array((rng.standard_normal((64, 32 * 36)) * 0.05).astype(np.float32), "fc_w"),
             numpy_helper.from_array(rng.standard_normal(64).astype(np.float32), "fc_b"),
             numpy_helper.from_array(np.array([1, 32 * 36], np.int64), "flat")]
    nodes = [helper.make_node("Conv", ["x", "conv_w", "conv_b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Reshape", ["r", "flat"], ["f"]),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], transB=1)]
    model = save_model(nodes, [float_input("x", [1, 8, 12, 12])], [float_input("y", [1, 64])], tmp_path / "m.onnx",
                       inits)

    def build(*extra):
        out = tmp_path / f"b{len(extra)}"
        proc = run_cli("build", str(model), "-o", str(out), "--backends", "js", "--quantize", "*=int8", *extra)
        assert proc.returncode == 0, proc.stderr
        program = json.loads((out / "js" / "program.json").read_text())
        return out, proc.stderr, {v["name"]: v for v in program["values"]}

    corrected, log, values = build()
    plain, _, plain_values = build("--no-bias-correction")
    assert "bias correction: 2 int8 layer(s)" in log, log
    feeds = [{"x": np.random.default_rng(100 + i).standard_normal((1, 8, 12, 12)).astype(np.float32)} for i in range(8)]
    want = np.stack([run_onnxruntime(model, f)["y"] for f in feeds])
    got = {}
    with NodeWorker() as worker:
        for name, out in (("corrected", corrected), ("plain", plain)):
            handle = worker.load(out, ["js"], None)["handle"]
            got[name] = np.stack([dict(worker.run(handle, f, {"x": "float32"})[0])["y"] for f in feeds])
    shift = {k: np.abs((g - want).mean(axis=0)).mean() for k, g in got.items()}
    assert shift["corrected"] < 0.7 * shift["plain"], shift  # (0.0093 against 0.0166 when written)
    b = values["fc_b"]["const"]  # (same place in both weight files, other values: the bundle does not grow)
    assert b == plain_values["fc_b"]["const"] and b["encoding"] == "raw"
    at = slice(b["offset"], b["offset"] + b["byteLength"])
    mine, theirs = read_weights(corrected), read_weights(plain)
    assert mine[at] != theirs[at] and len(mine) == len(theirs)

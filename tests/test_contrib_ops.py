"""onnxruntime's com.microsoft contrib ops: the js reference kernels (js-runtime/src/backends/js/kernels/contrib.js,
built with no passes) and the lower_contrib_ops rewrite (default passes: the ops become standard ops that run on
wasm's and webgpu's own kernels), each compared with onnxruntime running the same model.

Tolerance: max abs error <= 1e-5 + 1e-4 * max|reference| (float32), as `webdnn-build verify`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn_build.compiler import BuildOptions
from webdnn_build.verify import verify_model

MS = "com.microsoft"
RNG_SEED = 0


def _model(path: Path, nodes, inputs, outputs, inits=()) -> Path:
    graph = helper.make_graph(nodes, "contrib", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _f(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def _rng():
    return np.random.default_rng(RNG_SEED)


# ---- model builders: (tmp_path) -> (model path, feeds)

def skip_layernorm(tmp: Path):
    r = _rng()
    x, skip = (r.standard_normal((2, 5, 16)).astype(np.float32) for _ in range(2))
    node = helper.make_node("SkipLayerNormalization", ["x", "skip", "gamma", "beta", "bias"], ["y", "", "", "sum"],
                            domain=MS, epsilon=1e-5)
    inits = [_init("gamma", r.uniform(0.5, 1.5, 16).astype(np.float32)), _init("beta", r.standard_normal(16).astype(np.float32)),
             _init("bias", r.standard_normal(16).astype(np.float32))]
    return _model(tmp / "sln.onnx", [node], [_f("x", [2, 5, 16]), _f("skip", [2, 5, 16])],
                  [_f("y", [2, 5, 16]), _f("sum", [2, 5, 16])], inits), {"x": x, "skip": skip}


def skip_simplified_layernorm(tmp: Path):
    r = _rng()
    x, skip = (r.standard_normal((1, 4, 32)).astype(np.float32) for _ in range(2))
    node = helper.make_node("SkipSimplifiedLayerNormalization", ["x", "skip", "gamma", "bias"], ["y"], domain=MS, epsilon=1e-6)
    inits = [_init("gamma", r.uniform(0.5, 1.5, 32).astype(np.float32)), _init("bias", r.standard_normal(32).astype(np.float32))]
    return _model(tmp / "ssln.onnx", [node], [_f("x", [1, 4, 32]), _f("skip", [1, 4, 32])], [_f("y", [1, 4, 32])], inits), \
        {"x": x, "skip": skip}


def simplified_layernorm(tmp: Path):
    r = _rng()
    node = helper.make_node("SimplifiedLayerNormalization", ["x", "scale"], ["y"], axis=-1, epsilon=1e-6)
    inits = [_init("scale", r.uniform(0.5, 1.5, 24).astype(np.float32))]
    return _model(tmp / "rms.onnx", [node], [_f("x", [3, 24])], [_f("y", [3, 24])], inits), \
        {"x": r.standard_normal((3, 24)).astype(np.float32)}


def _activation(op: str, with_bias: bool, **attrs):
    def build(tmp: Path):
        r = _rng()
        inputs = ["x", "b"] if with_bias else ["x"]
        node = helper.make_node(op, inputs, ["y"], domain=MS, **attrs)
        inits = [_init("b", r.standard_normal(8).astype(np.float32))] if with_bias else []
        return _model(tmp / f"{op}.onnx", [node], [_f("x", [2, 3, 8])], [_f("y", [2, 3, 8])], inits), \
            {"x": (3 * r.standard_normal((2, 3, 8))).astype(np.float32)}
    return build


def bias_add(tmp: Path):
    """onnxruntime has BiasAdd on CUDA only: its reference is the same graph with two standard Adds."""
    r = _rng()
    io = ([_f("x", [2, 3, 8]), _f("skip", [2, 3, 8])], [_f("y", [2, 3, 8])])
    bias = [_init("bias", r.standard_normal(8).astype(np.float32))]
    node = helper.make_node("BiasAdd", ["x", "bias", "skip"], ["y"], domain=MS)
    _model(tmp / "biasadd.ref.onnx", [helper.make_node("Add", ["x", "bias"], ["t"]), helper.make_node("Add", ["t", "skip"], ["y"])],
           *io, bias)
    return _model(tmp / "biasadd.onnx", [node], *io, bias), \
        {"x": r.standard_normal((2, 3, 8)).astype(np.float32), "skip": r.standard_normal((2, 3, 8)).astype(np.float32)}


def _attention(mask: str, **attrs):
    """Packed-QKV Attention, batch 2, 6 tokens, hidden 32, 4 heads; mask "2d" (padded), "1d" (lengths) or ""."""
    def build(tmp: Path):
        r = _rng()
        inputs = ["x", "w", "b"] + (["mask"] if mask else [])
        node = helper.make_node("Attention", inputs, ["y"], domain=MS, num_heads=4, **attrs)
        graph_inputs = [_f("x", [2, 6, 32])]
        feeds = {"x": r.standard_normal((2, 6, 32)).astype(np.float32)}
        if mask == "2d":
            m = np.ones((2, 6), np.int32)
            m[1, 4:] = 0
            graph_inputs.append(helper.make_tensor_value_info("mask", TensorProto.INT32, [2, 6]))
            feeds["mask"] = m
        elif mask == "1d":
            graph_inputs.append(helper.make_tensor_value_info("mask", TensorProto.INT32, [2]))
            feeds["mask"] = np.array([6, 3], np.int32)
        inits = [_init("w", (0.3 * r.standard_normal((32, 96))).astype(np.float32)),
                 _init("b", r.standard_normal(96).astype(np.float32))]
        return _model(tmp / "attn.onnx", [node], graph_inputs, [_f("y", [2, 6, 32])], inits), feeds
    return build


def multihead_attention(tmp: Path):
    r = _rng()
    node = helper.make_node("MultiHeadAttention", ["q", "k", "v", "bias", "kpm"], ["y"], domain=MS, num_heads=4)
    m = np.ones((2, 7), np.int32)
    m[0, 5:] = 0
    feeds = {"q": r.standard_normal((2, 5, 32)).astype(np.float32), "k": r.standard_normal((2, 7, 32)).astype(np.float32),
             "v": r.standard_normal((2, 7, 32)).astype(np.float32), "kpm": m}
    inputs = [_f("q", [2, 5, 32]), _f("k", [2, 7, 32]), _f("v", [2, 7, 32]),
              helper.make_tensor_value_info("kpm", TensorProto.INT32, [2, 7])]
    return _model(tmp / "mha.onnx", [node], inputs, [_f("y", [2, 5, 32])],
                  [_init("bias", r.standard_normal(96).astype(np.float32))]), feeds


def embed_layernorm(tmp: Path):
    r = _rng()
    names = ["ids", "seg", "word", "pos", "segemb", "gamma", "beta", "mask"]
    node = helper.make_node("EmbedLayerNormalization", names, ["y", "mask_index"], domain=MS, epsilon=1e-12)
    mask = np.ones((2, 6), np.int32)
    mask[1, 3:] = 0
    feeds = {"ids": r.integers(0, 50, (2, 6)).astype(np.int32), "seg": r.integers(0, 2, (2, 6)).astype(np.int32), "mask": mask}
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT32, [2, 6]) for n in ("ids", "seg", "mask")]
    inits = [_init("word", r.standard_normal((50, 32)).astype(np.float32)), _init("pos", r.standard_normal((16, 32)).astype(np.float32)),
             _init("segemb", r.standard_normal((2, 32)).astype(np.float32)),
             _init("gamma", r.uniform(0.5, 1.5, 32).astype(np.float32)), _init("beta", r.standard_normal(32).astype(np.float32))]
    outputs = [_f("y", [2, 6, 32]), helper.make_tensor_value_info("mask_index", TensorProto.INT32, [2])]
    return _model(tmp / "embln.onnx", [node], inputs, outputs, inits), feeds


def rotary_embedding(tmp: Path):
    r = _rng()
    node = helper.make_node("RotaryEmbedding", ["x", "pos", "cos", "sin"], ["y"], domain=MS, num_heads=4, interleaved=0)
    angles = np.arange(16)[:, None] * (1.0 / 10000 ** (np.arange(4) / 4))[None, :]
    inits = [_init("cos", np.cos(angles).astype(np.float32)), _init("sin", np.sin(angles).astype(np.float32))]
    inputs = [_f("x", [1, 6, 32]), helper.make_tensor_value_info("pos", TensorProto.INT64, [1, 6])]
    return _model(tmp / "rope.onnx", [node], inputs, [_f("y", [1, 6, 32])], inits), \
        {"x": r.standard_normal((1, 6, 32)).astype(np.float32), "pos": np.array([[3, 4, 5, 6, 7, 8]], np.int64)}


def matmul_nbits(tmp: Path):
    r = _rng()
    K, N, block = 64, 16, 32
    blocks = K // block
    packed = r.integers(0, 256, (N, blocks, block // 2)).astype(np.uint8)
    zp = r.integers(0, 256, (N, (blocks * 4 + 7) // 8)).astype(np.uint8)
    node = helper.make_node("MatMulNBits", ["a", "b", "scales", "zp", "", "bias"], ["y"], domain=MS, K=K, N=N, bits=4,
                            block_size=block)
    inits = [_init("b", packed), _init("scales", r.uniform(0.01, 0.1, N * blocks).astype(np.float32)), _init("zp", zp),
             _init("bias", r.standard_normal(N).astype(np.float32))]
    return _model(tmp / "nbits.onnx", [node], [_f("a", [3, K])], [_f("y", [3, N])], inits), \
        {"a": r.standard_normal((3, K)).astype(np.float32)}


#: name -> (builder, lowered by lower_contrib_ops: the rewrite is tested on the native backends too)
CASES: dict[str, tuple[Callable, bool]] = {
    "SkipLayerNormalization": (skip_layernorm, True),
    "SkipSimplifiedLayerNormalization": (skip_simplified_layernorm, True),
    "SimplifiedLayerNormalization": (simplified_layernorm, True),
    "Gelu": (_activation("Gelu", False), True),
    "BiasGelu": (_activation("BiasGelu", True), True),
    "FastGelu": (_activation("FastGelu", True), True),
    "QuickGelu": (_activation("QuickGelu", False, alpha=1.5), True),
    "BiasAdd": (bias_add, True),
    "Attention-2d-mask": (_attention("2d"), True),
    "Attention-causal": (_attention("", unidirectional=1), True),
    "Attention-1d-lengths": (_attention("1d"), False),
    "MultiHeadAttention": (multihead_attention, True),
    "EmbedLayerNormalization": (embed_layernorm, True),
    "RotaryEmbedding": (rotary_embedding, False),
    "MatMulNBits": (matmul_nbits, False),
}


@pytest.fixture(autouse=True)
def _reference_model(monkeypatch):
    """Where a case writes ``<name>.ref.onnx`` (an op onnxruntime's CPU provider lacks), onnxruntime runs that."""
    from webdnn_build import verify
    original = verify.run_onnxruntime

    def run(model: Path, feeds, level: str = "all"):
        ref = Path(model).with_suffix(".ref.onnx")
        return original(ref if ref.exists() else model, feeds, level)
    monkeypatch.setattr(verify, "run_onnxruntime", run)


def _check(path: Path, feeds: dict, backend: str, passes, log=lambda m: None) -> None:
    reports = verify_model(path, backend, BuildOptions(passes=passes), inputs=feeds, log=log)
    assert reports
    for r in reports:
        assert r.ok and r.max_abs <= 1e-5 + 1e-4 * r.scale, r


@pytest.mark.parametrize("case", sorted(CASES))
def test_js_reference_kernel_matches_onnxruntime(tmp_path, case):
    path, feeds = CASES[case][0](tmp_path)
    _check(path, feeds, "js", [])  # no passes: the contrib node itself runs on its js kernel


LOWERED = sorted(c for c, (_, lowered) in CASES.items() if lowered)


@pytest.mark.parametrize("case", LOWERED)
def test_lowered_form_on_wasm_matches_onnxruntime(tmp_path, case):
    path, feeds = CASES[case][0](tmp_path)
    lines: list[str] = []
    _check(path, feeds, "wasm", None, lines.append)
    rewrite = [m for m in lines if m.startswith("lower_contrib_ops:")]
    assert rewrite and "kept" not in " ".join(rewrite), lines


def test_uncovered_form_is_kept_for_the_js_kernel(tmp_path):
    path, feeds = _attention("1d")(tmp_path)
    lines: list[str] = []
    _check(path, feeds, "wasm", None, lines.append)
    assert any("kept" in m and "Attention" in m for m in lines), lines


def test_ops_after_a_kept_contrib_node_get_dtype_and_shape(tmp_path):
    """MatMulNBits stays (js kernel until wasm has one): the Relu reading it must still know its dtype and shape,
    which onnx's shape inference cannot give, so that it runs on wasm's own kernels."""
    path, feeds = matmul_nbits(tmp_path)
    model = onnx.load(str(path))
    model.graph.node[0].output[0] = "mm"
    model.graph.node.append(helper.make_node("Relu", ["mm"], ["y"]))
    onnx.save(model, str(path))
    lines: list[str] = []
    _check(path, feeds, "wasm", None, lines.append)
    placed = [m for m in lines if m.startswith("wasm:")]
    assert placed and placed[0].startswith(("wasm: 1/2 ops", "wasm: 2/2 ops")), lines

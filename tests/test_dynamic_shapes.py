"""Dims left open at build time (issue 10; the js backend, and wasm with the ops sized by open dims as js
steps): --input-shape / config syntax, the import keeping the names, the manifest's dims table, backends that need fixed sizes skipped with the reason, and
one bundle run at several sizes, each matching onnxruntime (verify's tolerance: 1e-5 + 1e-4 of the output scale):
a BERT encoder exported from `transformers` with a dynamic sequence axis at lengths 1, 7, 64, 128, 384 and 512,
and a CNN at three image sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn_build.cli import parse_input_shape
from webdnn_build.compiler import BuildOptions, compile_model
from webdnn_build.config import parse_shape_table
from webdnn_build.errors import ConfigError, ShapeError
from webdnn_build.node import NodeWorker
from webdnn_build.symdim import OpenDim
from webdnn_build.verify import open_dim_sizes, run_onnxruntime

from .helpers import run_cli, save_model


def test_input_shape_syntax():
    shapes = parse_input_shape(["ids=1,?", "mask=1,seq:1..512", "x=1,3,224,224", "y=2,..64", "z=1,seq:?", "w=4,8..8"])
    assert shapes == {"ids": (1, OpenDim()), "mask": (1, OpenDim("seq", 1, 512)), "x": (1, 3, 224, 224),
                      "y": (2, OpenDim(None, 1, 64)), "z": (1, OpenDim("seq")), "w": (4, OpenDim(None, 8, 8))}
    assert parse_shape_table({"ids": [1, "?"], "x": [1, "1..16"]}, "cfg") == {"ids": (1, OpenDim()),
                                                                             "x": (1, OpenDim(None, 1, 16))}


@pytest.mark.parametrize("spec, message", [
    ("a=1,0", "sizes are positive"), ("a=1,5..2", "LO..HI"), ("a=", "expected NAME=D1"),
    ("a=1,x:5", "takes a range"), ("a=1,$$", "not a size"), ("a=1,1.5", "not a size"),
    ("a=1,four", "named open dim NAME:?"),  # a typo does not open a dim
])
def test_input_shape_errors(spec, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("$", r"\$")):
        parse_input_shape([spec])


def test_config_shape_errors():
    with pytest.raises(ConfigError, match="input-shapes.x"):
        parse_shape_table({"x": [1, True]}, "cfg")
    with pytest.raises(ConfigError, match="list of dims"):
        parse_shape_table({"x": "1,?"}, "cfg")


def _cnn(path):
    """Conv 3x3 (pad 1) + Relu + MaxPool 2x2 + GlobalAveragePool + Flatten + Gemm, input [1, 3, h, w]."""
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32) / 5, "w"),
             numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b"),
             numpy_helper.from_array(rng.standard_normal((8, 5)).astype(np.float32), "fc"),
             numpy_helper.from_array(rng.standard_normal(5).astype(np.float32), "fcb")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["p"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"])]
    return save_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], path, initializers=inits)


def test_open_dims_in_the_manifest(tmp_path):
    model = _cnn(tmp_path / "cnn.onnx")
    opts = BuildOptions(input_shapes=parse_input_shape(["x=1,3,?,side:8..64"]), backends=["js", "wasm", "webgpu"])
    result = compile_model(model, tmp_path / "b", opts, log=lambda m: None)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["inputs"] == [{"name": "x", "shape": [1, 3, "h", "side"], "dtype": "float32"}]
    assert manifest["dims"] == {"h": {"min": 1, "max": None}, "side": {"min": 8, "max": 64}}
    assert result.backends == ["js", "wasm", "webgpu"] and "skippedBackends" not in manifest
    # an unbounded dim: the native kernels (which size scratch and bindings for the largest run) leave the
    # ops it sizes to the js kernels; bounded, the conv, pools and Gemm run natively
    for backend in ("wasm", "webgpu"):
        assert "Conv" in manifest["backends"][backend]["placement"]["fallback_ops"]
    bounded = compile_model(model, tmp_path / "c", BuildOptions(input_shapes=parse_input_shape(["x=1,3,1..64,8..64"]),
                                                                backends=["webgpu"]), log=lambda m: None)
    assert bounded.manifest["backends"]["webgpu"]["placement"] == {"native": 5, "fallback": 0}  # (Relu fused)
    assert not (tmp_path / "w").exists()


def test_a_dim_the_model_fixes_cannot_be_opened(tmp_path):
    model = save_model([helper.make_node("Relu", ["x"], ["y"])],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], tmp_path / "m.onnx")
    with pytest.raises(ShapeError, match="dim 1 fixed to 4 in the model"):
        compile_model(model, tmp_path / "b", BuildOptions(input_shapes={"x": (1, OpenDim())}), log=lambda m: None)


def test_model_dim_names_that_cannot_be_written_are_replaced(tmp_path):
    """A model's dim_param ends up in the bundle's expressions: one that is not a plain name is not used."""
    model = save_model([helper.make_node("Relu", ["in put"], ["mid"]), helper.make_node("Neg", ["mid"], ["y"])],
                       [helper.make_tensor_value_info("in put", TensorProto.FLOAT, [1, "seq len"])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "seq len"])], tmp_path / "m.onnx")
    result = compile_model(model, tmp_path / "b", BuildOptions(input_shapes={"in put": (1, OpenDim())},
                                                               backends=["js"]), log=lambda m: None)
    assert result.manifest["dims"] == {"dim0": {"min": 1, "max": None}}
    assert result.manifest["inputs"][0]["shape"] == [1, "dim0"]


def test_open_dims_the_user_did_not_open_are_still_refused(tmp_path):
    model = _cnn(tmp_path / "cnn.onnx")
    proc = run_cli("build", str(model), "-o", str(tmp_path / "b"))
    assert proc.returncode != 0 and "'x' dim 2 (h)" in proc.stderr and "? or LO..HI" in proc.stderr


def _run_at_sizes(tmp_path, model, input_shapes, feeds_list, backend="js"):
    """Build once, load once, run every feed dict; compare each run with onnxruntime."""
    result = compile_model(model, tmp_path / "bundle", BuildOptions(input_shapes=parse_input_shape(input_shapes),
                                                                     backends=[backend]), log=lambda m: None)
    dtypes = {i["name"]: i["dtype"] for i in result.manifest["inputs"]}
    with NodeWorker() as worker:
        loaded = worker.load(result.out_dir, [backend], None)
        assert loaded["backend"] == backend
        for feeds in feeds_list:
            outputs, _ = worker.run(loaded["handle"], feeds, dtypes)
            ref = run_onnxruntime(model, feeds)
            for name, ours in outputs:
                expected = ref[name]
                assert ours.shape == expected.shape, (name, ours.shape, expected.shape)
                scale = float(np.max(np.abs(expected))) or 1.0
                assert np.max(np.abs(ours - expected)) <= 1e-5 + 1e-4 * scale, (name, feeds[next(iter(feeds))].shape)
    return result


@pytest.mark.parametrize("backend", ["js", "wasm", "webgpu"])
def test_cnn_one_bundle_three_image_sizes(tmp_path, backend):
    model = _cnn(tmp_path / "cnn.onnx")
    rng = np.random.default_rng(0)
    sizes = [(32, 32), (17, 45), (64, 8)]
    result = _run_at_sizes(tmp_path, model, ["x=1,3,1..64,1..64"],
                           [{"x": rng.standard_normal((1, 3, h, w)).astype(np.float32)} for h, w in sizes], backend)
    if backend == "webgpu":  # every op on the backend's own kernels (bounded dims)
        assert result.manifest["backends"][backend]["placement"]["fallback"] == 0, result.manifest["backends"][backend]


@pytest.mark.parametrize("backend", ["js", "wasm", "webgpu"])
def test_bert_one_bundle_every_sequence_length(tmp_path, bert_dynamic, backend):
    rng = np.random.default_rng(1)
    feeds = []
    for n in (1, 7, 64, 128, 384, 512):
        mask = np.ones((1, n), np.int64)
        mask[0, n - n // 4:] = 0  # padded positions: the attention mask matters
        feeds.append({"input_ids": rng.integers(0, 100, (1, n)).astype(np.int64), "attention_mask": mask})
    result = _run_at_sizes(tmp_path, bert_dynamic, ["input_ids=1,1..512", "attention_mask=1,1..512"], feeds, backend)
    assert result.manifest["dims"] == {"seq": {"min": 1, "max": 512}}
    # the exporter declared the output [?, seq, 32]: the symbolic shapes (symshape.py) know the batch dim too
    assert result.manifest["outputs"][0]["shape"] == [1, "seq", 32]


def test_runtime_checks_the_open_dims(tmp_path):
    model = _cnn(tmp_path / "cnn.onnx")
    result = compile_model(model, tmp_path / "b", BuildOptions(input_shapes=parse_input_shape(["x=1,3,8..32,?"]),
                                                               backends=["js"]), log=lambda m: None)
    with NodeWorker() as worker:
        handle = worker.load(result.out_dir, ["js"], None)["handle"]
        with pytest.raises(Exception, match=r"input 'x' dim 2 \(h\) is 40, outside the range the bundle was built "
                                            r"for: 8\.\.32"):
            worker.run(handle, {"x": np.zeros((1, 3, 40, 8), np.float32)}, {"x": "float32"})


def test_verify_sizes_for_open_dims():
    manifest = {"inputs": [{"name": "a", "shape": [1, "seq"]}, {"name": "b", "shape": ["n", "seq"]}],
                "dims": {"seq": {"min": 1, "max": 512}, "n": {"min": 10, "max": None}}}
    assert open_dim_sizes(manifest) == {"seq": 7, "n": 10}
    assert open_dim_sizes(manifest, {"a": np.zeros((1, 33))}, {"n": 12}) == {"seq": 33, "n": 12}

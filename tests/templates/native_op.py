"""The test of a native op, for every backend: build a small ONNX model for one backend, check that its
ops run on that backend's own kernels (wasm code, WGSL; the js backend's are all its own), run it in
Node and compare every output with onnxruntime.

    from tests.templates.native_op import BACKENDS, check_native_op

    @pytest.mark.parametrize("backend", BACKENDS)
    def test_my_op(tmp_path, backend):
        node = helper.make_node("MyOp", ["x"], ["y"], alpha=0.5)
        check_native_op(tmp_path, [node], {"x": np.random.default_rng(0).standard_normal((2, 8), np.float32)}, backend)

tests/templates/test_native_op_template.py is a test written this way, to copy; docs/plugins.md
("Adding a native op") has the steps around it.

Tolerance: an output matches when ``max |ours - onnxruntime| <= atol + rtol * max |onnxruntime|``, with
``rtol = 1e-4`` and ``atol = 1e-5`` unless a test says otherwise (what ``webdnn-build verify`` uses;
integer and bool outputs must match exactly). The webgpu case needs a WebGPU adapter in Node
(``eval "$(tools/setup-webgpu.sh)"``); without one it is skipped as a missing component (a failure under
CI=true).
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from tests.helpers import ROOT, require_or_skip
from webdnn_build.compiler import BuildOptions, compile_model
from webdnn_build.node import NodeWorker

BACKENDS = ("js", "wasm", "webgpu")
RTOL, ATOL = 1e-4, 1e-5


@functools.lru_cache(maxsize=1)
def webgpu_in_node() -> Optional[str]:
    """None when Node gets a WebGPU adapter, else why not."""
    if not (ROOT / "node_modules" / "webgpu").is_dir():
        return "the 'webgpu' npm package is not installed (npm install)"
    probe = ("const { create } = await import('webgpu');"
             "const a = await create([]).requestAdapter(); console.log(a ? 'ok' : 'none');")
    try:
        out = subprocess.run(["node", "--input-type=module", "-e", probe], capture_output=True, text=True,
                             timeout=60, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"node could not probe WebGPU: {exc}"
    if not out.stdout.strip().endswith("ok"):
        return 'no WebGPU adapter in Node (eval "$(tools/setup-webgpu.sh)")'
    return None


def one_node_model(nodes: Sequence[onnx.NodeProto], inputs: dict[str, np.ndarray],
                   initializers: Optional[dict[str, np.ndarray]] = None, opset: int = 17,
                   extra_opsets: Optional[dict[str, int]] = None) -> onnx.ModelProto:
    """``nodes`` as a model: ``inputs`` are its graph inputs, ``initializers`` its constants, the outputs
    of the last node (and every output no node reads) its graph outputs, typed by onnx's shape inference."""
    consts = initializers or {}
    read = {i for n in nodes for i in n.input}
    outs = [o for n in nodes for o in n.output if o and (o not in read or n is nodes[-1])]
    graph = helper.make_graph(
        list(nodes), "native_op",
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape)) for k, v in inputs.items()],
        [helper.make_empty_tensor_value_info(o) for o in outs],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()])
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in (extra_opsets or {}).items()]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    known = {vi.name: vi for vi in inferred.graph.value_info}
    for i, o in enumerate(model.graph.output):
        if o.name in known:
            model.graph.output[i].CopyFrom(known[o.name])
    onnx.checker.check_model(model)
    return model


def check_native_op(tmp_path: Path, nodes: Sequence[onnx.NodeProto], inputs: dict[str, np.ndarray], backend: str, *,
                    initializers: Optional[dict[str, np.ndarray]] = None, opset: int = 17,
                    extra_opsets: Optional[dict[str, int]] = None, rtol: float = RTOL, atol: float = ATOL,
                    native: bool = True, passes: Optional[list[str]] = None,
                    reference_level: str = "all") -> dict:
    """Build ``nodes`` for ``backend``, check (``native``) that no op fell back to the js kernels, run it in
    Node on ``inputs`` and compare each output with onnxruntime (``reference_level``: its graph optimization
    level, "all" as users run it or "basic"). Returns the backend's manifest entry."""
    if backend == "webgpu" and webgpu_in_node() is not None:
        require_or_skip(f"webgpu: {webgpu_in_node()}")
    tmp_path.mkdir(parents=True, exist_ok=True)
    model = one_node_model(nodes, inputs, initializers, opset, extra_opsets)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    result = compile_model(path, tmp_path / f"bundle-{backend}", BuildOptions(backends=[backend], passes=passes),
                           log=lambda s: None)
    assert backend in result.backends, f"{backend} was not built: {result.skipped_backends}"
    entry = result.manifest["backends"][backend]
    placement = entry.get("placement", {})
    if native and backend != "js":
        assert placement.get("fallback", 0) == 0, f"{backend}: ops ran on the js kernels: {placement}"
    with NodeWorker() as worker:
        loaded = worker.load(result.out_dir, [backend])
        assert loaded["backend"] == backend, loaded.get("fallbackLog")
        dtypes = {i["name"]: i["dtype"] for i in result.manifest["inputs"]}
        ours, _ = worker.run(loaded["handle"], inputs, dtypes)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                                     "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC}[reference_level]
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    reference = dict(zip(names, session.run(names, inputs)))
    assert [name for name, _ in ours] == names
    for name, got in ours:
        want = reference[name]
        got = np.asarray(got)
        assert got.shape == want.shape, f"{backend} {name}: shape {got.shape}, onnxruntime {want.shape}"
        if want.dtype.kind not in "fc":
            np.testing.assert_array_equal(got, want, err_msg=f"{backend} {name}")
            continue
        err = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        assert err <= atol + rtol * scale, f"{backend} {name}: max abs error {err:.3g} (scale {scale:.3g})"
    return entry

"""A legal model whose strings are hostile builds, runs and matches onnxruntime on every backend,
and nothing from the build machine ends up in the bundle (issue 8, item 1).

The names try every way a string could turn into code: C/WGSL comment terminators and
preprocessor lines (``#embed``/``#include`` of a marker file), backslash-newline splices and
trigraphs, JS template literals, ``</script>``, quotes and backslashes, path traversal, NUL,
bidi overrides, U+2028, and 5,000-character names.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn_build.compiler import BuildOptions, compile_model
from webdnn_build.escape import bundle_json, c_comment, comment_text, file_name, wgsl_comment
from webdnn_build.node import NodeWorker
from webdnn_build.verify import compare, run_onnxruntime

from .conformance.test_webgpu import _adapter
from .helpers import requires


def hostile_names(marker: Path) -> list[str]:
    m = str(marker)
    return [
        f'a */\n#embed "{m}"\n/*',
        f'b */\n#include "{m}"\n//',
        f"c */ int wdn_evil = 1; /* \\\n#embed <{m}>",
        "d ??/\n#error trigraph \\",
        "e `${globalThis.process && process.exit(3)}` ${1+1}",
        "f </script><script>alert(1)</script><!--",
        "g \"quoted\" 'single' \\back\\slash\\",
        "../../../../etc/passwd",
        "h\x00nul\x00",
        "i \u202eevil\u202c RTL \u2028 LS \u2029 PS",
        "j" * 5000,
        "k /* nested /* WGSL */ comment */ @compute fn x() {}",
        "l \r\n#define float int\r\n",
        # what reproduced the leak: the marker's bytes in an exported data array of model.wasm
        f'm */\nstatic const volatile unsigned char wdn_leak[] = {{\n#embed "{m}"\n}};\n(void)wdn_leak[3];\n/*',
    ]


def build_model(names: list[str], path: Path) -> Path:
    """Conv -> Relu -> Add(bias) -> MaxPool -> Gemm -> Softmax: ops every native backend runs."""
    rng = np.random.default_rng(0)
    n = iter(names * 3)
    x, y = next(n), next(n)
    w, b = next(n), next(n)
    c1, r1, a1, p1, fl, gw, gb, g1 = (next(n) for _ in range(8))
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), w),
        numpy_helper.from_array(rng.standard_normal((4, 1, 1)).astype(np.float32), b),
        numpy_helper.from_array(rng.standard_normal((4 * 4 * 4, 5)).astype(np.float32), gw),
        numpy_helper.from_array(rng.standard_normal((5,)).astype(np.float32), gb),
    ]
    node_names = iter(reversed(names * 2))
    nodes = [
        helper.make_node("Conv", [x, w], [c1], pads=[1, 1, 1, 1], name=next(node_names), doc_string=names[0]),
        helper.make_node("Relu", [c1], [r1], name=next(node_names)),
        helper.make_node("Add", [r1, b], [a1], name=next(node_names), doc_string=names[5]),
        helper.make_node("MaxPool", [a1], [p1], kernel_shape=[2, 2], strides=[2, 2], name=next(node_names)),
        helper.make_node("Flatten", [p1], [fl], name=next(node_names)),
        helper.make_node("Gemm", [fl, gw, gb], [g1], name=next(node_names)),
        helper.make_node("Softmax", [g1], [y], axis=1, name=next(node_names)),
    ]
    graph = helper.make_graph(nodes, names[1], [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, 5])], initializer=inits,
                              doc_string=names[2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], doc_string=names[3],
                              producer_name=names[4])
    model.ir_version = 8
    helper.set_model_props(model, {names[0]: names[1], "k": names[6]})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    marker = tmp / "build-machine-secret.txt"
    secret = f"WDN-MARKER-{secrets.token_hex(16)}"
    marker.write_text(secret + "\n")
    names = hostile_names(marker)
    return build_model(names, tmp / "hostile.onnx"), secret, names


def bundle_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


BACKENDS = ["js", "wasm", pytest.param("webgpu", marks=requires(
    None if _adapter() else "no WebGPU adapter in Node (eval \"$(tools/setup-webgpu.sh)\")"))]


@pytest.mark.parametrize("backend", BACKENDS)
def test_hostile_names_build_run_and_match(hostile, tmp_path, backend):
    model, secret, names = hostile
    options = {"wasm": {"emit_c": "true"}} if backend == "wasm" else {}
    result = compile_model(model, tmp_path / "bundle", BuildOptions(backends=[backend], backend_options=options),
                           log=lambda s: None)
    files = bundle_files(result.out_dir)
    # no byte of the marker file on the build machine made it into any file of the bundle
    for rel, data in files.items():
        assert secret.encode() not in data, f"{rel} contains the build machine's marker file"
    # bundle JSON is pure ASCII with no raw '<' (inert if ever inlined into HTML) and parses back to the names
    for rel, data in files.items():
        if rel.endswith(".json"):
            assert data.isascii() and b"<" not in data, rel
            json.loads(data)
    manifest = json.loads(files["manifest.json"])
    assert [i["name"] for i in manifest["inputs"]] == [names[0]]
    assert [o["name"] for o in manifest["outputs"]] == [names[1]]
    if backend == "wasm":
        c_source = files["wasm/model.c"].decode()
        for line in c_source.splitlines():
            assert not line.lstrip().startswith(("#embed", "#include \"/", "#error", "#define float")), line
        assert "wdn_evil" not in c_source and "*/ int" not in c_source
        plan = json.loads(files["wasm/plan.json"])
        assert not [s for s in plan["steps"] if "js" in s], "every op of this model has a wasm kernel"
    if backend == "webgpu":
        plan = json.loads(files["webgpu/plan.json"])
        assert not [s for s in plan["steps"] if "cpu" in s], "every op of this model has a WGSL kernel"
        assert all("WDN-MARKER" not in s and "@compute fn x" not in s for s in plan.get("shaders", []))

    feeds = {names[0]: np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)}
    with NodeWorker() as worker:
        loaded = worker.load(result.out_dir, [backend], None)
        assert loaded["backend"] == backend, loaded["fallbackLog"]
        outputs, _ = worker.run(loaded["handle"], feeds, {names[0]: "float32"})
    reference = run_onnxruntime(model, feeds)
    (name, ours), = outputs
    assert name == names[1]
    report = compare(name, ours, reference[names[1]], rtol=1e-4, atol=1e-5)
    assert report.ok, f"max abs error {report.max_abs} (tolerance 1e-5 + 1e-4 * {report.scale})"


# ---- the escaping functions themselves


@pytest.mark.parametrize("text", hostile_names(Path("/etc/passwd")) + ["", "plain_name-1.2", "\ud800"])
def test_comments_are_inert(text):
    for comment in (c_comment(text), wgsl_comment(text)):
        body = comment[3:-3]
        assert comment.startswith("/* ") and comment.endswith(" */")
        assert "*/" not in body and "/*" not in body and "//" not in body
        assert body.isascii() and all(ch.isprintable() for ch in body)
        assert "\\\n" not in body and "??" not in body and "#" not in body[:len(body) - 16]
        assert len(body) <= 96 + 16


def test_comment_keeps_plain_names_and_distinguishes_long_ones():
    assert comment_text("node 'conv1' (Conv)") == "node 'conv1' (Conv)"
    assert comment_text("a" * 500) != comment_text("a" * 499 + "b")


def test_bundle_json_is_ascii_and_round_trips():
    names = hostile_names(Path("/x"))
    data = bundle_json({"names": names})
    assert data.isascii() and b"<" not in data and b">" not in data and b"\n" not in data
    assert json.loads(data) == {"names": names}
    with pytest.raises(ValueError):
        bundle_json({"x": float("nan")})


@pytest.mark.parametrize("text", hostile_names(Path("/etc/passwd")) + ["", ".", "..", ".hidden"])
def test_file_names_stay_in_their_folder(text, tmp_path):
    name = file_name(text, ".npy")
    assert "/" not in name and "\\" not in name and not name.startswith(".") and len(name) <= 64 + 16
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()
    assert file_name(text) != file_name(text + "x")

"""A bundle over 2 GB (issue 11): three Gather tables of 800 MB each (2.4 GB of weights, 573 shards of 4 MiB) load
and run in Node and in headless Chromium on the js backend, and give onnxruntime's rows, including rows that lie past
2^31 bytes into the weights. No ArrayBuffer the size of the weights is ever made: the runtime holds the shards
(4 MiB each) and one array per constant (800 MB).

The tables are sparse external-data files (a handful of non-zero rows), so making them costs no time; the bundle is
written densely (2.4 GB in the temporary folder, removed afterwards). Chromium loads with ``cache: false`` (no
2.4 GB Cache API entry in a throwaway profile)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.browser.common import HARNESS, harness_unavailable, node
from tests.helpers import ROOT, require_or_skip

ROWS, COLS, TABLES = 200_000, 1000, 3
#: rows with values (the others are zeros); each table's last row lies at its end
PICK = [0, 77_777, ROWS - 1, 12_345]


def _row_values(t: int, r: int) -> np.ndarray:
    return (np.sin(np.arange(COLS, dtype=np.float32) * 0.01 + r * 0.001 + t) * (t + 1)).astype(np.float32)


def _write_model(folder: Path) -> Path:
    tables, nodes, outputs = [], [], []
    nbytes = ROWS * COLS * 4
    for t in range(TABLES):
        name = f"table{t}"
        tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[ROWS, COLS], data_location=TensorProto.EXTERNAL)
        for key, value in (("location", f"{name}.bin"), ("offset", "0"), ("length", str(nbytes))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        with open(folder / f"{name}.bin", "wb") as f:
            f.truncate(nbytes)  # sparse zeros
            for r in PICK[:3]:
                f.seek(r * COLS * 4)
                f.write(_row_values(t, r).tobytes())
        tables.append(tensor)
        nodes.append(helper.make_node("Gather", [name, "idx"], [f"y{t}"], axis=0))
        outputs.append(helper.make_tensor_value_info(f"y{t}", TensorProto.FLOAT, [len(PICK), COLS]))
    graph = helper.make_graph(nodes, "large", [helper.make_tensor_value_info("idx", TensorProto.INT64, [len(PICK)])],
                              outputs, tables)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / "large.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("large_bundle")
    if shutil.disk_usage(tmp).free < 6e9:
        require_or_skip(f"{tmp}: under 6 GB of free disk (the 2.4 GB bundle needs it)")
    model = _write_model(tmp)
    out = tmp / "bundle"
    r = subprocess.run([sys.executable, "-m", "webdnn_build", "build", str(model), "-o", str(out), "--backends", "js", "-q"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    import onnxruntime as ort

    idx = np.array(PICK, np.int64)
    expected = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"idx": idx})
    yield {"bundle": out, "expected": expected, "tmp": tmp}
    shutil.rmtree(out, ignore_errors=True)


def test_bundle_over_2gb_is_sharded(large):
    w = json.loads((large["bundle"] / "manifest.json").read_text())["weights"]
    assert w["byteLength"] == TABLES * ROWS * COLS * 4 > 2**31
    assert len(w["shards"]) == -(-w["byteLength"] // w["shardSize"]) and w["shardSize"] == 4 << 20
    assert max((large["bundle"] / s["file"]).stat().st_size for s in w["shards"]) == 4 << 20


def _check(outputs: dict, expected: list) -> None:
    for t in range(TABLES):
        got = np.asarray(outputs[f"y{t}"], np.float32).reshape(len(PICK), COLS)
        np.testing.assert_array_equal(got, expected[t], err_msg=f"y{t}")
    assert np.abs(expected[2][2]).max() > 0  # the last row of the last table: past 2^31 bytes, not zeros


def test_node_loads_and_runs_a_bundle_over_2gb(large):
    script = (
        "import { load } from " + json.dumps(str(ROOT / "js-runtime/src/index.js")) + ";"
        "const r = await load(" + json.dumps(str(large["bundle"])) + ", { backends: ['js'] });"
        "const o = await r.run({ idx: new BigInt64Array(" + json.dumps(PICK) + ".map(BigInt)) });"
        "const out = {}; for (const [k, t] of Object.entries(o)) out[k] = Array.from(t.data);"
        "console.log(JSON.stringify(out));")
    r = subprocess.run([node(), "--input-type=module", "-e", script], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    _check(json.loads(r.stdout.strip().splitlines()[-1]), large["expected"])


def test_chromium_loads_and_runs_a_bundle_over_2gb(large):
    reason = harness_unavailable()
    if reason:
        require_or_skip(f"headless Chromium harness unavailable: {reason}")
    inputs = large["tmp"] / "inputs"
    inputs.mkdir(exist_ok=True)
    (inputs / "inputs.json").write_text(json.dumps({"idx": {"dtype": "int64", "shape": [len(PICK)], "data": PICK}}))
    page = "/tests/browser/pages/load-weights.html?bundle=/bundle/&inputs=/inputs/inputs.json&backends=js&cache=0"
    r = subprocess.run([node(), str(HARNESS), "--mount", f"/={ROOT}", "--mount", f"/bundle/={large['bundle']}",
                        "--mount", f"/inputs/={inputs}", "--no-webgpu", "--timeout", "500", "--page", page],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])["result"]
    assert "error" not in result, result["error"]
    progress = result["progress"]
    assert progress[-1]["loaded"] == progress[-1]["total"] == TABLES * ROWS * COLS * 4
    _check(result["outputs"], large["expected"])

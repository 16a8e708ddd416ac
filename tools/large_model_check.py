#!/usr/bin/env python3
"""Build a model over protobuf's 2 GB limit and measure the compiler's memory (issue 8, item 3).

Writes a model whose one initializer (a Gather table, 2.4 GB of float32) lives in an external-data
file — sparse, so making it costs no time — builds it for the js backend in a child process while
sampling the child's anonymous resident memory (``RssAnon``: heap and other private memory; pages
of memory-mapped files do not count), then checks that the weight shards hold the table byte for byte
(row 0 is 1.0, the rest 0.0) and tries ``load()`` in Node. Prints and (``--json``) writes::

    {"model_bytes", "weights_bytes", "build_seconds", "peak_anon_bytes", "weights_ok", "load": "..."}

Needs about 2 x 2.4 GB of free disk in the temporary folder; refuses to start with less.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent
ROWS, COLS = 600_000, 1000


def write_model(folder: Path) -> Path:
    nbytes = ROWS * COLS * 4
    table = TensorProto(name="table", data_type=TensorProto.FLOAT, dims=[ROWS, COLS], data_location=TensorProto.EXTERNAL)
    for key, value in (("location", "table.bin"), ("offset", "0"), ("length", str(nbytes))):
        entry = table.external_data.add()
        entry.key, entry.value = key, value
    with open(folder / "table.bin", "wb") as f:
        f.truncate(nbytes)  # sparse zeros
        f.write(np.ones(COLS, np.float32).tobytes())
    graph = helper.make_graph([helper.make_node("Gather", ["table", "idx"], ["y"], axis=0)], "large",
                              [helper.make_tensor_value_info("idx", TensorProto.INT64, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, COLS])], [table])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / "large.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def rss_anon(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def weights_ok(bundle: Path) -> bool:
    """Row 0 of the table is 1.0, 64 random rows and the last one 0.0, read from the weight shards."""
    w = json.loads((bundle / "manifest.json").read_text())["weights"]
    size, shards = w["shardSize"], w["shards"]

    def row(r: int) -> np.ndarray:
        start, out = r * COLS * 4, b""
        while len(out) < COLS * 4:
            i, at = divmod(start + len(out), size)
            with open(bundle / shards[i]["file"], "rb") as f:
                f.seek(at)
                out += f.read(COLS * 4 - len(out))
        return np.frombuffer(out, np.float32)

    rows = np.random.default_rng(0).integers(1, ROWS, 64)
    return bool((row(0) == 1.0).all() and all((row(int(r)) == 0.0).all() for r in rows) and (row(ROWS - 1) == 0.0).all())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json")
    p.add_argument("--tmp", default=tempfile.gettempdir())
    args = p.parse_args(argv)
    need = 2 * ROWS * COLS * 4 + (1 << 30)
    free = shutil.disk_usage(args.tmp).free
    if free < need:
        print(f"large_model_check: {free / 1e9:.1f} GB free in {args.tmp}, need {need / 1e9:.1f} GB", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="webdnn-large-", dir=args.tmp) as tmp_s:
        tmp = Path(tmp_s)
        model = write_model(tmp)
        out = tmp / "bundle"
        cmd = [sys.executable, "-m", "webdnn_build", "build", str(model), "-o", str(out), "--backends", "js", "--quiet"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, rss_anon(proc.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        _, err = proc.communicate()
        if proc.returncode != 0:
            print(f"large_model_check: the build failed:\n{err}", file=sys.stderr)
            return 1
        weights = json.loads((out / "manifest.json").read_text())["weights"]
        node = subprocess.run(["node", "--input-type=module", "-e", (
            "import { load } from " + json.dumps(str(ROOT / "js-runtime/src/index.js")) + ";"
            "try { const r = await load(" + json.dumps(str(out)) + ", { backends: ['js'] });"
            " const o = await r.run({ idx: new BigInt64Array([0n, 5n]) });"
            " const y = Object.values(o)[0].data; console.log(`ran: y[0][0] = ${y[0]}, y[1][0] = ${y[1000]}`); }"
            " catch (e) { console.log(`rejected: ${e.message.replace(/\\s+/g, ' ')}`); }")],
            capture_output=True, text=True, timeout=600)
        result = {
            "model_bytes": model.stat().st_size + (tmp / "table.bin").stat().st_size,
            "weights_bytes": sum((out / sh["file"]).stat().st_size for sh in weights["shards"]),
            "weight_shards": len(weights["shards"]),
            "build_seconds": round(seconds, 1),
            "peak_anon_bytes": peak,
            "weights_ok": weights_ok(out),
            "load": (node.stdout.strip() or node.stderr.strip())[:400],
        }
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0 if result["weights_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

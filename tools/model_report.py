#!/usr/bin/env python3
"""Write docs/models.md: where each model of the model-family suite runs, and how close it is to onnxruntime.

For every model in the suite folder (tools/model_suite.py writes it) and every native backend:

- ops on the backend's own kernels / all ops after the default passes (the build's placement);
- the share of multiply-adds (Conv, ConvTranspose, Gemm, MatMul, MatMulNBits) that run natively;
- the largest error against onnxruntime on the suite's inputs (`webdnn-build verify`), and the output's scale;
- the ops that still fall back, as op type and input dtypes, with how many.

    python tools/model_report.py                      # every model in build/model-suite, wasm + webgpu
    python tools/model_report.py --models bert.dynamo --backends wasm --out -   # print, do not write

webgpu needs a WebGPU adapter in Node (eval "$(tools/setup-webgpu.sh)"); without one its columns say so.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from webdnn_build.compiler import BuildOptions, compile_model  # noqa: E402
from webdnn_build.errors import WebDNNError  # noqa: E402
from webdnn_build.ir import Graph, Node  # noqa: E402
from webdnn_build.verify import reference_spread, verify_model  # noqa: E402

#: post-export variant -> (max error, mean error) bounds as shares of the output's scale: the suite test's
#: tolerance for models that re-quantize activations (tests/models/test_model_suite.py, docs/model-suite.md)
QUANTIZED_TOLERANCE = {"int8": (0.5, 5e-3), "qdq": (0.5, 5e-3)}

#: how each backend's plan marks the steps that run on the js kernels
FALLBACK_STEP = {"wasm": "js", "webgpu": "cpu"}


def node_macs(g: Graph, node: Node) -> int:
    """Multiply-adds of one node (0 for ops that are not products); shapes from the post-pass IR."""
    def shape(name: str) -> Optional[tuple]:
        v = g.values.get(name) if name else None
        return tuple(v.shape) if v is not None and v.is_static else None

    out = shape(node.outputs[0]) if node.outputs else None
    if out is None:
        return 0
    if node.op_type in ("Conv", "ConvTranspose"):
        w = shape(node.inputs[1])
        if w is None:
            return 0
        # Conv: each output element sums C_in/group * kernel; ConvTranspose: each input element scatters C_out/group * kernel
        if node.op_type == "Conv":
            return math.prod(out) * math.prod(w[1:])
        x = shape(node.inputs[0])
        return 0 if x is None else math.prod(x) * math.prod(w[1:])
    if node.op_type in ("MatMul", "Gemm"):
        a = shape(node.inputs[0])
        if a is None:
            return 0
        k = a[0] if node.op_type == "Gemm" and node.attrs.get("transA", 0) else a[-1]
        return math.prod(out) * k
    if node.op_type == "MatMulNBits":
        return math.prod(out) * int(node.attrs.get("K", 0))
    return 0


def fallback_nodes(plan: dict, backend: str) -> list[dict]:
    key = FALLBACK_STEP[backend]
    return [s[key] for s in plan["steps"] if key in s]


def describe_fallback(plan: dict, step: dict) -> str:
    dtypes = [plan["values"][i]["dtype"] for i in step["inputs"] if i >= 0]
    op = step["op"] if not step.get("domain") else f"{step['domain']}.{step['op']}"
    return f"{op}({', '.join(d or '?' for d in dtypes)})"


def suite_inputs(model: Path) -> dict[str, np.ndarray]:
    family = model.name.split(".")[0]
    return {p.name[len(family) + 1:-4]: np.load(p) for p in model.parent.glob(f"{family}.*.npy")}


def report_one(model: Path, backend: str) -> dict[str, Any]:
    row: dict[str, Any] = {"model": model.stem, "backend": backend}
    logs: list[str] = []
    with tempfile.TemporaryDirectory(prefix="model-report-") as tmp:
        try:
            result = compile_model(model, Path(tmp) / "b", BuildOptions(backends=[backend]), logs.append)
        except WebDNNError as exc:
            row["error"] = f"build failed: {str(exc).splitlines()[0][:200]}"
            return row
        plan = json.loads((result.out_dir / backend / "plan.json").read_text())
        placement = result.manifest["backends"][backend].get("placement", {})
        row["native"], row["fallback"] = placement.get("native", 0), placement.get("fallback", 0)
        g = result.graph
        macs = {n.name: node_macs(g, n) for n in g.nodes}
        total = sum(macs.values())
        fb = fallback_nodes(plan, backend)
        fb_macs = sum(macs.get(s["name"], 0) for s in fb)
        row["mac_share"] = None if total == 0 else 1 - fb_macs / total
        row["macs"] = total
        row["fallback_ops"] = dict(Counter(describe_fallback(plan, s) for s in fb).most_common())
    kind = model.stem.split(".")[2] if model.stem.count(".") >= 2 else ""
    quantized = kind in QUANTIZED_TOLERANCE
    try:
        reports = verify_model(model, backend, inputs=suite_inputs(model), log=lambda m: None,
                               reference_level="basic" if kind == "qdq" else "all")
        row["max_abs"] = max(r.max_abs for r in reports)
        row["mean_abs"] = max(r.mean_abs for r in reports)
        row["scale"] = max(r.scale for r in reports)
        if quantized:
            max_share, mean_share = QUANTIZED_TOLERANCE[kind]
            spread = reference_spread(model, suite_inputs(model))
            row["spread"] = max(spread.values(), default=0.0)
            row["ok"] = all(r.max_abs <= 1e-5 + max_share * r.scale
                            and r.mean_abs <= max(mean_share * r.scale, spread.get(r.name, 0.0)) for r in reports)
        else:
            row["ok"] = all(r.ok for r in reports)
    except WebDNNError as exc:
        row["error"] = f"verify failed: {str(exc).splitlines()[0][:200]}"
    return row


def webgpu_available() -> Optional[str]:
    probe = ("const { webgpuAvailability } = await import('./js-runtime/test/webgpu-helpers.js');"
             "const r = await webgpuAvailability(); console.log(r.reason ? '' : r.adapter);")
    try:
        out = subprocess.run(["node", "--input-type=module", "-e", probe], cwd=ROOT, capture_output=True, text=True,
                             timeout=120).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out or None


def render(rows: list[dict], adapter: Optional[str], command: str) -> str:
    L = ["# Where the suite's models run", "",
         "<!-- Generated by tools/model_report.py; do not edit by hand. -->", "",
         "Every model of the model-family suite (tools/model_suite.py, docs/model-suite.md) built with the default",
         "passes for each native backend. **native ops**: ops on the backend's own kernels (wasm C/SIMD, WGSL) of",
         "all ops after the passes; the rest run on the js kernels (js steps in wasm, CPU steps on webgpu).",
         "**native MACs**: the share of multiply-adds (Conv, ConvTranspose, Gemm, MatMul, MatMulNBits) in native ops.",
         "**max abs error**: against onnxruntime (CPU) on the suite's inputs, next to the output's scale (max |reference|);",
         "the tests hold float models to `1e-5 + 1e-4 × scale`; the re-quantizing int8 and qdq variants to a mean error",
         "≤ 5e-3 × scale or, where larger, onnxruntime's own spread (**ort spread**: mean |onnxruntime at `all` −",
         "at `basic`| on the same inputs); qdq against onnxruntime at basic optimizations (docs/model-suite.md says why).", "",
         f"Generated on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `{command}`"
         + (f"; webgpu on `{adapter}` (a software adapter: placement and accuracy, not speed)" if adapter else "") + ".",
         "", "| model | backend | native ops | native MACs | max abs error (scale) | still falling back |",
         "|---|---|---|---|---|---|"]
    for r in rows:
        if "native" not in r:
            L.append(f"| {r['model']} | {r['backend']} | — | — | — | {r.get('error', '')} |")
            continue
        total = r["native"] + r["fallback"]
        ops = f"**{r['native']}/{total}**" if r["fallback"] == 0 else f"{r['native']}/{total}"
        share = "n/a" if r["mac_share"] is None else f"{100 * r['mac_share']:.1f}%"
        err = r.get("error") or (f"{r['max_abs']:.2e} ({r['scale']:.3g})"
                                 + (f", mean {r['mean_abs']:.1e}; ort spread {r.get('spread', 0.0):.1e}"
                                    if r["model"].split(".")[-1] in QUANTIZED_TOLERANCE else "")
                                 + ("" if r["ok"] else " ❌"))
        fb = ", ".join(f"{op} ×{n}" if n > 1 else op for op, n in r["fallback_ops"].items()) or "none"
        L.append(f"| {r['model']} | {r['backend']} | {ops} | {share} | {err} | {fb} |")
    done = [r for r in rows if "native" in r]
    for backend in sorted({r["backend"] for r in done}):
        mine = [r for r in done if r["backend"] == backend]
        full = sum(1 for r in mine if r["fallback"] == 0)
        L.append("")
        L.append(f"{backend}: {full} of {len(mine)} models run every op natively.")
    return "\n".join(L) + "\n"


def merge_reports(old: str, new: str) -> str:
    """``new``'s header with the table rows of ``old``, those of the (model, backend) pairs in ``new`` replaced
    (or added, sorted in), and the per-backend summary recounted; the generation line names both runs."""
    def split(text: str) -> tuple[list[str], dict[tuple[str, str], str]]:
        lines = text.splitlines()
        head = [ln for ln in lines if not ln.startswith("| ") or ln.startswith("| model |")]
        head = head[:head.index(next(ln for ln in head if ln.startswith("| model |"))) + 2]
        rows = {tuple(c.strip() for c in ln.split("|")[1:3]): ln for ln in lines
                if ln.startswith("| ") and not ln.startswith("| model |")}
        return head, rows  # type: ignore[return-value]

    old_head, rows = split(old)
    head, fresh = split(new)
    rows.update(fresh)
    # the new generation line, then what the old one said of the rows it kept (dates and commands)
    before = next((ln for ln in old_head if ln.startswith("Generated on")), "")
    rows_then = ", ".join(f"{m} ({b})" for m, b in sorted(fresh))
    head = [f"{ln} Rows of {rows_then} measured then; the others as before: {before[len('Generated on '):]}"
            if ln.startswith("Generated on") and before else ln for ln in head]
    body = [rows[k] for k in sorted(rows, key=lambda k: (k[0] + ".onnx", k[1]))]  # file order, as a full run
    out = head + body
    for backend in sorted({b for _, b in rows}):
        mine = [ln for (m, b), ln in rows.items() if b == backend and ln.split("|")[3].strip() != "—"]
        full = sum(1 for ln in mine if ln.split("|")[3].strip().startswith("**"))
        out += ["", f"{backend}: {full} of {len(mine)} models run every op natively."]
    return "\n".join(out) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", type=Path, default=ROOT / "build/model-suite", help="folder of the suite's models")
    ap.add_argument("--models", help="comma-separated model stems (default: every .onnx in the folder)")
    ap.add_argument("--backends", default="wasm,webgpu")
    ap.add_argument("--out", default=str(ROOT / "docs/models.md"), help="report path, '-' for stdout")
    ap.add_argument("--update", action="store_true",
                    help="replace only the rows of the models run in the existing report (with --models)")
    a = ap.parse_args(argv)
    if not any(a.suite.glob("*.onnx")):
        subprocess.run([sys.executable, str(ROOT / "tools/model_suite.py"), "--out", str(a.suite), "-q"], check=True)
    models = sorted(a.suite.glob("*.onnx"))
    if a.models:
        wanted = a.models.split(",")
        models = [m for m in models if m.stem in wanted]
    backends = [b for b in a.backends.split(",") if b]
    adapter = webgpu_available() if "webgpu" in backends else None
    rows = []
    for model in models:
        for backend in backends:
            if backend == "webgpu" and adapter is None:
                rows.append({"model": model.stem, "backend": backend, "error": "no WebGPU adapter in Node"})
                continue
            t0 = time.time()
            row = report_one(model, backend)
            rows.append(row)
            print(f"{model.stem} {backend}: {row.get('native', '-')}/{row.get('native', 0) + row.get('fallback', 0)} native, "
                  f"{row.get('error') or 'max abs ' + format(row.get('max_abs', float('nan')), '.2e')} "
                  f"({time.time() - t0:.0f}s)", file=sys.stderr)
    args = " ".join(argv if argv is not None else sys.argv[1:])
    text = render(rows, adapter, f"python tools/model_report.py{(' ' + args) if args else ''}")
    if a.update and a.out != "-" and Path(a.out).exists():
        text = merge_reports(Path(a.out).read_text(), text)
    if a.out == "-":
        sys.stdout.write(text)
    else:
        Path(a.out).write_text(text)
        print(f"wrote {a.out}", file=sys.stderr)
    return 0 if all(r.get("ok", False) for r in rows if "native" in r) else 1


if __name__ == "__main__":
    sys.exit(main())

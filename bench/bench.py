#!/usr/bin/env python3
"""Benchmark driver: webdnn-build bundles against onnxruntime-web (wasm EP) in Node.

    .venv/bin/python bench/bench.py                                   # resnet50,mobilenetv2 × js × 1,2 threads
    .venv/bin/python bench/bench.py --models resnet50 --backends js,wasm --threads 1,2
    .venv/bin/python bench/bench.py --models light_squeezenet,light_inception_v1 --threads 1 --no-doc

For every model it generates the .onnx if missing (examples/models/generate.py) or takes it from
the onnx wheel's light model zoo (``light_*``) or a path, builds one bundle per backend with
``webdnn-build build``, counts multiply-accumulates (generate.py's ``count_macs``), then runs
``bench/run.mjs`` once per configuration (model × backend × threads), each in its own Node
process, collects the JSON lines it prints and writes ``docs/performance.md``.
Raw results go to ``bench/out/results.jsonl``.

The ``webgpu`` backend is timed against onnxruntime-web's WebGPU EP (one configuration per model:
threads do not apply; default models tiny_cnn,mobilenetv2) on whatever WebGPU adapter the process
finds (in Node: Dawn from the ``webgpu`` npm package; without a GPU run
``eval "$(tools/setup-webgpu.sh)"`` first). Its rows get their own table per model, labelled
with the adapter; on a software adapter they are reported, not judged.
``--merge`` keeps the rows of configurations not re-run from the previous results.jsonl.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gzip
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
MODELS_DIR = os.path.join(ROOT, "examples", "models")
GENERATE = os.path.join(MODELS_DIR, "generate.py")
OUT = os.path.join(BENCH, "out")
DOC = os.path.join(ROOT, "docs", "performance.md")

# Targets from /work/shared/BASELINES.md (ratio ours / onnxruntime-web wasm, same process, same threads).
TARGETS = {("resnet50", 1): 0.60, ("resnet50", 2): 0.60, ("mobilenetv2", 1): 0.65}
# onnxruntime-web 1.30 medians from BASELINES.md (2-vCPU Zen 5 VM, Node 20.20.2), to compare machines.
PEER_ORT_MS = {("resnet50", 1): 250, ("resnet50", 2): 128, ("mobilenetv2", 1): 25.5, ("mobilenetv2", 2): 14.3}
# Backends timed against onnxruntime-web's WebGPU EP, one configuration per model (no threads).
GPU_BACKENDS = ("webgpu",)
DEFAULT_MODELS = ["resnet50", "mobilenetv2"]
# ResNet-50 takes minutes per run on a software adapter: kept out of the webgpu default.
DEFAULT_GPU_MODELS = ["tiny_cnn", "mobilenetv2"]
SOFTWARE_ADAPTERS = ("lavapipe", "llvmpipe", "swiftshader")


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def _load_generate():
    spec = importlib.util.spec_from_file_location("webdnn_examples_generate", GENERATE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def light_dir() -> str:
    import onnx
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def resolve_model(name: str, gen) -> str:
    """Model name -> .onnx path (generating examples on demand)."""
    if name.endswith(".onnx") or os.sep in name:
        path = os.path.abspath(name)
        if not os.path.exists(path):
            raise SystemExit(f"bench: no such model file {name}")
        return path
    if name in gen.MODELS:
        path = os.path.join(MODELS_DIR, f"{name}.onnx")
        if not os.path.exists(path):
            log(f"generating {name} (examples/models/generate.py)")
            subprocess.run([sys.executable, GENERATE, "--no-verify", name], check=True, cwd=ROOT)
        return path
    zoo = name if name.startswith("light_") else f"light_{name}"
    path = os.path.join(light_dir(), f"{zoo}.onnx")
    if os.path.exists(path):
        return path
    known = sorted(gen.MODELS) + sorted(f[:-5] for f in os.listdir(light_dir()) if f.endswith(".onnx"))
    raise SystemExit(f"bench: unknown model {name!r}; choose from {', '.join(known)} or give a .onnx path")


def model_name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def count_macs(path: str, gen) -> Optional[int]:
    import onnx
    try:
        return int(gen.count_macs(onnx.load(path))["total"])
    except Exception as e:  # noqa: BLE001 - a missing MAC count only loses the GFLOP/s column
        log(f"count_macs({model_name(path)}) failed: {e}")
        return None


def webdnn_build_cmd() -> List[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "webdnn-build")
    if os.path.exists(exe):
        return [exe]
    exe = os.path.join(ROOT, ".venv", "bin", "webdnn-build")
    if os.path.exists(exe):
        return [exe]
    return [sys.executable, "-m", "webdnn_build"]


def code_size_gz(bundle: str, backend: str) -> Optional[int]:
    """Gzipped size of the bundle's per-backend program folder (weights excluded)."""
    folder = os.path.join(bundle, backend)
    if not os.path.isdir(folder):
        return None
    total = 0
    for dirpath, _, files in os.walk(folder):
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                total += len(gzip.compress(fh.read(), 9))
    return total


def build_bundle(onnx_path: str, backend: str, force: bool) -> Dict:
    out = os.path.join(OUT, "bundles", f"{model_name(onnx_path)}-{backend}")
    cmd = [*webdnn_build_cmd(), "build", onnx_path, "-o", out, "--backends", backend, "--json", "-q"]
    if force:
        cmd.append("--force")
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    info = {"bundle": out, "build_s": round(time.perf_counter() - t0, 2)}
    if p.returncode != 0:
        lines = [ln.strip() for ln in (p.stderr or p.stdout or "").strip().splitlines() if ln.strip()]
        first = next((i for i, ln in enumerate(lines) if "error" in ln.lower()), max(len(lines) - 1, 0))
        info["error"] = " ".join(lines[first:first + 3])[:300] or f"exit {p.returncode}"
        return info
    try:
        res = json.loads(p.stdout)["results"][0]
        info["build_status"] = res.get("status")
        info["build_s"] = res.get("seconds", info["build_s"])
    except (ValueError, KeyError, IndexError):
        pass
    info["code_gz"] = code_size_gz(out, backend)
    return info


def _busy_ticks() -> Optional[int]:
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    except (OSError, ValueError, IndexError):
        return None


def wait_idle(max_s: float, threshold: float = 0.3) -> Optional[float]:
    """Waits (up to max_s) for a 1-s window in which other processes use < threshold cores.

    Returns the load seen in the last window (cores), or None where /proc/stat is unreadable."""
    deadline = time.monotonic() + max_s
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    while True:
        b0, t0 = _busy_ticks(), time.monotonic()
        if b0 is None:
            return None
        time.sleep(1.0)
        load = (_busy_ticks() - b0) / hz / (time.monotonic() - t0)
        if load < threshold or time.monotonic() >= deadline:
            return round(load, 2)
        log(f"machine busy ({load:.2f} cores used by other processes), waiting")


def run_config(onnx_path: str, bundle: str, backend: str, threads: int, macs: Optional[int],
               args) -> Dict:
    cmd = ["node", *args.node_arg, os.path.join(BENCH, "run.mjs"), "--bundle", bundle, "--onnx", onnx_path,
           "--backend", backend, "--threads", str(threads), "--model", model_name(onnx_path),
           "--warmup-s", str(args.warmup_s), "--min-runs", str(args.min_runs),
           "--target-s", str(args.target_s), "--cap-s", str(args.cap_s), "--seed", str(args.seed)]
    if macs:
        cmd += ["--macs", str(macs)]
    idle = wait_idle(args.wait_idle_s) if args.wait_idle_s > 0 else None
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=None, text=True,
                           timeout=args.cap_s * 2 + 120)
    except subprocess.TimeoutExpired:
        return {"model": model_name(onnx_path), "backend": backend, "threads": threads, "ok": False,
                "error": "timed out"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"model": model_name(onnx_path), "backend": backend, "threads": threads, "ok": False,
                "error": f"run.mjs exited {p.returncode} without a result"}
    res = json.loads(lines[-1])
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    res["foreign_cores_before"] = idle
    return res


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return ", ".join(x for x in ("avx2", "fma", "avx512f") if x in flags) or "none of avx2/fma/avx512f"
    except OSError:
        pass
    return "?"


def fmt_ms(x) -> str:
    if x is None:
        return "—"
    return f"{x:.1f}" if x >= 100 else f"{x:.2f}" if x >= 1 else f"{x:.3f}"


def fmt(x, digits=1) -> str:
    if x is None:
        return "—"
    return f"{x:.{digits}f}"


def adapter_label(a: Optional[Dict]) -> str:
    if not a:
        return "adapter unknown"
    parts = [a.get(k) for k in ("vendor", "architecture", "device", "description")]
    return " / ".join(str(x) for x in parts if x) or "adapter info empty"


def is_software_adapter(a: Optional[Dict]) -> bool:
    if not a:
        return False
    text = " ".join(str(v) for v in a.values() if v).lower()
    return a.get("architecture") == "software" or any(x in text for x in SOFTWARE_ADAPTERS)


def _code_cell(r: Dict, builds: Dict) -> str:
    b = builds.get((r["model"], r["backend"]), {})
    code_gz = b.get("code_gz") or r.get("code_gz")
    if code_gz is None and not b:  # a merged row from an earlier run: measure the bundle if it is there
        code_gz = code_size_gz(os.path.join(OUT, "bundles", f"{r['model']}-{r['backend']}"), r["backend"])
    return f"{code_gz / 1024:.1f} KB" if code_gz else "—"


def _err_cell(text: Optional[str], default: str = "failed") -> str:
    return " ".join((text or default).strip().splitlines()[:2]).replace("|", "\\|")[:240]


def gpu_tables(L: List[str], rows: List[Dict], builds: Dict) -> None:
    """The webgpu rows of one model: one table per adapter."""
    by_adapter: Dict[str, List[Dict]] = {}
    for r in rows:
        by_adapter.setdefault(json.dumps(r.get("adapter"), sort_keys=True), []).append(r)
    for key, rs in by_adapter.items():
        adapter = json.loads(key)
        soft = is_software_adapter(adapter)
        L.append("")
        L.append(f"WebGPU, against onnxruntime-web's WebGPU EP — adapter: **{adapter_label(adapter)}**"
                 + (" (software adapter: reported, not judged)." if soft else "."))
        L.append("")
        L.append("| backend | ours ms | ORT ms | ratio | judged | runs | max abs diff | load ms ours / ORT | first run ms ours / ORT | other load | code (gz) |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        notes = []
        for r in rs:
            code = _code_cell(r, builds)
            judged = "no (software adapter)" if soft else "— (no target)"
            if not r.get("ok"):
                diff = fmt(r.get("max_abs_diff"), 6) if r.get("max_abs_diff") is not None else "—"
                L.append(f"| {r['backend']} | — | — | — | {judged} | — | {diff} | — | — | — | {code} |")
                L.append(f"| | *failed: {_err_cell(r.get('error'))}* | | | | | | | | | |")
                continue
            ort_ms = fmt_ms(r["ort_ms"]) if r.get("ort_ms") is not None else "n/a¹"
            ratio = f"**{r['ratio']:.2f}**" if r.get("ratio") is not None else "n/a¹"
            if r.get("ort_ms") is None:
                notes.append(f"¹ onnxruntime-web's WebGPU EP did not run: {_err_cell(r.get('ort_error'), 'unknown reason')} "
                             f"(outputs checked against {r.get('ort_ep') or 'ORT'}).")
            capped = " (capped)" if r.get("capped") else ""
            load = f"{fmt(r.get('ours_load_ms'), 0)} / {fmt(r.get('ort_load_ms'), 0)}"
            first = f"{fmt(r.get('ours_first_run_ms'), 0)} / {fmt(r.get('ort_first_run_ms'), 0)}"
            L.append(f"| {r['backend']} | {fmt_ms(r['ours_ms'])} | {ort_ms} | {ratio} | {judged} | {r['runs']}{capped} | "
                     f"{r['max_abs_diff']:.1e} | {load} | {first} | {fmt(r.get('foreign_cores'), 2)} | {code} |")
        for n in dict.fromkeys(notes):
            L.append("")
            L.append(n)


def write_doc(results: List[Dict], builds: Dict, macs: Dict[str, Optional[int]], args, started: str) -> None:
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    ort_version = next((r.get("ort_version") for r in results if r.get("ort_version")), None)
    if not ort_version:
        try:
            with open(os.path.join(BENCH, "node_modules", "onnxruntime-web", "package.json")) as f:
                ort_version = json.load(f)["version"]
        except OSError:
            ort_version = "?"
    foreign = [r.get("foreign_cores") for r in results if r.get("foreign_cores") is not None]
    cmdline = args.cmdline
    # Where rows come from several runs (--merge): one line per run.
    runs = list(dict.fromkeys((r.get("cmdline") or "an earlier run", r.get("started") or "an unknown date")
                              for r in results))
    gpu_rows = [r for r in results if r["backend"] in GPU_BACKENDS]

    L: List[str] = []
    L.append("# Performance")
    L.append("")
    L.append("<!-- Generated by bench/bench.py; do not edit by hand. Re-run the benchmark to update. -->")
    L.append("")
    L.append("Latency of webdnn-build bundles against **onnxruntime-web** (wasm execution provider) on the same")
    L.append("ONNX model, the same seeded input, in the same Node process, with the same thread count.")
    L.append("The ratio is ours / ORT (median against median): **below 1 means webdnn-build is faster**.")
    if gpu_rows:
        L.append("The `webgpu` backend is timed against onnxruntime-web's **WebGPU** execution provider on the same")
        L.append("WebGPU adapter, in its own table per model labelled with the adapter.")
    L.append("")
    if len(runs) <= 1:
        L.append(f"Generated by `{cmdline}` on {started}.")
    else:
        L.append("Generated by several runs, merged with `--merge` (each configuration's row is from its latest run):")
        L.append("")
        for c, d in runs:
            L.append(f"- `{c}` on {d}")
    L.append("")
    L.append("## Machine")
    L.append("")
    L.append("| | |")
    L.append("|---|---|")
    L.append(f"| CPU | {cpu_model()} ({cpu_flags()}; wasm only sees 128-bit SIMD) |")
    L.append(f"| cores | {os.cpu_count()} |")
    L.append(f"| Node | {node} |")
    L.append(f"| onnxruntime-web | {ort_version} |")
    L.append(f"| OS | {platform.system()} {platform.release()} |")
    L.append(f"| date | {started} |")
    if foreign:
        L.append(f"| CPU used by other processes while measuring | {min(foreign):.2f} – {max(foreign):.2f} cores |")
    L.append("")
    L.append("The machine may be shared. The `other load` column is the CPU (in cores) that *other* processes used")
    L.append("while a configuration was measured (from /proc/stat minus our own process): near 0 means a quiet")
    L.append("machine; anything above ~0.2 makes the numbers, the 2-thread ones first, unreliable. Compare ratios,")
    L.append("not absolute times, across machines.")
    L.append("")
    L.append("## Targets (from BASELINES.md)")
    L.append("")
    L.append("- ResNet-50: ratio ≤ 0.60 at 1 thread and at 2 threads.")
    L.append("- MobileNetV2: ratio ≤ 0.65 at 1 thread (tfjs-backend-wasm is at ≈ 0.69).")
    L.append("- The `js` backend is the portable reference backend and has no speed target; the targets are")
    L.append("  for the fast backends (`wasm`).")
    if gpu_rows:
        L.append("- `webgpu` has no target yet; on a software adapter (lavapipe/llvmpipe, SwiftShader: a CPU running")
        L.append("  the shaders) its numbers are reported, not judged.")
    L.append("")
    L.append("## Results")

    order = list(dict.fromkeys(r["model"] for r in results))
    for m in order:
        rows = [r for r in results if r["model"] == m]
        L.append("")
        L.append(f"### {m}")
        L.append("")
        mac = macs.get(m)
        if mac:
            amount = f"{mac / 1e9:.3f} G" if mac >= 1e8 else f"{mac / 1e6:.3f} M"
            L.append(f"{amount} multiply-adds ({2 * mac / 1e9:.3g} GFLOP) per inference "
                     "(Conv + Gemm + MatMul, `count_macs`).")
        peer = [f"{t} thread{'s' if t > 1 else ''}: {PEER_ORT_MS[(m, t)]} ms"
                for t in (1, 2) if (m, t) in PEER_ORT_MS]
        if peer:
            L.append(f"onnxruntime-web on the BASELINES.md machine: {', '.join(peer)}.")
        L.append("")
        cpu_rows = [r for r in rows if r["backend"] not in GPU_BACKENDS]
        if cpu_rows:
            L.append("| backend | threads | ours ms | ORT ms | ratio | target | GFLOP/s ours / ORT | runs | max abs diff | other load | code (gz) |")
            L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        backend_order = list(dict.fromkeys([*args.backends, *(r["backend"] for r in results)]))
        for r in sorted(cpu_rows, key=lambda r: (backend_order.index(r["backend"]), r["threads"])):
            code = _code_cell(r, builds)
            target = TARGETS.get((m, r["threads"]))
            if r["backend"] == "js":
                tgt = "(reference)"
            elif target is None:
                tgt = "—"
            else:
                ok = r.get("ok") and r.get("ratio") is not None and r["ratio"] <= target
                tgt = f"≤ {target:.2f} {'✅' if ok else '❌'}"
            if not r.get("ok"):
                err = _err_cell(r.get("error"))
                L.append(f"| {r['backend']} | {r['threads']} | — | — | — | {tgt} | — | — | "
                         f"{fmt(r.get('max_abs_diff'), 6) if r.get('max_abs_diff') is not None else '—'} | — | {code} |")
                L.append(f"| | | *failed: {err}* | | | | | | | | |")
                continue
            gf = f"{fmt(r.get('ours_gflops'), 2)} / {fmt(r.get('ort_gflops'), 2)}"
            capped = " (capped)" if r.get("capped") else ""
            L.append(f"| {r['backend']} | {r['threads']} | {fmt_ms(r['ours_ms'])} | {fmt_ms(r['ort_ms'])} | "
                     f"**{r['ratio']:.2f}** | {tgt} | {gf} | {r['runs']}{capped} | "
                     f"{r['max_abs_diff']:.1e} | {fmt(r.get('foreign_cores'), 2)} | {code} |")
        gpu_tables(L, [r for r in rows if r["backend"] in GPU_BACKENDS], builds)
    busy = [r for r in results if (r.get("foreign_cores") or 0) > 0.3]
    if busy:
        L.append("")
        L.append(f"> **Warning:** {len(busy)} of {len(results)} configurations were measured while other processes used")
        L.append("> more than 0.3 cores (`other load`). Their absolute times are inflated and the ratios are noisy,")
        L.append("> multi-threaded ORT most of all (its worker threads spin and lose their cores). Re-run on a quiet machine.")
    L.append("")
    L.append("## Method")
    L.append("")
    L.append("- `bench/bench.py` builds one bundle per (model, backend) with `webdnn-build build --backends B`, then")
    L.append("  starts **one Node process per configuration** (model × backend × threads) running `bench/run.mjs`.")
    L.append("- In that process: onnxruntime-web (`ort.env.wasm.numThreads = threads` before the first session,")
    L.append("  `executionProviders: ['wasm']`, `graphOptimizationLevel: 'all'`) and our bundle")
    L.append("  (`load(dir, { backends: [B], threads })`) are loaded side by side and fed the same seeded")
    L.append(f"  N(0, 1) input (seed {args.seed}).")
    L.append("- **Correctness first:** both run once and every output is compared; a configuration whose outputs")
    L.append("  differ beyond |d| ≤ 1e-3 + 1e-3·|ORT| is reported as failed and not timed (max abs diff in the table).")
    L.append(f"- **Warm-up by time:** each side runs for ≥ {args.warmup_s:g} s (and ≥ 2 runs) before measuring, since")
    L.append("  V8 tiers hot code (JS and wasm) up late.")
    L.append("- **Measurement:** ours and ORT alternate in blocks (the order flips every round): each block is one")
    L.append("  untimed run followed by 4 timed back-to-back runs, like an app inferring frame after frame. The untimed")
    L.append("  run absorbs the switch: a multi-threaded runtime leaves its worker threads spinning for a while after")
    L.append("  a run (onnxruntime-web's pool does), stealing cores from the other side's threads right after a switch.")
    L.append(f"  Measuring continues until each side has ≥ {args.min_runs} timed runs and the phase has lasted ≥ {args.target_s:g} s")
    L.append(f"  (small models get many more runs), capped at {args.cap_s:g} s. A full GC (untimed) precedes every timed run so")
    L.append("  garbage left by one side is not collected by V8's background threads while the other runs.")
    L.append("- Reported: the **median** wall time of `runner.run()` / `session.run()` per side (input already")
    L.append("  in memory, output copied out), ratio = median ours / median ORT, GFLOP/s = 2·MACs / median.")
    L.append("- `code (gz)`: gzipped size of the bundle's per-backend program folder (weights excluded; the")
    L.append("  runtime library itself is not counted).")
    L.append(f"- Before each configuration the driver waits (up to {args.wait_idle_s:g} s) for a 1-s window in which")
    L.append("  other processes use < 0.3 cores.")
    if gpu_rows:
        L.append("- `webgpu`: one configuration per model (threads do not apply). In Node the process takes Dawn from")
        L.append("  the `webgpu` npm package (`navigator.gpu = create([])`, its `globals` installed) before importing")
        L.append("  `onnxruntime-web/webgpu`; ORT's session uses `executionProviders: ['webgpu']` (its wasm part")
        L.append("  single-threaded), ours `load(dir, { backends: ['webgpu'] })`, both on the same adapter. Dawn's")
        L.append("  `queue.writeBuffer` rejects views of a SharedArrayBuffer (ORT's wasm heap), so the benchmark copies")
        L.append("  such data before the call (a shim in `bench/run.mjs`; it costs ORT a copy per upload). Where ORT's")
        L.append("  WebGPU EP cannot run, ours is timed alone and ORT is reported as n/a with the reason (outputs are")
        L.append("  then checked against ORT's wasm EP). Times include reading the outputs back to the CPU.")
        L.append("  Load and first-run times (shader compilation, pipeline creation) are reported separately.")
    L.append("- Raw JSON lines (min, p90, load times, warm-up counts): `bench/out/results.jsonl`.")
    L.append("")
    os.makedirs(os.path.dirname(os.path.abspath(args.doc)), exist_ok=True)
    with open(args.doc, "w") as f:
        f.write("\n".join(L))
    log(f"wrote {os.path.relpath(args.doc, ROOT)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    csv = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    ap.add_argument("--models", type=csv, default=None,
                    help="comma-separated: resnet50, mobilenetv2, tiny_cnn, light_<zoo name>, or .onnx paths "
                         "(default: resnet50,mobilenetv2; for webgpu tiny_cnn,mobilenetv2)")
    ap.add_argument("--backends", type=csv, default=["js"],
                    help="comma-separated backends, e.g. js,wasm,webgpu (default: js)")
    ap.add_argument("--threads", type=lambda s: [int(x) for x in csv(s)], default=[1, 2],
                    help="comma-separated thread counts (default: 1,2)")
    ap.add_argument("--warmup-s", type=float, default=1.0, help="warm-up per side, seconds (default 1)")
    ap.add_argument("--min-runs", type=int, default=15, help="measured runs per side at least (default 15)")
    ap.add_argument("--target-s", type=float, default=5.0,
                    help="keep measuring until this long has passed (default 5)")
    ap.add_argument("--cap-s", type=float, default=120.0, help="stop measuring after this long (default 120)")
    ap.add_argument("--seed", type=int, default=1, help="input seed (default 1)")
    ap.add_argument("--wait-idle-s", type=float, default=20.0,
                    help="before each configuration wait up to this long for other processes to go quiet (default 20; 0 = never)")
    ap.add_argument("--force-build", action="store_true", help="rebuild bundles even when up to date")
    ap.add_argument("--node-arg", action="append", default=[], help="extra argument for node (repeatable)")
    ap.add_argument("--doc", default=DOC, help="report path (default: docs/performance.md)")
    ap.add_argument("--no-doc", action="store_true", help="do not write the report")
    ap.add_argument("--merge", action="store_true",
                    help="keep the rows of configurations not re-run from the previous bench/out/results.jsonl "
                         "(the report then shows both)")
    ap.add_argument("--results", default=os.path.join(OUT, "results.jsonl"),
                    help="raw results file, rewritten by every run, read first with --merge (default: bench/out/results.jsonl)")
    args = ap.parse_args(argv)
    explicit_models = args.models is not None
    if not explicit_models:
        cpu = [b for b in args.backends if b not in GPU_BACKENDS]
        gpu = [b for b in args.backends if b in GPU_BACKENDS]
        args.models = list(dict.fromkeys([*(DEFAULT_MODELS if cpu else []), *(DEFAULT_GPU_MODELS if gpu else [])]))
    args.cmdline = "python bench/bench.py " + " ".join(
        [f"--models {','.join(args.models)}", f"--backends {','.join(args.backends)}",
         *([f"--threads {','.join(map(str, args.threads))}"] if any(b not in GPU_BACKENDS for b in args.backends) else []),
         *(["--merge"] if args.merge else [])])

    if not os.path.isdir(os.path.join(BENCH, "node_modules", "onnxruntime-web")):
        raise SystemExit("bench: run `npm install --prefix bench` first")
    if not shutil.which("node"):
        raise SystemExit("bench: node not found on PATH")

    started = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    t_start = time.perf_counter()
    gen = _load_generate()
    paths = [resolve_model(m, gen) for m in args.models]
    os.makedirs(OUT, exist_ok=True)

    macs: Dict[str, Optional[int]] = {}
    builds: Dict = {}
    results: List[Dict] = []
    results_path = os.path.abspath(args.results)
    previous: List[Dict] = []
    if args.merge and os.path.exists(results_path):
        with open(results_path) as f:
            previous = [json.loads(ln) for ln in f if ln.strip().startswith("{")]

    def wanted(name: str, backend: str) -> bool:
        if explicit_models:
            return True
        return name in (DEFAULT_GPU_MODELS if backend in GPU_BACKENDS else DEFAULT_MODELS)

    def thread_counts(backend: str) -> List[int]:
        return [1] if backend in GPU_BACKENDS else args.threads

    planned = {(model_name(p), b, t) for p in paths for b in args.backends if wanted(model_name(p), b)
               for t in thread_counts(b)}
    kept = [r for r in previous if (r.get("model"), r.get("backend"), r.get("threads")) not in planned]
    if args.merge:
        log(f"--merge: keeping {len(kept)} of {len(previous)} earlier results")
        for r in kept:
            if r.get("macs") and r["model"] not in macs:
                macs[r["model"]] = r["macs"]
    os.makedirs(os.path.dirname(results_path), exist_ok=True)
    jsonl = open(results_path, "w")
    for r in kept:
        jsonl.write(json.dumps(r) + "\n")
    jsonl.flush()
    for path in paths:
        name = model_name(path)
        macs[name] = count_macs(path, gen)
        for backend in args.backends:
            if not wanted(name, backend):
                continue
            b = build_bundle(path, backend, args.force_build)
            builds[(name, backend)] = b
            if "error" in b:
                log(f"{name}: build for {backend} failed: {b['error']}")
            else:
                log(f"{name}: {backend} bundle {b.get('build_status', 'built')} in {b['build_s']} s")
            for threads in thread_counts(backend):
                if "error" in b:
                    res = {"model": name, "backend": backend, "threads": threads, "ok": False,
                           "error": f"build failed: {b['error']}"}
                else:
                    res = run_config(path, b["bundle"], backend, threads, macs[name], args)
                res.setdefault("code_gz", b.get("code_gz"))
                res["started"] = started
                res["cmdline"] = args.cmdline
                results.append(res)
                jsonl.write(json.dumps(res) + "\n")
                jsonl.flush()
                if res.get("ok"):
                    ort_ms = f"{res['ort_ms']:.1f} ms" if res.get("ort_ms") is not None else f"n/a ({res.get('ort_error')})"
                    ratio = f"{res['ratio']:.2f}" if res.get("ratio") is not None else "n/a"
                    log(f"{name} {backend} {threads}T: ours {res['ours_ms']:.1f} ms, ORT {ort_ms}, "
                        f"ratio {ratio} ({res['runs']} runs, {res.get('wall_s')} s)")
                else:
                    log(f"{name} {backend} {threads}T: FAILED: {(res.get('error') or '').splitlines()[0] if res.get('error') else ''}")
    jsonl.close()
    ran = results
    if args.merge:
        results = kept + results
    if not args.no_doc:
        write_doc(results, builds, macs, args, started)
    log(f"total {time.perf_counter() - t_start:.0f} s")
    return 0 if all(r.get("ok") for r in ran) else 1


if __name__ == "__main__":
    sys.exit(main())

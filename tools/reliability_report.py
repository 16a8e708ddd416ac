#!/usr/bin/env python3
"""Write docs/reliability.md from the fuzzers and the lifetime script (issue 8, items 4 and 5).

Runs, or reads with ``--from``:

- the Python fuzz (``tools/fuzz.py``: mutated models through the compiler), ``--python-cases`` cases;
- the JS bundle fuzz (``node js-runtime/test/fuzz/fuzz-bundles.mjs --cases N --seed S --json out.json``:
  corrupted bundles through ``load()``/``run()``), same keys as the Python one;
- the lifetime script (``node bench/reliability.mjs --json out.json``: concurrency, 10,000 runs, load/dispose
  cycles, memory figures).

A script that is not there (or fails) is reported as "not run". Usage::

    python tools/reliability_report.py                       # run everything (>= 10,000 Python cases)
    python tools/reliability_report.py --from python=py.json --from js=js.json --from lifetime=life.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
JS_FUZZ = ROOT / "js-runtime" / "test" / "fuzz" / "fuzz-bundles.mjs"
LIFETIME = ROOT / "bench" / "reliability.mjs"
HEAP_DIFF = ROOT / "bench" / "heap-diff.mjs"
LARGE = ROOT / "tools" / "large_model_check.py"
DOC = ROOT / "docs" / "reliability.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1048576:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    node = shutil.which("node")
    node_v = ""
    if node:
        try:
            node_v = ", Node " + subprocess.run([node, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return (f"{platform.system()} {platform.release()} ({platform.machine()}), {cpu}, {os.cpu_count()} CPUs{mem}, "
            f"Python {platform.python_version()}{node_v}")


def _run(cmd: list[str], out: Path, timeout: float) -> tuple[Optional[dict[str, Any]], str]:
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(cmd, cwd=ROOT, timeout=timeout, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    except OSError as exc:
        return None, str(exc)
    sys.stderr.write(proc.stderr[-4000:])
    try:
        return json.loads(out.read_text()), ""
    except (OSError, ValueError):
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        return None, f"exit {proc.returncode}, no JSON written ({' / '.join(tail)})"


def run_python(cases: int, seed: int, tmp: Path, jobs: int) -> tuple[Optional[dict], str, str]:
    out = tmp / "python-fuzz.json"
    cmd = [sys.executable, "tools/fuzz.py", "--cases", str(cases), "--seed", str(seed), "--json", str(out),
           "--jobs", str(jobs)]
    data, why = _run(cmd, out, timeout=6 * 3600)
    return data, why, "python " + " ".join(cmd[1:-3]).replace(str(out), "out.json") + f" --jobs {jobs}"


def run_js(cases: int, seed: int, tmp: Path) -> tuple[Optional[dict], str, str]:
    if not JS_FUZZ.exists() or not shutil.which("node"):
        return None, "not run (js-runtime/test/fuzz/fuzz-bundles.mjs or node missing)", ""
    out = tmp / "js-fuzz.json"
    cmd = ["node", str(JS_FUZZ.relative_to(ROOT)), "--cases", str(cases), "--seed", str(seed), "--json", str(out)]
    data, why = _run(cmd, out, timeout=6 * 3600)
    return data, why, " ".join(cmd[:-1]) + " out.json"


def run_webgpu_fuzz(cases: int, seed: int, tmp: Path) -> tuple[Optional[dict], str, str]:
    """The bundle fuzz on the webgpu backend: needs a WebGPU adapter in Node (tools/setup-webgpu.sh)."""
    if not JS_FUZZ.exists() or not shutil.which("node"):
        return None, "not run (js-runtime/test/fuzz/fuzz-bundles.mjs or node missing)", ""
    if not os.environ.get("VK_ICD_FILENAMES"):
        return None, "not run (no WebGPU driver in the environment: eval \"$(tools/setup-webgpu.sh)\")", ""
    out = tmp / "webgpu-fuzz.json"
    cmd = ["node", str(JS_FUZZ.relative_to(ROOT)), "--cases", str(cases), "--seed", str(seed), "--backends", "webgpu",
           "--json", str(out)]
    data, why = _run(cmd, out, timeout=6 * 3600)
    return data, why, " ".join(cmd[:-1]) + " out.json"


def run_heap_diff(tmp: Path) -> tuple[Optional[dict], str, str]:
    if not HEAP_DIFF.exists() or not shutil.which("node"):
        return None, "not run (bench/heap-diff.mjs or node missing)", ""
    out = tmp / "heap-diff.json"
    cmd = ["node", str(HEAP_DIFF.relative_to(ROOT)), "--json", str(out)]
    data, why = _run(cmd, out, timeout=3600)
    return data, why, " ".join(cmd[:-1]) + " out.json"


def run_large(tmp: Path) -> tuple[Optional[dict], str, str]:
    out = tmp / "large.json"
    cmd = [sys.executable, str(LARGE.relative_to(ROOT)), "--json", str(out)]
    data, why = _run(cmd, out, timeout=3600)
    return data, why, "python " + " ".join(cmd[1:-2])


def _large_section(data: Optional[dict], why: str, command: str) -> list[str]:
    lines = ["## A model over 2 GB", ""]
    if data is None:
        return lines + [f"Not run: {why or 'no result'}.", ""]
    lines += [f"Command: `{command}`: one Gather table of {data['weights_bytes'] / 1e9:.1f} GB float32 in an "
              "external-data file, built for js in a child process whose anonymous resident memory (heap and other "
              "private pages; pages of memory-mapped files excluded) is sampled every 50 ms.", "",
              "| model + external data | weights.bin | build | peak anonymous memory | weights.bin matches the table |",
              "|---:|---:|---:|---:|---|",
              f"| {data['model_bytes'] / 1e9:.2f} GB | {data['weights_bytes'] / 1e9:.2f} GB | {data['build_seconds']} s | "
              f"{data['peak_anon_bytes'] / 1e6:.0f} MB | {'yes' if data['weights_ok'] else 'NO'} |", "",
              f"Loading it in Node: {data['load']} (streamed weights and shards are issue 11's).", ""]
    return lines


def run_lifetime(tmp: Path) -> tuple[Optional[dict], str, str]:
    if not LIFETIME.exists() or not shutil.which("node"):
        return None, "not run (bench/reliability.mjs or node missing)", ""
    out = tmp / "lifetime.json"
    cmd = ["node", str(LIFETIME.relative_to(ROOT)), "--json", str(out)]
    data, why = _run(cmd, out, timeout=6 * 3600)
    return data, why, " ".join(cmd[:-1]) + " out.json"


def _fuzz_section(title: str, data: Optional[dict], why: str, command: str, what: str) -> list[str]:
    lines = [f"## {title}", ""]
    if data is None:
        lines += [f"Not run: {why or 'no result'}.", ""]
        return lines
    lines += [what, ""]
    cmd = re.sub(r"\s--save-failures\s+\S+", "", re.sub(r"--json\s+\S+", "--json out.json", data.get("command") or command))
    if cmd:
        lines += [f"Command: `{cmd}`" + (f" (seed {data['seed']})" if "seed" in data else ""), ""]
    if data.get("date"):
        lines += [f"Run: {data['date']}", ""]
    if data.get("seconds") is not None:
        lines += [f"Wall time: {data['seconds']} s" + (f", {data['timeout_s']:.0f} s per-case timeout"
                                                        if data.get("timeout_s") else ""), ""]
    lines += ["| cases | ok | rejected | crashes | hangs | half-written |", "|---:|---:|---:|---:|---:|---:|",
              f"| {data.get('cases', 0):,} | {data.get('ok', 0):,} | {data.get('rejected', 0):,} | "
              f"{data.get('crashes', 0)} | {data.get('hangs', 0)} | {data.get('half_written', 'n/a')} |", ""]
    by = data.get("by_mutation") or {}
    if by:
        lines += ["Per mutation:", "", "| mutation | cases | ok | rejected | crashes | hangs |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, d in sorted(by.items()):
            lines.append(f"| {name} | {d.get('cases', 0):,} | {d.get('ok', 0):,} | {d.get('rejected', 0):,} | "
                         f"{d.get('crashes', 0)} | {d.get('hangs', 0)} |")
        lines.append("")
    if data.get("by_backend"):
        lines += ["Per backend: " + ", ".join(f"{b} {d['cases']:,} cases ({d['ok']:,} built)"
                                              for b, d in sorted(data["by_backend"].items())) + ".", ""]
    if data.get("rejected_by"):
        lines += ["Refusals by error type: " + ", ".join(f"`{k}` {v:,}" for k, v in data["rejected_by"].items())
                  + ".", ""]
    kinds = data.get("failure_kinds") or {}
    if kinds:
        lines += ["Failures:", ""] + [f"- {v} × {k}" for k, v in kinds.items()] + [""]
    return lines


def _mb(n: Optional[float]) -> str:
    return "–" if n is None else f"{n / 1e6:.2f} MB"


def _backend_table(header: str, align: str, entries: dict, names, key: str, cells) -> list[str]:
    """A markdown table with one row per backend: ``cells(name, entry)`` when the entry has ``key``,
    else the entry's skip or error reason padded to the width of the header."""
    width = header.count("|") - 1
    lines = [header, align]
    for name in names:
        e = entries.get(name, {})
        if key in e:
            lines.append("| " + " | ".join(cells(name, e)) + " |")
        else:
            lines.append(f"| {name} | {e.get('skipped') or e.get('error') or 'not run'} |" + " |" * (width - 2))
    return lines


def _lifetime_section(data: Optional[dict], why: str, command: str, heap: tuple) -> list[str]:
    lines = ["## Load, concurrency and lifetime", ""]
    if data is None:
        return lines + [f"Not run: {why or 'no result'}.", ""]
    if command:
        lines += [f"Command: `{command}`" + (f", run {data['date']}" if data.get("date") else ""), ""]
    settings = data.get("settings", {})
    lines += [f"Model: the lifetime fixture (MatMul 4×16·16×8 + Add + Relu), outputs checked against "
              f"{data.get('reference', 'a reference')} on every run. Memory after `global.gc()`.", ""]
    runs = data.get("backends", {})
    order = [b for b in ("js", "wasm", "webgpu") if b in runs]

    def run_cells(b: str, r: dict) -> list[str]:
        threads = f" ({r['threads']} threads)" if (r.get("threads") or 1) > 1 else ""
        return [f"{b}{threads}", f"{r['runs']:,}", str(r["wrong"]), f"{r['ms_per_run']:.3f}",
                f"{_mb(r['heap_start'])} → {_mb(r['heap_end'])}",
                f"{r['wasm_start']:,} → {r['wasm_end']:,} B" if b == "wasm" else "–",
                f"{r['gpu_buffers_start']} → {r['gpu_buffers_end']}" if b == "webgpu" else "–"]

    lines += [f"**{settings.get('runs', '?'):,} consecutive runs on one runner**" if isinstance(settings.get("runs"), int)
              else "**Consecutive runs on one runner**", ""]
    lines += _backend_table(
        "| backend | runs | wrong | ms/run | JS heap start → end | wasm memory start → end | live GPU buffers start → end |",
        "|---|---:|---:|---:|---|---|---|", runs, order, "runs", run_cells)
    adapters = {r.get("adapter") for r in runs.values() if r.get("adapter")}
    if adapters:
        lines += ["", "WebGPU adapter: " + ", ".join(sorted(adapters)) + "."]

    lines += ["", f"**{settings.get('cycles', '?')} load → run → dispose cycles in one process**", ""]
    lines += _backend_table(
        "| backend | completed | wrong | ms/cycle | JS heap growth | RSS growth | GPU buffers live start → end (created) "
        "| GPU devices live start → end |", "|---|---:|---:|---:|---:|---:|---|---|",
        data.get("cycles", {}), order, "cycles",
        lambda b, c: [b, str(c["completed"]), str(c["wrong"]), f"{c['ms_per_cycle']:.1f}", f"{c['heap_growth'] / 1e3:+.0f} kB",
                      f"{(c['rss_end'] - c['rss_start']) / 1e6:+.1f} MB",
                      f"{c['gpu_buffers_start']} → {c['gpu_buffers_end']} ({c['gpu_buffers_created']})",
                      f"{c['gpu_devices_start']} → {c['gpu_devices_end']}"])

    hd, hwhy, hcmd = heap
    lines += [""]
    if hd is None:
        lines += [f"What the heap growth is: not measured ({hwhy or 'no result'}).", ""]
    else:
        lines += [f"What the JS heap growth is (`{hcmd}`: V8 heap snapshots after {hd['warmup']} warm-up cycles and "
                  f"after {hd['cycles']} more, compared by node type and name): compiled code — V8's JIT output, "
                  "deopt data and its weak code lists — grows as functions get optimised; everything else is "
                  "what the runtime could retain.", ""]
        lines += _backend_table(
            "| backend | compiled code growth | all other growth | per cycle |", "|---|---:|---:|---:|",
            hd.get("backends", {}), list(hd.get("backends", {})), "code_bytes",
            lambda b, r: [b, f"{r['code_bytes'] / 1e3:+.1f} kB", f"{r['other_bytes']:+,} B", f"{r['other_per_cycle']:+.1f} B"])
        lines += [""]

    def concurrency_cells(b: str, c: dict) -> list[str]:
        d = c.get("dispose_queued", {})
        return [b, str(c["calls"]), str(c["correct"]), f"{c['ms']:.1f}", str(d.get("queued")), str(d.get("rejected")),
                "yes" if d.get("in_flight_ok") else "no", "yes" if d.get("run_after_dispose_rejected") else "no"]

    lines += [f"**{settings.get('concurrency', '?')} concurrent run() calls, and dispose() with runs queued**", ""]
    lines += _backend_table(
        "| backend | calls | correct | ms for all | queued at dispose | rejected cleanly | executing run correct "
        "| run() after dispose rejected |", "|---|---:|---:|---:|---:|---:|---|---|",
        data.get("concurrency", {}), order, "calls", concurrency_cells)
    lines += ["", "<details><summary>raw JSON</summary>", "", "```json", json.dumps(data, indent=1)[:20000], "```", "",
              "</details>", ""]
    return lines


METHOD = """## Method

**Python (compiler).** `tools/fuzz.py` starts from eight small valid models (relu, an MLP, conv/BN/pool,
a Shape→Gather→Concat→Reshape chain, If and Loop with subgraphs, a constant-folding chain of
ConstantOfShape/Range/Expand/Tile/Resize/Pad, a model with external weights) and mutates them:

- *byte level*: flipped bytes, truncation, deleted/duplicated/inserted slices, random bytes after a valid header;
- *protobuf level*: dims (0, negative, 2^31, 2^40, 2^63-1, dropped, symbolic), element types, attributes
  (type, value, removed, duplicated, unknown; values kept type-correct so they pass onnx's checker), op types
  (any op, and same-arity swaps that shape inference accepts), input/output arity, dangling names, duplicated
  nodes/initializers/inputs/outputs, cycles, broken subgraphs (no outputs, no inputs, outer references,
  GRAPH↔GRAPHS), bad external-data references (missing file, `..`, absolute path, offset/length past the
  end, non-numeric offset, symlink out of the folder), opset and IR versions, initializer data that does not
  match its dims, values of small constants (shapes, axes, pads, scales, repeats, trip counts), hostile
  names; and 2–4 of these at once.

Each case is built by `webdnn_build.compiler.compile_model` in a forked child process (4 GiB address-space
limit, killed after 10 s) into a folder that, for one case in five, already holds a valid bundle. A case is
**ok** when it builds and the bundle is complete (manifest parses, every listed file is there, `weights.bin`
has the announced length, programs parse, `model.wasm` is a module); **rejected** when a
`webdnn_build.errors.WebDNNError` is raised and the folder is gone (or still holds the previous bundle,
intact) with no temporary folders left; a **crash** is any other exception, a signal or the memory limit;
a **hang** is a child still running after 10 s; **half-written** is an output folder that is neither absent
nor a complete bundle. Most cases build with the js backend; every 8th builds with wasm (which compiles C
with zig, cached by content hash).

**JS (runtime).** `js-runtime/test/fuzz/fuzz-bundles.mjs` builds two small bundles (an MLP and the tiny
CNN, for js, wasm and webgpu) and mutates one file per case in memory: manifest.json (truncated, bit flips,
deleted keys, changed types, NaN/negative/huge numbers, value indices, paths leaving the bundle, a wrong
weights length, or handed over as an object so NaN and undefined survive), the backend's plan or program
(the same edits plus constant descriptors and paths), weights.bin (truncated, extended, bit flips) and
model.wasm (truncated, bit flips). Files listed in the manifest's `integrity` table keep their stale digest
(corruption, which load() must refuse); half of the plan edits re-hash (`+rehashed`), as a buggy compiler
would, so the structural checks are reached too. Each case loads through the file map (one in eight through
a folder) in a child process, runs once with a valid input, and is **ok** (loaded and ran), **rejected** (an
Error with our message and no engine error or wasm trap in its cause chain), a **crash** (anything else,
including a dead child process) or a **hang** (over 10 s).

*Why hypothesis, not atheris*: the mutations are structural (which node, which attribute, which dim), and
hypothesis draws each choice from a seeded stream, so a run is reproducible from `--seed` on any machine and a
failing case can be replayed and shrunk; it is pure Python, pinned in requirements-dev.txt, and runs under
pytest in CI (tests/test_fuzz.py, 300 cases). atheris is coverage-guided and finds byte-level parser bugs
faster, but it needs a libFuzzer-instrumented CPython build to guide through C extensions (onnx, protobuf),
has no wheels for every Python we support, and its corpus-driven runs are not reproducible from a seed — the
parsers it would exercise best are onnx's and protobuf's, not ours.

**Limits** (item 3): a tensor may declare at most 4 GiB (`webdnn_build/limits.py`, what wasm32 memory can
address); graph inputs, value_info, outputs, initializer and attribute dims are checked before onnx's checker
or numpy sees them, and constant folding predicts a node's result size before it evaluates it. The wasm
arena plus the weights wasm ops read must fit 4 GiB. Large external initializers are memory-mapped, and
`weights.bin` is streamed from those maps, so a model over protobuf's 2 GB limit builds without holding its
weights in memory; what still must fit in memory is the graph file itself (under 2 GB by protobuf's limit),
constants created by folding and passes (16 MiB each unless uniform), and each backend's generated code.
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--python-cases", type=int, default=10000)
    p.add_argument("--js-cases", type=int, default=10000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--from", dest="from_", action="append", default=[], metavar="KIND=FILE",
                   help="use a JSON result instead of running (KIND: python, js, webgpu, lifetime, heap, large)")
    p.add_argument("--skip", action="append", default=[],
                   help="do not run this part (python, js, webgpu, lifetime, heap, large)")
    p.add_argument("--webgpu-cases", type=int, default=2000)
    p.add_argument("--out", default=str(DOC))
    args = p.parse_args(argv)
    given = {}
    for spec in args.from_:
        kind, _, file = spec.partition("=")
        given[kind] = Path(file)
    results: dict[str, tuple[Optional[dict], str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="webdnn-reliability-") as tmp_s:
        tmp = Path(tmp_s)
        for kind, runner in (("python", lambda: run_python(args.python_cases, args.seed, tmp, args.jobs)),
                             ("js", lambda: run_js(args.js_cases, args.seed, tmp)),
                             ("webgpu", lambda: run_webgpu_fuzz(args.webgpu_cases, args.seed, tmp)),
                             ("lifetime", lambda: run_lifetime(tmp)),
                             ("heap", lambda: run_heap_diff(tmp)),
                             ("large", lambda: run_large(tmp))):
            if kind in given:
                try:
                    data = json.loads(given[kind].read_text())
                    results[kind] = (data, "", data.get("command", "") if isinstance(data, dict) else "")
                except (OSError, ValueError) as exc:
                    results[kind] = (None, f"could not read {given[kind]}: {exc}", "")
            elif kind in args.skip:
                results[kind] = (None, "skipped (--skip)", "")
            else:
                results[kind] = runner()
    today = dt.date.today().isoformat()
    py = results["python"][0]
    lines = ["# Reliability", "",
             "<!-- generated by tools/reliability_report.py; do not edit by hand -->", "",
             f"Generated {today} on {machine()}.", "",
             "Regenerate: `eval \"$(tools/setup-webgpu.sh)\"; python tools/reliability_report.py` (or `--from "
             "KIND=FILE` with results of the individual scripts; kinds: python, js, webgpu, lifetime, heap, large).", ""]
    summary = []
    for label, kind in (("Python fuzz (compiler)", "python"), ("JS fuzz (runtime, corrupted bundles; js, wasm)", "js"),
                        ("JS fuzz (runtime, corrupted bundles; webgpu)", "webgpu")):
        d = results[kind][0]
        if d is None:
            summary.append(f"| {label} | not run | | | |")
        else:
            summary.append(f"| {label} | {d.get('cases', 0):,} | {d.get('crashes', 0)} | {d.get('hangs', 0)} | "
                           f"{d.get('half_written', 'n/a')} |")
    lines += ["| fuzz | cases | crashes | hangs | half-written |", "|---|---:|---:|---:|---:|", *summary, ""]
    lines += _fuzz_section("Python: mutated models through the compiler", py, results["python"][1],
                           results["python"][2],
                           "Only `WebDNNError` (and subclasses) may escape `compile_model`; no other exception, "
                           "no hang over 10 s, no half-written bundle.")
    lines += _fuzz_section("JS: corrupted bundles through load() and run()", results["js"][0], results["js"][1],
                           results["js"][2],
                           "`load()`/`run()` must reject with an Error: never a wasm trap, an out-of-bounds read, "
                           "a hang or a crashed process.")
    lines += _fuzz_section("JS on webgpu: corrupted bundles through load() and run()", results["webgpu"][0],
                           results["webgpu"][1], results["webgpu"][2],
                           "The same harness and rules on the webgpu backend (Dawn in Node on a software Vulkan driver).")
    lines += _lifetime_section(*results["lifetime"], results["heap"])
    lines += _large_section(*results["large"])
    lines += [METHOD]
    Path(args.out).write_text("\n".join(lines).rstrip() + "\n")
    print(f"wrote {args.out}")
    bad = sum((r[0] or {}).get(k, 0) or 0 for r in (results["python"], results["js"], results["webgpu"])
              for k in ("crashes", "hangs")) + ((py or {}).get("half_written") or 0)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""What the side benchmarks (bench/decoder_bench.py, bench/dynamic_bench.py) share: alternating Node processes
per side, medians and spreads, and their own section of docs/performance.md (bench/bench.py keeps the sections
between ``<!-- section: NAME -->`` and ``<!-- end of section -->`` when it rewrites the rest)."""
from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from typing import Callable

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
DOC = os.path.join(ROOT, "docs", "performance.md")
END = "<!-- end of section -->"


def model_suite():
    """tools/model_suite.py as a module (registered in sys.modules before it runs: its dataclasses look their
    module up), loaded once."""
    if "model_suite" not in sys.modules:
        import importlib.util
        spec = importlib.util.spec_from_file_location("model_suite", os.path.join(ROOT, "tools", "model_suite.py"))
        sys.modules["model_suite"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["model_suite"])
    return sys.modules["model_suite"]


def node_json(cmd: list[str], what: str, timeout: int = 900) -> dict:
    """Run a Node side in its own process; its last stdout line is JSON."""
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def alternate(sides: list[str], rounds: int, measure: Callable[[str], tuple[float, dict]], label: str) -> dict:
    """``rounds`` processes per side, the order alternating between rounds; ``measure(side)`` gives one process's
    figure and its result. Returns side -> {"median", "range": (lo, hi), "results": [...]}."""
    per: dict[str, list] = {s: [] for s in sides}
    results: dict[str, list] = {s: [] for s in sides}
    for r in range(rounds):
        for side in (sides if r % 2 == 0 else sides[::-1]):
            value, res = measure(side)
            per[side].append(value)
            results[side].append(res)
            print(f"{label} round {r + 1} {side}: {value:.3f}", file=sys.stderr)
    return {s: {"median": statistics.median(v), "range": (min(v), max(v)), "results": results[s]} for s, v in per.items()}


def write_section(doc: str, name: str, lines: list[str]) -> None:
    """Replace (or append) the section ``name`` of ``doc`` with ``lines``."""
    start = f"<!-- section: {name} -->"
    section = "\n".join([start, "", *lines, "", END, ""])
    old = open(doc).read() if os.path.exists(doc) else ""
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(END) + r"\n", re.S)
    new = pattern.sub(lambda m: section, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + section
    with open(doc, "w") as f:
        f.write(new)
    print(f"wrote {os.path.relpath(doc, ROOT)}", file=sys.stderr)

"""``webdnn-build verify``: build, run in Node, compare every output with onnxruntime.

An output passes when ``max|ours - ort| <= atol + rtol * max|ort|``: the error is
judged relative to the output's scale, so that elements near zero (where a
per-element relative error is meaningless) do not fail a correct model. The
per-element maximum relative error is printed too.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .compiler import BuildOptions, Log, compile_model, stderr_log
from .errors import VerifyError, WebDNNError
from .node import NodeWorker

_RANDOM_DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16}


@dataclass
class OutputReport:
    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    scale: float
    ok: bool


def random_inputs(manifest: dict, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for inp in manifest["inputs"]:
        shape, dtype = inp["shape"], inp["dtype"]
        if dtype in _RANDOM_DTYPES:
            feeds[inp["name"]] = rng.standard_normal(shape).astype(_RANDOM_DTYPES[dtype])
        elif dtype == "bool":
            feeds[inp["name"]] = rng.integers(0, 2, shape).astype(bool)
        elif dtype.startswith(("int", "uint")):
            feeds[inp["name"]] = rng.integers(0, 10, shape).astype(dtype)
        else:
            raise VerifyError(f"input '{inp['name']}': cannot make random data of dtype {dtype}; pass --input NAME=file.npy")
    return feeds


def run_onnxruntime(model: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise WebDNNError("verify needs onnxruntime as the reference: pip install onnxruntime") from exc
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def compare(name: str, ours: np.ndarray, ref: np.ndarray, rtol: float, atol: float) -> OutputReport:
    if ours.shape != ref.shape:
        raise VerifyError(f"output '{name}': shape {list(ours.shape)} differs from onnxruntime's {list(ref.shape)}")
    if ref.dtype.kind in "OUSb" or ref.dtype.kind in "iu":
        equal = bool(np.array_equal(ours, ref))
        return OutputReport(name, ref.shape, 0.0 if equal else float("inf"), 0.0 if equal else float("inf"), 0.0, equal)
    a, b = ours.astype(np.float64), ref.astype(np.float64)
    diff = np.abs(a - b)
    diff = np.where(np.isnan(a) & np.isnan(b), 0.0, diff)
    max_abs = float(np.nanmax(diff)) if diff.size else 0.0
    if np.isnan(diff).any():
        max_abs = float("inf")
    scale = float(np.max(np.abs(b[np.isfinite(b)]))) if np.isfinite(b).any() else 0.0
    rel = diff / np.maximum(np.abs(b), 1e-30)
    max_rel = float(np.max(rel)) if rel.size else 0.0
    return OutputReport(name, ref.shape, max_abs, max_rel, scale, max_abs <= atol + rtol * scale)


def verify_model(
    model: Path,
    backend: str = "js",
    options: Optional[BuildOptions] = None,
    inputs: Optional[dict[str, np.ndarray]] = None,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    seed: int = 0,
    log: Log = stderr_log,
    threads: Optional[int] = None,
) -> list[OutputReport]:
    options = options or BuildOptions()
    options.backends = [backend]
    with tempfile.TemporaryDirectory(prefix="webdnn-verify-") as tmp:
        result = compile_model(model, Path(tmp) / "bundle", options, log)
        feeds = random_inputs(result.manifest, seed)
        feeds.update(inputs or {})
        with NodeWorker() as worker:
            loaded = worker.load(result.out_dir, [backend], threads)
            if loaded["backend"] != backend:
                raise VerifyError(f"bundle loaded on '{loaded['backend']}' instead of '{backend}': {loaded['fallbackLog']}")
            dtypes = {i["name"]: i["dtype"] for i in result.manifest["inputs"]}
            outputs, ms = worker.run(loaded["handle"], feeds, dtypes)
        used = loaded.get("threads") if loaded.get("threadInfo") else None  # only backends that use threads
        log(f"ran on {backend}{f' with {used} thread(s)' if used else ''} in {ms:.1f} ms")
    reference = run_onnxruntime(model, feeds)
    reports = []
    for name, ours in outputs:
        if name not in reference:
            raise VerifyError(f"output '{name}' is not an output of the onnxruntime session")
        reports.append(compare(name, ours, reference[name], rtol, atol))
    return reports

"""Running bundles in Node from Python (verify, conformance tests).

Node is taken from ``WEBDNN_NODE`` or PATH; where it is missing, nodeenv
provides one (reusing a system Node where it can, see docs). One
:class:`NodeWorker` is a persistent process speaking JSON lines with
``js-runtime/bin/node-worker.mjs``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .errors import WebDNNError
from .ir import element_dtype, value_kind

_ROOT = Path(__file__).resolve().parent.parent

_NP_DTYPES = {
    "float32": np.float32, "float64": np.float64, "float16": np.float16, "bfloat16": np.uint16,
    "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16, "int32": np.int32,
    "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64, "bool": np.bool_,
}


def find_runtime() -> Path:
    """The webdnn-runtime package folder: $WEBDNN_RUNTIME_DIR, the repository checkout, or ./node_modules."""
    candidates = []
    if os.environ.get("WEBDNN_RUNTIME_DIR"):
        candidates.append(Path(os.environ["WEBDNN_RUNTIME_DIR"]))
    candidates += [_ROOT / "js-runtime", Path.cwd() / "node_modules" / "webdnn-runtime"]
    for c in candidates:
        if (c / "bin" / "node-worker.mjs").is_file():
            return c
    raise WebDNNError("cannot find the webdnn-runtime npm package (set WEBDNN_RUNTIME_DIR or npm install webdnn-runtime)")


def find_node() -> str:
    """A Node executable: $WEBDNN_NODE, PATH, or one made with nodeenv in ~/.cache/webdnn-build/nodeenv."""
    explicit = os.environ.get("WEBDNN_NODE")
    if explicit:
        return explicit
    found = shutil.which("node")
    if found:
        return found
    env_dir = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "webdnn-build" / "nodeenv"
    node = env_dir / "bin" / "node"
    if not node.exists():
        print(f"webdnn-build: Node not found on PATH; installing one with nodeenv into {env_dir}", file=sys.stderr)
        proc = subprocess.run([sys.executable, "-m", "nodeenv", "--prebuilt", str(env_dir)], capture_output=True, text=True)
        if proc.returncode != 0 or not node.exists():
            raise WebDNNError("Node.js is required to run bundles: install Node 18+ or make nodeenv able to "
                              f"download one (nodeenv said: {proc.stderr.strip()[-300:]})")
    return str(node)


def encode_tensor(a: np.ndarray, dtype: Optional[str] = None) -> dict[str, Any]:
    a = np.asarray(a)
    if a.dtype.kind in "OUS":
        return {"dtype": "string", "shape": list(a.shape),
                "json": [x.decode() if isinstance(x, bytes) else str(x) for x in a.ravel().tolist()]}
    name = dtype or ("bool" if a.dtype == np.bool_ else a.dtype.name)
    if name == "bfloat16":
        a = a.view(np.uint16)
    return {"dtype": name, "shape": list(a.shape), "b64": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()}


def decode_tensor(e: dict[str, Any]) -> np.ndarray:
    if e["dtype"] == "string":
        return np.array(e["json"], dtype=object).reshape(e["shape"])
    raw = base64.b64decode(e["b64"])
    array = np.frombuffer(raw, dtype=_NP_DTYPES[e["dtype"]]).reshape(e["shape"]).copy()
    if e["dtype"] == "bfloat16":
        try:
            import ml_dtypes  # installed with onnx; without it bfloat16 stays as uint16 bit patterns
        except ImportError:
            return array
        return array.view(ml_dtypes.bfloat16)
    return array


def encode_value(v: Any, dtype: Optional[str] = None) -> dict[str, Any]:
    """A run input on the wire: a tensor, ``{"sequence": [...]}`` for a list, ``{"optional": ...}`` for optionals.

    ``dtype`` is the manifest's type (``"sequence<float32>"``, ``"optional<...>"``, a tensor dtype or None).
    """
    kind = value_kind(dtype)
    if kind == "optional":
        inner = element_dtype(dtype)  # type: ignore[arg-type]
        return {"optional": None if v is None else encode_value(v, inner)}
    if kind == "sequence" or (dtype is None and isinstance(v, (list, tuple))):
        inner = element_dtype(dtype) if kind == "sequence" else None  # type: ignore[arg-type]
        return {"sequence": [encode_tensor(x, inner) for x in v]}
    return encode_tensor(v, dtype)


def decode_value(e: Optional[dict[str, Any]]) -> Any:
    """A run output from the wire: an array, a list of arrays (sequence) or None (empty optional)."""
    if "sequence" in e:  # type: ignore[operator]
        return [decode_value(x) for x in e["sequence"]]  # type: ignore[index]
    if "optional" in e:  # type: ignore[operator]
        return None if e["optional"] is None else decode_value(e["optional"])  # type: ignore[index]
    return decode_tensor(e)  # type: ignore[arg-type]


class NodeWorker:
    """A persistent Node process that loads bundles and runs them."""

    def __init__(self, node: Optional[str] = None, extra_args: tuple[str, ...] = ()) -> None:
        script = find_runtime() / "bin" / "node-worker.mjs"
        self.proc = subprocess.Popen(
            [node or find_node(), *extra_args, str(script)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, text=True, bufsize=1,
        )
        self._next = 0

    def request(self, msg: dict[str, Any]) -> dict[str, Any]:
        if self.proc.poll() is not None:
            raise WebDNNError(f"node worker exited with code {self.proc.returncode}")
        self._next += 1
        msg = {"id": self._next, **msg}
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(timeout=5)
            raise WebDNNError(f"node worker died (exit code {code}) while handling {msg['cmd']}")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise WebDNNError(reply.get("error", "unknown error from node worker"))
        return reply

    def load(self, bundle: Path, backends: list[str], threads: Optional[int] = None) -> dict[str, Any]:
        msg: dict[str, Any] = {"cmd": "load", "bundle": str(Path(bundle).resolve()), "backends": backends}
        if threads is not None:
            msg["options"] = {"threads": threads}
        return self.request(msg)

    def run(self, handle: int, inputs: dict[str, Any], dtypes: Optional[dict[str, str]] = None) -> tuple[list[tuple[str, Any]], float]:
        """Run a loaded bundle. Inputs are arrays, lists of arrays (sequences) or None (empty optionals),
        typed by ``dtypes`` (the manifest's); outputs come back the same way."""
        enc = {k: encode_value(v, (dtypes or {}).get(k)) for k, v in inputs.items()}
        reply = self.request({"cmd": "run", "handle": handle, "inputs": enc})
        return [(o["name"], decode_value(o)) for o in reply["outputs"]], float(reply.get("ms", 0.0))

    def dispose(self, handle: int) -> None:
        self.request({"cmd": "dispose", "handle": handle})

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin
                self.proc.stdin.write(json.dumps({"cmd": "exit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()

    def __enter__(self) -> "NodeWorker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

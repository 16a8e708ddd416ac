"""A reference executor of webgpu/plan.json in Python, on wgpu-py (wgpu-native: naga + Vulkan, e.g. lavapipe).

It exists to test the codegen without the JS runtime: it follows docs/webgpu-backend.md
literally (buffers, weight upload, bindings at offsets, override constants, dispatch sizes,
the download/upload lists of CPU steps), so a plan it runs correctly is a plan the JS runtime can
run. CPU steps run on onnx's reference evaluator (not the js kernels). Needs wgpu-py (``wgpu``,
pinned in requirements-dev.txt) and a Vulkan adapter (lavapipe: ``eval "$(tools/setup-webgpu.sh)"``);
without them the tests skip, and fail under CI=true.
"""

from __future__ import annotations

import json
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import numpy as np

from webdnn_build.weights import read_weights

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

_NP = {"float32": np.float32, "float64": np.float64, "int8": np.int8, "uint8": np.uint8, "int16": np.int16,
       "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64,
       "bool": np.bool_, "float16": np.float16}


_why_not: list[str] = []


@lru_cache(maxsize=1)
def device():
    """The wgpu device (None when wgpu or an adapter is missing: unavailable_reason() says which)."""
    try:
        import wgpu
    except ImportError as e:
        _why_not.append(f"cannot import wgpu: {e}")
        return None
    try:
        adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    except Exception as e:  # noqa: BLE001 - no adapter
        _why_not.append(f"no adapter: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
        return None
    if adapter is None:
        _why_not.append("no adapter")
        return None
    features = ["shader-f16"] if "shader-f16" in adapter.features else []
    return adapter.request_device_sync(required_features=features)


def unavailable_reason() -> str:
    """Why device() is None ("" when it is not)."""
    device()
    return _why_not[0] if _why_not else ""


def decode_const(desc: dict[str, Any], blob: bytes) -> np.ndarray:
    dtype, shape = desc["dtype"], desc["shape"]
    if desc["encoding"] == "raw":
        disk = {"float16": "<f2", "bool": "u1"}.get(dtype, np.dtype(_NP[dtype]).newbyteorder("<"))
        arr = np.frombuffer(blob, dtype=disk, count=math.prod(shape), offset=desc["offset"])
        return arr.astype(_NP[dtype]).reshape(shape)
    if desc["encoding"] == "fill":
        v = desc["value"]
        v = float(v) if isinstance(v, str) and dtype.startswith("float") else (int(v) if isinstance(v, str) else v)
        return np.full(shape, v, dtype=_NP[dtype])
    return np.array(desc["value"], dtype=object).reshape(shape)


class PlanRunner:
    def __init__(self, bundle: Path, max_workgroups_per_dim: int = 65535,
                 wg_overrides: Optional[dict[str, int]] = None) -> None:
        import wgpu
        self.wgpu = wgpu
        self.dev = device()
        if self.dev is None:
            raise RuntimeError("no wgpu device")
        bundle = Path(bundle)
        self.manifest = json.loads((bundle / "manifest.json").read_text())
        self.plan = json.loads((bundle / self.manifest["backends"]["webgpu"]["plan"]).read_text())
        self.blob = read_weights(bundle)
        self.max_dim = max_workgroups_per_dim
        self.wg_overrides = wg_overrides or {}
        self.f16 = self.plan["precision"] == "f16"
        usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
        self.buffers = [self.dev.create_buffer(size=max(b["byteLength"], 256), usage=usage) for b in self.plan["buffers"]]
        self.values = self.plan["values"]
        for v in self.values:
            if "const" in v and "gpu" in v:
                self._write(v, decode_const(v["const"], self.blob))
        self.modules = [self.dev.create_shader_module(code=src) for src in self.plan["shaders"]]
        self.pipelines: dict[tuple, Any] = {}

    # ---- transfers
    def _gpu_np(self, v: dict):
        """The element type of a value in its GPU buffer (like the runtime's gpuType)."""
        d = v["dtype"]
        if d == "float32":
            return np.float16 if self.f16 else np.float32
        return np.int32 if d.startswith("int") else np.uint32

    def _storage(self, v: dict, arr: np.ndarray) -> bytes:
        a = np.asarray(arr)
        st = self._gpu_np(v)
        if st is np.int32 and a.size and (a.min() < -2**31 or a.max() >= 2**31):
            raise ValueError(f"value '{v['name']}' does not fit in i32")
        return a.astype(st).tobytes()

    def _write(self, v: dict, arr: np.ndarray) -> None:
        data = self._storage(v, arr)
        gpu = v["gpu"]
        if "parts" in gpu:
            pos = 0
            for p in gpu["parts"]:
                chunk = data[pos:pos + p["byteLength"]]
                pos += len(chunk)
                self.dev.queue.write_buffer(self.buffers[p["buffer"]], p["offset"], chunk + b"\0" * (-len(chunk) % 4))
        else:
            self.dev.queue.write_buffer(self.buffers[gpu["buffer"]], gpu["offset"], data + b"\0" * (-len(data) % 4))

    def _read(self, v: dict) -> np.ndarray:
        gpu = v["gpu"]
        n = math.prod(v["shape"])
        st = self._gpu_np(v)
        nbytes = n * np.dtype(st).itemsize
        raw = self.dev.queue.read_buffer(self.buffers[gpu["buffer"]], gpu["offset"], _align4(max(nbytes, 4)))
        return np.frombuffer(raw, st, count=n).astype(_NP[v["dtype"]]).reshape(v["shape"])

    # ---- dispatch
    def _pipeline(self, shader: int, overrides: dict[str, int]):
        key = (shader, tuple(sorted(overrides.items())))
        if key not in self.pipelines:
            self.pipelines[key] = self.dev.create_compute_pipeline(
                layout="auto", compute={"module": self.modules[shader], "entry_point": "main", "constants": overrides})
        return self.pipelines[key]

    def _dispatch(self, pass_, step: dict) -> None:
        overrides = dict(step["workgroup"]["override"])
        for k in overrides:
            if k in self.wg_overrides:
                overrides[k] = self.wg_overrides[k]
        pipe = self._pipeline(step["shader"], overrides)
        entries = []
        for i, b in enumerate(step["bindings"]):
            gpu = self.values[b["value"]]["gpu"]
            if "part" in b:
                gpu = gpu["parts"][b["part"]]
            entries.append({"binding": i, "resource": {"buffer": self.buffers[gpu["buffer"]], "offset": gpu["offset"],
                                                        "size": gpu["byteLength"]}})
        bg = self.dev.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=entries)
        if "invocations" in step:
            wg = [overrides.get(k, 1) for k in ("WG_X", "WG_Y", "WG_Z")]
            counts = [-(-n // w) for n, w in zip(step["invocations"], wg)]
            if counts[0] > self.max_dim and step["invocations"][1:] == [1, 1]:  # fold (1-D kernels allow it)
                y = -(-counts[0] // self.max_dim)
                counts = [-(-counts[0] // y), y, 1]
        else:
            counts = step["workgroups"]
        pass_.set_pipeline(pipe)
        pass_.set_bind_group(0, bg)
        pass_.dispatch_workgroups(*counts)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cpu: dict[str, Any] = {}
        for vi in self.plan["inputs"]:
            v = self.values[vi]
            arr = np.asarray(feeds[v["name"]])
            cpu[v["name"]] = arr
            if "gpu" in v:
                self._write(v, arr)
        encoder = None
        for step in self.plan["steps"]:
            if "gpu" in step:
                if encoder is None:
                    encoder = self.dev.create_command_encoder()
                p = encoder.begin_compute_pass()
                self._dispatch(p, step["gpu"])
                p.end()
                continue
            if encoder is not None:
                self.dev.queue.submit([encoder.finish()])
                encoder = None
            s = step["cpu"]
            for vi in s["download"]:
                cpu[self.values[vi]["name"]] = self._read(self.values[vi])
            outs = run_cpu_op(s, self.values, cpu, self.blob, self.plan["opsets"])
            for vi, arr in zip(s["outputs"], outs):
                if vi >= 0:
                    cpu[self.values[vi]["name"]] = arr
            for vi in s["upload"]:
                self._write(self.values[vi], cpu[self.values[vi]["name"]])
        if encoder is not None:
            self.dev.queue.submit([encoder.finish()])
        result = {}
        for vi in self.plan["outputs"]:
            v = self.values[vi]
            result[v["name"]] = self._read(v) if "gpu" in v and v["name"] not in cpu else cpu[v["name"]]
        return result


def run_cpu_op(step: dict, values: list[dict], cpu: dict[str, Any], blob: bytes, opsets: dict[str, int]) -> list[Any]:
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    def attr(x: Any) -> Any:
        if isinstance(x, dict) and "encoding" in x:
            return numpy_helper.from_array(decode_const(x, blob))
        if isinstance(x, dict) and "$float" in x:
            return float(x["$float"].replace("Infinity", "inf"))
        if isinstance(x, dict):
            raise NotImplementedError("subgraph attributes")
        return x

    in_names = [values[i]["name"] if i >= 0 else "" for i in step["inputs"]]
    out_names = [values[i]["name"] if i >= 0 else "" for i in step["outputs"]]
    node = helper.make_node(step["op"], in_names, out_names, domain=step["domain"] or None,
                            **{k: attr(v) for k, v in step["attrs"].items() if not k.startswith("fused_activation")})
    feeds = {}
    for i, name in zip(step["inputs"], in_names):
        if i < 0:
            continue
        v = values[i]
        feeds[name] = cpu[name] if name in cpu else decode_const(v["const"], blob)
    ev = ReferenceEvaluator(node, opsets=dict(opsets))
    outs = ev.run(None, feeds)
    act = step["attrs"].get("fused_activation")
    if act:
        outs = [_activation(outs[0], step["attrs"])] + list(outs[1:])
    return outs


def _activation(x: np.ndarray, a: dict[str, Any]) -> np.ndarray:
    kind = a["fused_activation"]
    if kind == "Relu":
        return np.maximum(x, 0).astype(x.dtype)
    if kind == "LeakyRelu":
        return np.where(x >= 0, x, a["fused_activation_alpha"] * x).astype(x.dtype)
    if kind == "Clip":
        return np.clip(x, a["fused_activation_min"], a["fused_activation_max"]).astype(x.dtype)
    if kind == "Sigmoid":
        return (1 / (1 + np.exp(-x))).astype(x.dtype)
    if kind == "Tanh":
        return np.tanh(x)
    if kind == "HardSigmoid":
        return np.clip(a["fused_activation_alpha"] * x + a["fused_activation_beta"], 0, 1).astype(x.dtype)
    if kind == "HardSwish":
        return (x * np.clip(x / 6 + 0.5, 0, 1)).astype(x.dtype)
    if kind == "Swish":
        return (x / (1 + np.exp(-a["fused_activation_alpha"] * x))).astype(x.dtype)
    raise NotImplementedError(kind)


def _align4(n: int) -> int:
    return (n + 3) // 4 * 4

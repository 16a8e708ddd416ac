"""Code generation for the pure-JS backend.

Kernels live in the JS runtime (``webdnn-runtime``); this backend emits the
program the runtime interprets: the op list with attributes, the value table
and the arena plan (docs/bundle-format.md, "js/program.json").
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources
from typing import Any, Optional

import numpy as np

from webdnn_build.errors import UnsupportedOpsError
from webdnn_build.ir import Graph, Node
from webdnn_build.registry import BackendArtifact, CodegenContext

#: bytes per element in the js backend's storage (float16/bfloat16 are computed in Float32Array)
_STORAGE_BYTES = {
    "float32": 4, "float64": 8, "float16": 4, "bfloat16": 4, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2,
    "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "bool": 1,
}


@lru_cache(maxsize=1)
def _kernel_ops() -> frozenset[tuple[str, str]]:
    """The op types the runtime's js kernels implement (ops.json, kept in sync by tools/sync_js_ops.py)."""
    data = json.loads(resources.files("webdnn_build_js").joinpath("ops.json").read_text())
    return frozenset(("", op) for op in data["ops"])


class JsBackend:
    name = "js"
    plugin = ""

    def __init__(self) -> None:
        self._extra_ops: set[tuple[str, str]] = set()

    def add_custom_op(self, domain: str, op_type: str) -> None:
        """Declare an op a plugin provides a JS kernel for (registered in JS with registerKernel)."""
        self._extra_ops.add((domain, op_type))

    def supported_ops(self) -> set[tuple[str, str]]:
        return set(_kernel_ops()) | self._extra_ops

    def storage_bytes(self, dtype: str) -> Optional[int]:
        return _STORAGE_BYTES.get(dtype)

    def generate(self, graph: Graph, ctx: CodegenContext) -> BackendArtifact:
        plan = ctx.plan_memory(graph, self.storage_bytes)
        index: dict[str, int] = {}
        values: list[dict[str, Any]] = []

        def ref(name: str) -> int:
            if not name:
                return -1
            if name not in index:
                v = graph.values[name]
                entry: dict[str, Any] = {
                    "name": name,
                    "dtype": v.dtype,
                    "shape": None if v.shape is None else [d if isinstance(d, int) else None for d in v.shape],
                }
                if v.is_const:
                    entry["const"] = ctx.weights[name]
                slot = plan.slots.get(name)
                if slot is not None:
                    entry["arena"] = {"offset": slot.offset, "byteLength": slot.byte_length}
                index[name] = len(values)
                values.append(entry)
            return index[name]

        inputs = [ref(n) for n in graph.inputs]
        ops = []
        for node in graph.nodes:
            ops.append({
                "op": node.op_type,
                "domain": node.domain,
                "name": node.name,
                "inputs": [ref(i) for i in node.inputs],
                "outputs": [ref(o) for o in node.outputs],
                "attrs": {k: _encode_attr(v, node, k, ctx) for k, v in node.attrs.items()},
            })
        outputs = [ref(n) for n in graph.outputs]
        program = {
            "opsets": graph.opsets,
            "values": values,
            "inputs": inputs,
            "outputs": outputs,
            "arena": {"byteLength": plan.size, "unsharedByteLength": plan.unshared_size},
            "ops": ops,
        }
        data = json.dumps(program, separators=(",", ":"), allow_nan=False).encode()
        ctx.log(f"js: {len(ops)} ops, arena {plan.size / 1e6:.2f} MB (without reuse {plan.unshared_size / 1e6:.2f} MB)")
        return BackendArtifact(files={"program.json": data}, manifest={"program": "js/program.json"})


def _encode_attr(v: Any, node: Node, key: str, ctx: CodegenContext) -> Any:
    if isinstance(v, np.ndarray):
        from webdnn_build.ir import dtype_name
        dtype = "string" if v.dtype.kind in "OUS" else dtype_name(v.dtype)
        return ctx.packer.describe(v, dtype)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return {"$float": "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")}
        return v
    if isinstance(v, (list, tuple)):
        return [_encode_attr(x, node, key, ctx) for x in v]
    if isinstance(v, (int, str, bool)) or v is None:
        return v
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    raise UnsupportedOpsError(f"{node.describe()}: attribute '{key}' of type {type(v).__name__} "
                              f"(e.g. a subgraph) is not supported by the js backend")

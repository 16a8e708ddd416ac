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
from typing import Any, Callable, Optional

import numpy as np

from webdnn_build.escape import bundle_json
from webdnn_build.codegen import value_entry
from webdnn_build.errors import UnsupportedOpsError
from webdnn_build.ir import Graph, Node, Value
from webdnn_build.registry import BackendArtifact, BackendOption, CodegenContext
from webdnn_build.symshape import to_json

#: bytes per element in the js backend's storage (float16/bfloat16 are computed in Float32Array)
_STORAGE_BYTES = {
    "float32": 4, "float64": 8, "float16": 4, "bfloat16": 4, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2,
    "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "bool": 1,
}


@lru_cache(maxsize=1)
def _kernel_ops() -> frozenset[tuple[str, str]]:
    """The (domain, op type) pairs the runtime's js kernels implement (ops.json, kept in sync by
    tools/sync_js_ops.py): the default domain and onnxruntime's com.microsoft."""
    data = json.loads(resources.files("webdnn_build_js").joinpath("ops.json").read_text())
    default = {("", op) for op in data["ops"]}
    return frozenset(default | {(domain, op) for domain, ops in data.get("domains", {}).items() for op in ops})


class JsFallbackBackend:
    """Base of the backends whose ops without a native kernel run on the js kernels in the same
    bundle (wasm, webgpu): they support every op the js kernels do and store values like them."""

    plugin = ""

    def supported_ops(self) -> set[tuple[str, str]]:
        """The js kernels' ops, and the custom ops whose JS kernels plugins ship in the bundle
        (registry.add_js_kernel)."""
        registry = getattr(self, "registry", None)
        return set(_kernel_ops()) | (registry.js_kernel_ops() if registry is not None else set())

    def storage_bytes(self, dtype: str) -> Optional[int]:
        return _STORAGE_BYTES.get(dtype)


class JsBackend(JsFallbackBackend):
    name = "js"
    #: the js backend has no options
    options: tuple[BackendOption, ...] = ()

    def __init__(self) -> None:
        self._extra_ops: set[tuple[str, str]] = set()

    def add_custom_op(self, domain: str, op_type: str) -> None:
        """Declare an op a plugin provides a JS kernel for (registered in JS with registerKernel)."""
        self._extra_ops.add((domain, op_type))

    def supported_ops(self) -> set[tuple[str, str]]:
        return super().supported_ops() | self._extra_ops

    def generate(self, graph: Graph, ctx: CodegenContext) -> BackendArtifact:
        plan = ctx.plan_memory(graph, self.storage_bytes)
        program = {"opsets": graph.opsets, **_encode_program(graph, ctx, plan)}
        data = bundle_json(program)
        ctx.log(f"js: {len(program['ops'])} ops, arena {plan.size / 1e6:.2f} MB "
                f"(without reuse {plan.unshared_size / 1e6:.2f} MB)")
        return BackendArtifact(files={"program.json": data}, manifest={"program": "js/program.json"},
                               placement={"native": len(graph.nodes), "fallback": 0})


def _encode_program(graph: Graph, ctx: CodegenContext, plan: Optional[Any]) -> dict[str, Any]:
    """The value table, inputs, outputs and ops of ``graph``: the top level (``plan`` given) or a subgraph.

    A subgraph (``plan`` None) stores its own constants inline as descriptors, gets no arena
    slots, and lists in ``captures`` the indices of the values it reads from enclosing graphs.
    """
    index: dict[str, int] = {}
    values: list[dict[str, Any]] = []

    def ref(name: str) -> int:
        if not name:
            return -1
        if name not in index:
            v = graph.values.get(name) or Value(name)
            entry = value_entry(v)
            if v.is_const:
                entry["const"] = ctx.weights[name] if plan is not None else ctx.packer.describe(v.const, v.dtype or "float32", v)
            slot = plan.slots.get(name) if plan is not None else None
            if slot is not None:
                entry["arena"] = {"offset": slot.offset, "byteLength": slot.byte_length}
            elif plan is not None and graph.dims:
                entry.update(_symbolic_slot(v, graph))
            index[name] = len(values)
            values.append(entry)
        return index[name]

    inputs = [ref(n) for n in graph.inputs]
    if plan is not None and graph.dims:  # where the runtime reads each open dim's size: (value index, axis)
        dims: dict[str, list[int]] = {}
        for vi, name in zip(inputs, graph.inputs):
            for axis, d in enumerate(graph.values[name].shape or ()):
                if isinstance(d, str) and d in graph.dims:
                    dims.setdefault(d, [vi, axis])
        program_dims = {"dims": dims}
    ops = []
    for node in graph.nodes:
        op = encode_js_op(node, ref, ctx)
        ops.append(op)
    outputs = [ref(n) for n in graph.outputs]
    program: dict[str, Any] = {"values": values, "inputs": inputs, "outputs": outputs}
    if plan is not None and graph.dims:
        program.update(program_dims)
    if plan is not None:
        program["arena"] = {"byteLength": plan.size, "unsharedByteLength": plan.unshared_size}
    else:
        program["captures"] = [ref(n) for n in graph.outer_reads()]
    program["ops"] = ops
    return program


def _symbolic_slot(v: Value, graph: Graph) -> dict[str, Any]:
    """For an intermediate whose shape is known in terms of the open dims: its shape as dim expressions
    (webdnn_build.symshape text form) and its element size, so that the runtime plans its arena slot once per
    input shape (docs/dynamic-shapes.md). Empty for graph inputs/outputs and values with unknown dims."""
    if (v.is_const or v.shape is None or v.dtype is None or any(d is None for d in v.shape)
            or v.name in graph.inputs or v.name in graph.outputs):
        return {}
    elem = _STORAGE_BYTES.get(v.dtype)
    if elem is None:
        return {}
    return {"symShape": [d if isinstance(d, int) else to_json(d) for d in v.shape], "elemBytes": elem}


def encode_js_op(node: Node, ref: Callable[[str], int], ctx: CodegenContext) -> dict[str, Any]:
    """One node as an op of a js program (docs/bundle-format.md "js/program.json"): its inputs and outputs as value
    indices (``ref`` gives a value's index, adding it to the program's table), its attributes encoded by
    ``encode_attr``; a subgraph's captures are added to the table too (the runtime resolves them by name there).

    Public: the backends that hand nodes to the js runtime's kernels (the wasm backend's js steps, the webgpu
    backend's CPU steps) write their ops with it, so the runtime reads one format."""
    op = {"op": node.op_type, "domain": node.domain, "name": node.name,
          "inputs": [ref(i) for i in node.inputs], "outputs": [ref(o) for o in node.outputs],
          "attrs": {k: encode_attr(v, node, k, ctx) for k, v in node.attrs.items()}}
    for sub in node.subgraphs():
        for name in sub.outer_reads():
            ref(name)
    return op


def encode_attr(v: Any, node: Node, key: str, ctx: CodegenContext) -> Any:
    """An attribute value as the js runtime reads it: tensors as constant descriptors (stored by ``ctx.packer``),
    NaN / infinities as ``{"$float": ...}``, subgraphs as ``{"$graph": program}``; anything else is refused naming
    the node and the attribute."""
    if isinstance(v, np.ndarray):
        from webdnn_build.ir import dtype_name
        dtype = "string" if v.dtype.kind in "OUS" else dtype_name(v.dtype)
        return ctx.packer.describe(v, dtype)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return {"$float": "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")}
        return v
    if isinstance(v, (list, tuple)):
        return [encode_attr(x, node, key, ctx) for x in v]
    if isinstance(v, (int, str, bool)) or v is None:
        return v
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    if isinstance(v, Graph):
        return {"$graph": _encode_program(v, ctx, None)}
    raise UnsupportedOpsError(f"{node.describe()}: attribute '{key}' of type {type(v).__name__} "
                              f"is not supported by the js backend")

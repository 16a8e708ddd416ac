"""Code generation for the webgpu backend: partition, fuse, emit WGSL, plan GPU memory (docs/webgpu-backend.md).

1. ``fuse_residual``: Conv + Add(same-shape tensor) become one Conv with a residual input;
   ``fuse_attention``: softmax(Q·Kᵀ·scale + bias)·V over 4-D heads becomes one ``webdnn.FusedAttention``
   when its kernel fits (wgsl/attention.py); ``fuse_dequantized_weight``: a Gemm whose weight is a per-tensor
   DequantizeLinear of a constant 8-bit tensor reads the 8-bit tensor and dequantizes on load (fuse_dequantize.py).
2. Partition: a node runs on the GPU when a WGSL emitter supports it (and can emit it), else on
   the js kernels on the CPU, with explicit transfers (``download`` before, ``upload`` after).
3. ``fuse_elementwise``: an elementwise GPU node whose output has one reader, itself an
   elementwise GPU node, is merged into it (one kernel computes the chain).
4. Emit: WGSL per op with shapes baked in; identical sources are deduplicated.
5. Plan: the values GPU kernels read or write get arena slots (one buffer, 256-byte aligned
   offsets, graph inputs/outputs included); constants go to weight buffers (≤ 128 MiB each; a
   larger constant is split into parts, one buffer and one binding each).
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Optional

import numpy as np

from webdnn_build.emitter_table import FirstOf, PluginKernelsMixin, check_fallbacks
from webdnn_build.escape import bundle_json
from webdnn_build.errors import ConfigError
from webdnn_build.ir import Graph, Node, Value
from webdnn_build.registry import BackendArtifact, BackendOption, CodegenContext, placement_of
from webdnn_build.codegen import FUSED_ATTENTION, const_descriptor, copy_graph, fuse_attention, fuse_residual, value_entry
from webdnn_build.errors import ShapeError
from webdnn_build.runtime_size import (dim_sources, live_ranges, open_dim_shapes, sized_at_run_time, symbolic_ready,
                                       touches_run_time_sizes)
from webdnn_build.symshape import to_json
from webdnn_build_js.backend import JsFallbackBackend, encode_js_op

from .fuse_dequantize import fuse_dequantized_weight
from .wgsl import EMITTERS, Dispatch, KernelContext
from .wgsl import base as wgsl_base
from .wgsl.base import sizes_at_run_time
from .wgsl.elementwise import FUSED_OP, chain_of, data_inputs, external_inputs, is_elementwise, make_fused

OFFSET_ALIGN = 256   # minStorageBufferOffsetAlignment
MAX_EXTERNAL_INPUTS = 7


def fuse_elementwise(g: Graph, on_gpu: set[int], can_fuse: Callable[[list[Node]], bool] = lambda chain: True) -> int:
    """Merge elementwise GPU nodes into their only (elementwise GPU) reader; returns the nodes merged away.
    ``can_fuse(chain)``: whether the kernel of a merged chain can be emitted (run-time sizes: a trial)."""
    producers, consumers = g.producers(), g.consumers()
    order = {id(n): i for i, n in enumerate(g.nodes)}
    chains: dict[int, list[Node]] = {}
    removed: set[int] = set()
    for node in g.nodes:
        if id(node) not in on_gpu or not is_elementwise(node, g):
            continue
        chain = [node]
        for inp in data_inputs(node):
            p = producers.get(inp)
            if p is None or id(p) not in chains or id(p) in removed:
                continue
            if len(consumers.get(inp, [])) != 1 or inp in g.outputs:
                continue
            merged = sorted(chains[id(p)] + chain, key=lambda n: order[id(n)])
            if len(external_inputs(merged, g)) > MAX_EXTERNAL_INPUTS or not can_fuse(merged):
                continue
            chain = merged
            removed.add(id(p))
        chains[id(node)] = chain
    nodes = []
    for node in g.nodes:
        if id(node) in removed:
            continue
        chain = chains.get(id(node))
        if chain is not None and len(chain) > 1:
            fused = make_fused(chain)
            on_gpu.add(id(fused))
            nodes.append(fused)
        else:
            nodes.append(node)
    g.nodes = nodes
    return len(removed)


class WebGpuBackend(PluginKernelsMixin, JsFallbackBackend):
    """Ops without a WGSL kernel run on the js kernels inside the same bundle."""

    name = "webgpu"
    builtin_emitters = EMITTERS
    #: ``--backend-option webgpu.KEY=VALUE`` (docs/webgpu-backend.md)
    options = (
        BackendOption("precision", "choice", "f32", "arithmetic precision of the WGSL kernels", ("f32", "f16")),
    )

    def runs_natively(self, node: Node, graph: Graph) -> bool:
        """Whether a WGSL kernel runs the node (else it is a CPU step on the js kernels). A node that touches
        values sized by open dims runs on the GPU only on an emitter that declares ``symbolic`` and emits without
        needing a size at build time (a trial emission), every such dim bounded by its declared range."""
        e = self._table().emitter_for(node)
        if e is None:
            return False
        if graph.dims and touches_run_time_sizes(node, graph):
            return self._symbolic_emitter(node, graph) is not None
        # an emitter with ``accepts_empty`` handles zero-element inputs/outputs in its supports()/emit()
        return (getattr(e, "accepts_empty", False) or not _touches_empty(node, graph)) and e.supports(node, graph)

    def _symbolic_emitter(self, node: Node, graph: Graph) -> Optional[Any]:
        """The emitter that runs a node touching run-time sizes (see runs_natively), else None. The graph's shapes
        must hold WExpr sizes (open_dim_shapes); a graph straight from the importer has none, so None."""
        if not symbolic_ready(node, graph):
            return None
        e = self._table().emitter_for(node)
        for cand in (e.emitters if isinstance(e, FirstOf) else (e,)):
            if getattr(cand, "symbolic", False) and _emits(cand, node, KernelContext(graph, n_dims=len(graph.dims))):
                return cand
        return None

    def generate(self, graph: Graph, ctx: CodegenContext) -> BackendArtifact:
        precision = ctx.options.get("precision", "f32").lower()
        if precision not in ("f32", "f16"):
            raise ConfigError(f"--backend-option webgpu.precision must be f32 or f16, not {precision!r}")
        g = copy_graph(graph)
        n_residual = fuse_residual(g, EMITTERS[("", "Conv")].supports)
        n_attention = fuse_attention(g, EMITTERS[FUSED_ATTENTION].supports)
        n_dequantized = fuse_dequantized_weight(g)
        # open dims (after the fusions, which take fixed shapes only): sizes become WExpr over the dims uniform
        dim_index = {name: i for i, name in enumerate(sorted(g.dims))}
        if g.dims:
            open_dim_shapes(g, wgsl_base.WExpr, dim_index)

        def add_const(array: np.ndarray, hint: str) -> str:
            return g.add_const(array, hint)

        temps: dict[int, list[str]] = {}
        emitting: list[Node] = []

        def add_temp(shape: tuple[int, ...], dtype: str, hint: str) -> str:
            name = g.fresh_name(hint)
            g.values[name] = Value(name, dtype=dtype, shape=tuple(int(d) for d in shape))
            temps.setdefault(id(emitting[-1]), []).append(name)
            return name

        kctx = KernelContext(g, precision, n_dims=len(dim_index), add_const=add_const, add_temp=add_temp)
        # a node touching run-time sizes runs on the symbolic emitter found here (emitted below with it)
        symbolic: dict[int, Any] = {}
        on_gpu: set[int] = set()
        for n in g.nodes:
            if g.dims and touches_run_time_sizes(n, g):
                e = self._symbolic_emitter(n, g) if self._table().emitter_for(n) is not None else None
                if e is not None:
                    symbolic[id(n)] = e
                    on_gpu.add(id(n))
            elif self.runs_natively(n, g):
                on_gpu.add(id(n))
        check_fallbacks("webgpu", g.nodes, [id(n) in on_gpu for n in g.nodes], JsFallbackBackend.supported_ops(self))
        elementwise = self._table().emitter_for(Node(FUSED_OP, [], []))
        n_fused = fuse_elementwise(g, on_gpu, lambda chain: not g.dims or _emits(elementwise, make_fused(chain), kctx))

        # ---- emit
        kernels: dict[int, list[Dispatch]] = {}
        for node in g.nodes:
            if id(node) not in on_gpu:
                continue
            emitting.append(node)
            try:
                emitter = symbolic.get(id(node)) or self._table().emitter_for(node)
                with sizes_at_run_time():
                    kernels[id(node)] = emitter.emit(node, kctx)  # type: ignore[union-attr]
            except ValueError as exc:
                if node.op_type == FUSED_OP or (node.domain, node.op_type) == FUSED_ATTENTION:  # no CPU kernel
                    raise
                ctx.log(f"webgpu: {node.describe()} runs on the CPU: {exc}")
                on_gpu.discard(id(node))

        resident: set[str] = set()
        weights_used: list[str] = []
        for ds in kernels.values():
            for d in ds:
                for name, _ in d.bindings:
                    if g.values[name].is_const:
                        if name not in weights_used:
                            weights_used.append(name)
                    else:
                        resident.add(name)
        # values sized by open dims on the GPU: placed by the runtime per input shape (docs/webgpu-backend.md)
        dyn_names = sorted(n for n in resident if sized_at_run_time(g.values[n]))
        dyn_index = {n: k for k, n in enumerate(dyn_names)}
        resident_fixed = resident - set(dyn_names)

        # ---- plan the arena over the GPU-resident values (lifetimes include CPU readers); a node's scratch
        # values are extra outputs of it, so their slots are live during that node only
        pg = copy.copy(g)
        pg.nodes = [Node(n.op_type, [r for r in n.reads() if r in resident_fixed],
                         [o for o in n.outputs if o in resident_fixed]
                         + [t for t in temps.get(id(n), []) if t in resident_fixed], {}, n.domain, n.name) for n in g.nodes]
        pg.inputs = [i for i in g.inputs if i in resident_fixed]
        pg.outputs = [o for o in g.outputs if o in resident_fixed]

        def gpu_bytes(dtype: str) -> Optional[int]:
            return kctx.elem_bytes(dtype) if dtype in wgsl_base.STORABLE_DTYPES else None

        plan = ctx.plan_memory(pg, gpu_bytes, include_io=True, align=OFFSET_ALIGN)
        missing = resident_fixed - set(plan.slots)
        if missing:
            raise AssertionError(f"webgpu: values without an arena slot: {sorted(missing)[:5]}")

        # ---- weight buffers
        buffers: list[dict[str, Any]] = [{"byteLength": max(plan.size, OFFSET_ALIGN), "kind": "arena"}]
        placement: dict[str, dict[str, Any]] = {}
        current: Optional[int] = None
        for name in weights_used:
            v = g.values[name]
            nbytes = v.numel() * kctx.elem_bytes(v.dtype)
            per = kctx.part_elems(name)
            if per is not None:
                parts = []
                for p in range(kctx.n_parts(name)):
                    size = min(per, v.numel() - p * per) * kctx.elem_bytes(v.dtype)
                    buffers.append({"byteLength": _align(size), "kind": "weights"})
                    parts.append({"buffer": len(buffers) - 1, "offset": 0, "byteLength": _align(size, 4)})
                placement[name] = {"byteLength": nbytes, "parts": parts}
                continue
            size = _align(max(nbytes, 4), 4)
            if current is None or _align(buffers[current]["byteLength"]) + size > wgsl_base.MAX_BINDING_BYTES:
                buffers.append({"byteLength": 0, "kind": "weights"})
                current = len(buffers) - 1
            offset = _align(buffers[current]["byteLength"])
            placement[name] = {"buffer": current, "offset": offset, "byteLength": size}
            buffers[current]["byteLength"] = offset + size
        for b in buffers:
            b["byteLength"] = _align(b["byteLength"])

        # ---- plan.json
        index: dict[str, int] = {}
        values: list[dict[str, Any]] = []

        def ref(name: str) -> int:
            if not name:
                return -1
            if name not in index:
                v = g.values.get(name) or Value(name)
                entry = value_entry(v)
                if v.is_const:
                    entry["const"] = const_descriptor(v, ctx.weights, ctx.packer)
                    if name in placement:
                        entry["gpu"] = placement[name]
                elif name in plan.slots:
                    s = plan.slots[name]
                    entry["gpu"] = {"buffer": 0, "offset": s.offset, "byteLength": s.byte_length}
                elif name in dyn_index:  # placed by the runtime per input shape
                    entry["dyn"] = dyn_index[name]
                    entry["symShape"] = [d if isinstance(d, int) else to_json(d.e) for d in v.shape]
                index[name] = len(values)
                values.append(entry)
            return index[name]

        shaders: list[str] = []
        shader_index: dict[str, int] = {}
        steps: list[dict[str, Any]] = []
        step_nodes: list[list[Node]] = []  # the nodes of each step (dynamic values' lifetimes)
        gpu_written: set[str] = set()
        downloaded: set[str] = set()
        n_gpu_nodes = n_dispatches = 0
        inputs = [ref(n) for n in g.inputs]
        for node in g.nodes:
            if id(node) in on_gpu:
                n_gpu_nodes += 1
                written = {o for o in node.outputs if o} | set(temps.get(id(node), []))
                for d in kernels[id(node)]:
                    if d.source not in shader_index:
                        shader_index[d.source] = len(shaders)
                        shaders.append(d.source)
                    step: dict[str, Any] = {
                        "shader": shader_index[d.source], "entryPoint": "main", "name": node.name,
                        "op": "+".join(n.op_type for n in chain_of(node)),
                        "bindings": [_binding(ref(v), p, v in written) for v, p in d.bindings],
                        "workgroup": {"override": d.overrides},
                    }
                    if d.invocations is not None:
                        step["invocations"] = _dispatch_size(d.invocations)
                    else:
                        step["workgroups"] = _dispatch_size(d.workgroups)
                    if d.dims:
                        step["dims"] = True
                    steps.append({"gpu": step})
                    step_nodes.append(chain_of(node))
                    n_dispatches += 1
                gpu_written.update(o for o in node.outputs if o)
                continue
            download = [r for r in node.reads() if r in gpu_written and r not in downloaded]
            downloaded.update(download)
            cpu = {**encode_js_op(node, ref, ctx), "download": [ref(r) for r in download],
                   "upload": [ref(o) for o in node.outputs if o and o in resident]}
            steps.append({"cpu": cpu})
            step_nodes.append([node])
        for name in sorted(resident | set(weights_used)):
            ref(name)
        program = {
            "opsets": g.opsets,
            "precision": precision,
            "values": values,
            "buffers": buffers,
            "shaders": shaders,
            "inputs": inputs,
            "outputs": [ref(n) for n in g.outputs],
            "steps": steps,
        }
        if dyn_names:
            for name in dyn_names:
                ref(name)
            program.update({"dims": dim_sources(g, inputs), "dimOrder": sorted(dim_index, key=dim_index.get),
                            "dynValues": [index[n] for n in dyn_names],
                            "dynLive": live_ranges(g, step_nodes, dyn_names)})
        n_cpu = len(g.nodes) - n_gpu_nodes
        ctx.log(f"webgpu: {n_gpu_nodes}/{len(g.nodes)} ops on the GPU ({n_dispatches} dispatches, {len(shaders)} shaders, "
                f"{n_residual} residual adds, {n_attention} attentions, {n_dequantized} weight dequantizations and {n_fused} "
                f"elementwise ops fused), {n_cpu} on the CPU"
                + (f" ({', '.join(sorted({n.op_type for n in g.nodes if id(n) not in on_gpu}))})" if n_cpu else "")
                + f", arena {plan.size / 1e6:.2f} MB, precision {precision}")
        data = bundle_json(program)
        return BackendArtifact(files={"plan.json": data}, manifest={"plan": "webgpu/plan.json"},
                               placement=placement_of(g.nodes, [id(n) in on_gpu for n in g.nodes]))


def _emits(emitter: Any, node: Node, kctx: KernelContext) -> bool:
    """Whether the emitter supports the node and emits it without needing a run-time size at build time (a trial
    emission: the constants and scratch values it would add are not added)."""
    trial = KernelContext(kctx.graph, kctx.precision, n_dims=kctx.n_dims, add_const=lambda a, h: h,
                          add_temp=lambda s, d, h: h)  # (what it would add to the graph is dropped)
    try:
        with sizes_at_run_time():
            if not emitter.supports(node, trial.graph):
                return False
            emitter.emit(node, trial)
    except (TypeError, ShapeError, ValueError):
        # SymbolicSizeError (a TypeError) or an emitter comparing a size it cannot know; shapes that match only
        # at run time (ShapeError): the node runs on the CPU, whose kernels check them
        return False
    return True


def _binding(vi: int, part: Optional[int], written: bool) -> dict[str, Any]:
    """A step's binding in plan.json: the value, the part of a split constant, and whether the step writes it."""
    b: dict[str, Any] = {"value": vi}
    if part is not None:
        b["part"] = part
    if written:
        b["write"] = True
    return b


def _dispatch_size(sizes: list[Any]) -> list[Any]:
    """Workgroup or invocation counts for plan.json: ints, or the text of a run-time size (symshape.to_json)."""
    return [to_json(n.e) if isinstance(n, wgsl_base.RuntimeSize) else int(n) for n in sizes]


def _align(n: int, a: int = OFFSET_ALIGN) -> int:
    return (n + a - 1) // a * a


def _touches_empty(node: Node, g: Graph) -> bool:
    """True when an input or output has zero elements: nothing to dispatch, and shapes with a zero
    dim would put divisions by zero into the generated index arithmetic; the CPU step handles it."""
    for name in list(node.inputs) + list(node.outputs):
        v = g.values.get(name) if name else None
        if v is not None and v.is_static and v.numel() == 0:
            return True
    return False

"""Code generation for the wasm backend: partition, plan, emit C, compile (docs/wasm-backend.md).

1. ``fuse_residual``: Conv + Add(same-shape tensor) become one Conv with a residual input.
2. Partition: a node runs in wasm when an emitter (keyed by domain and op type) supports it, else with the js kernels
   (over views of wasm memory, so no copies between the two).
3. Plan: every static-shape value (graph inputs and outputs included) gets an arena slot; the
   constants wasm ops read get a place in the weight region, filled by the runtime at load.
4. Emit: one C function per segment (a run of consecutive wasm ops), ops separated by barriers.
5. Compile: single-threaded and threaded modules (toolchain.py, cached by content hash).
"""

from __future__ import annotations

import copy
import os
from typing import Any, Optional

import numpy as np

from webdnn_build.emitter_table import FirstOf, PluginKernelsMixin, check_fallbacks
from webdnn_build.errors import ShapeError
from webdnn_build.escape import bundle_json, c_comment
from webdnn_build.symshape import to_json
from webdnn_build.codegen import (FUSED_ATTENTION, const_descriptor, copy_graph, fuse_attention, fuse_residual,
                                  option_flag, value_entry)
from webdnn_build.ir import Graph, Node, Value
from webdnn_build.limits import check_arena
from webdnn_build.registry import BackendArtifact, BackendOption, CodegenContext, placement_of
from webdnn_build.runtime_size import (dim_sources, live_ranges, open_dim_shapes, sized_at_run_time, symbolic_ready,
                                       touches_run_time_sizes)
from webdnn_build_js.backend import JsFallbackBackend, encode_js_op

from . import toolchain
from .emit import EMITTERS, EmitContext
from .emit.base import C_TYPES
from .qdq_matmul import qdq_matmul_to_integer
from .symbolic import ADDR_TABLE, DIMS_TABLE, CExpr, SymbolicSizeError, bound, is_runtime
from .emit.base import sizes_at_run_time
from .schedule import SERIAL_BELOW, THREAD_MIN_WORK, runs_alone, segment_lines, serial_ops, threads_function
from .wasm_binary import memory_import_pages

WEIGHT_ALIGN = 64
MAX_THREADS = 8
#: ops computed once at load (in wdn_prepare, into static buffers) when every input is a constant, their
#: result is float32 and only wasm ops read it: a QDQ model's weights stay int8 in the bundle (a quarter
#: of the download) and are dequantized once, not at every run (a third of a QDQ BERT's run time)
LOAD_TIME_OPS = {("", "DequantizeLinear")}
#: static buffers of load-time values take wasm memory next to the weights: at most this much per model
LOAD_TIME_BUDGET = 512 << 20


def _load_time_nodes(g: Graph, in_wasm: list[bool]) -> list[Node]:
    """The nodes computed once at load (LOAD_TIME_OPS), within LOAD_TIME_BUDGET, in graph order."""
    readers: dict[str, list[bool]] = {}
    for node, wasm in zip(g.nodes, in_wasm):
        for name in node.reads():
            readers.setdefault(name, []).append(wasm)
    chosen, used = [], 0
    for node, wasm in zip(g.nodes, in_wasm):
        if not wasm or (node.domain, node.op_type) not in LOAD_TIME_OPS or node.subgraphs():
            continue
        outs = [o for o in node.outputs if o]
        if len(outs) != 1 or outs[0] in g.outputs or not all(readers.get(outs[0], [False])):
            continue
        v = g.values[outs[0]]
        if v.dtype != "float32" or not v.is_static or not all(g.values[i].is_const for i in node.inputs if i):
            continue
        size = 4 * (v.numel() or 0)
        if used + size > LOAD_TIME_BUDGET:
            continue
        chosen.append(node)
        used += size
    return chosen


def _check_memory(g: Graph, plan: Any, weight_size: int) -> None:
    """The arena and the weight region are static arrays of one wasm32 memory (4 GiB at most)."""
    check_arena("wasm", plan.size, weight_size, {n: s.byte_length for n, s in plan.slots.items()},
                where=g.source or g.name)


#: a bundle with values placed at run time may grow its memory to 2 GiB (the threaded module's --max-memory)
DYNAMIC_MAX_PAGES = 32768


def _run_time_sizes(ectx: EmitContext, n_decls: int, n_scratch: int, body: list[str], dim_hi: dict) -> list[str]:
    """After emitting a node that reads run-time sizes: its parameter structs that use them cannot be static
    initializers, so they move into the segment as locals (each thread builds its own); its scratch sizes take
    the largest size of each dim (the scratch is a static buffer)."""
    local = []
    for i in range(len(ectx.decls) - 1, n_decls - 1, -1):
        if is_runtime(ectx.decls[i]):
            text = ectx.decls.pop(i)
            local.insert(0, text[len("static "):] if text.startswith("static ") else text)
    ectx.scratch[n_scratch:] = [bound(s, dim_hi) for s in ectx.scratch[n_scratch:]]
    return local + body if not local else ["{", *local, *body, "}"]


class WasmBackend(PluginKernelsMixin, JsFallbackBackend):
    """Ops without a wasm kernel run on the js kernels inside the same bundle."""

    name = "wasm"
    builtin_emitters = EMITTERS
    #: ``--backend-option wasm.KEY=VALUE`` (docs/wasm-backend.md)
    options = (
        BackendOption("threads", "bool", "true", "also build the threaded module (model-mt.wasm)"),
        BackendOption("segment_per_op", "bool", "false", "one step per op, so that Runner.profile() times each op"),
        BackendOption("winograd", "bool", "true",
                      "3x3 stride-1 convs with enough channels by Winograd F(2x2, 3x3) (2.25x fewer multiply-adds; "
                      "the transformed weights take 16/9 of their size in wasm memory at load)"),
        BackendOption("emit_c", "bool", "false", "write the generated C next to the module (wasm/model.c), for debugging"),
        BackendOption("serial_below", "int", str(SERIAL_BELOW),
                      "ops with less work (multiply-adds, else elements read and written) run on one thread, "
                      "with no barrier between two of them (0: split every op)"),
        BackendOption("thread_min_work", "int", str(THREAD_MIN_WORK),
                      "a segment whose split ops add up to less work runs on the calling thread alone "
                      "(no dispatch to the workers; 0: always use every thread)"),
    )

    def runs_natively(self, node: Node, graph: Graph) -> bool:
        """Whether a wasm kernel runs the node (else it is a js step). A node that touches values sized by
        open dims runs natively only on an emitter that declares ``symbolic`` and emits without needing a
        size at build time (a trial emission, symbolic.py), every such dim bounded by its declared range."""
        e = self._table().emitter_for(node)
        if e is None:
            return False
        if not touches_run_time_sizes(node, graph):
            return e.supports(node, graph)
        return self._symbolic_emitter(node, graph) is not None

    def _symbolic_emitter(self, node: Node, graph: Graph) -> Optional[Any]:
        """The emitter that runs a node touching values sized by open dims: the first of the op's emitters that
        declares ``symbolic``, supports the node and emits it without needing a size at build time (a trial
        emission into a throwaway context), every open dim bounded by its declared range; else None."""
        if not symbolic_ready(node, graph):
            return None
        e = self._table().emitter_for(node)
        for cand in (e.emitters if isinstance(e, FirstOf) else (e,)):
            if not getattr(cand, "symbolic", False):
                continue
            trial = EmitContext(graph, lambda name: "p", lambda array, hint: hint, lambda hint: hint)
            try:
                with sizes_at_run_time():
                    if not cand.supports(node, graph):
                        continue
                    cand.emit(node, trial)
            except (SymbolicSizeError, ShapeError):  # (shapes that match only at run time: a js step checks them)
                continue
            return cand
        return None

    def generate(self, graph: Graph, ctx: CodegenContext) -> BackendArtifact:
        toolchain.zig_version()  # fail early, with install instructions, when the compiler is missing
        g = copy_graph(graph)
        fused = fuse_residual(g, EMITTERS[("", "Conv")].supports)
        attention = fuse_attention(g, EMITTERS[FUSED_ATTENTION].supports)
        qdq = qdq_matmul_to_integer(g, EMITTERS[("com.microsoft", "MatMulIntegerToFloat")].supports)
        dim_index = {name: i for i, name in enumerate(sorted(g.dims))}
        if g.dims:  # (after the fusions, which take fixed shapes only)
            open_dim_shapes(g, CExpr, dim_index)
        # a node touching run-time sizes runs on the symbolic emitter found here (emitted below with it)
        symbolic: dict[int, Any] = {}
        in_wasm = []
        for n in g.nodes:
            if g.dims and touches_run_time_sizes(n, g):
                e = self._symbolic_emitter(n, g) if self._table().emitter_for(n) is not None else None
                if e is not None:
                    symbolic[id(n)] = e
                in_wasm.append(e is not None)
            else:
                in_wasm.append(self.runs_natively(n, g))
        check_fallbacks("wasm", g.nodes, in_wasm, JsFallbackBackend.supported_ops(self))
        load_time = _load_time_nodes(g, in_wasm)
        at_load = {id(n) for n in load_time}
        load_time_values = {n.outputs[0] for n in load_time}
        # the arena is planned without them: their values live in static buffers for the whole run
        run_graph = copy.copy(g)
        run_graph.nodes = [n for n in g.nodes if id(n) not in at_load]
        plan = ctx.plan_memory(run_graph, self.storage_bytes, include_io=True)
        _check_memory(g, plan, 0)  # before emitting anything: an arena alone may not fit

        weights: dict[str, int] = {}   # value name -> offset in the weight region
        extra: dict[str, Value] = {}
        weight_size = 0

        def place_weight(name: str) -> int:
            nonlocal weight_size
            if name not in weights:
                v = g.values[name]
                weight_size = (weight_size + WEIGHT_ALIGN - 1) // WEIGHT_ALIGN * WEIGHT_ALIGN
                weights[name] = weight_size
                weight_size += int(np.asarray(v.const).size) * (self.storage_bytes(v.dtype) or 4)
            return weights[name]

        # values sized by open dims that wasm ops touch: placed by the runtime per input shape, their
        # addresses in wdn_dyn_addr (symbolic.py)
        dyn_index: dict[str, int] = {}
        for node, wasm in zip(g.nodes, in_wasm):
            if wasm and id(node) not in at_load:
                for name in [*node.inputs, *node.outputs]:
                    if name and name not in dyn_index and sized_at_run_time(g.values[name]):
                        dyn_index[name] = len(dyn_index)
        if not dyn_index:
            dim_index = {}
        dim_hi = {i: g.dims[name][1] for name, i in dim_index.items()}

        def ptr(name: str) -> str:
            """A pointer of the value's C element type (C_TYPES: float for float32) to it in wasm memory."""
            v = g.values[name]
            ctype = C_TYPES.get(v.dtype or "")
            if ctype is None:  # (emitters only take dtypes with a storage size)
                raise AssertionError(f"value {name} read by a wasm op has dtype {v.dtype}, not stored in wasm memory")
            if name in dyn_index:
                return f"(({ctype}*)(uintptr_t){ADDR_TABLE}[{dyn_index[name]}])"
            if v.is_const:
                return f"(({ctype}*)(wdn_weights + {place_weight(name)}))"
            if name in load_time_buffers:
                return f"(({ctype}*){load_time_buffers[name]})"
            slot = plan.slots.get(name)
            if slot is None:
                raise AssertionError(f"value {name} read by a wasm op has no arena slot")
            return f"(({ctype}*)(wdn_arena + {slot.offset}))"

        def add_const(array: np.ndarray, hint: str) -> str:
            name = g.add_const(array, hint)
            extra[name] = g.values[name]
            return name

        counter = iter(range(1 << 30))
        ectx = EmitContext(g, ptr, add_const, lambda hint: f"{hint}_{next(counter)}", options=dict(ctx.options),
                           load_time=set(load_time_values))
        load_time_buffers: dict[str, str] = {}
        for name in sorted(load_time_values):
            var = ectx.fresh("at_load")
            ectx.decls.append(f"static float {var}[{max(g.values[name].numel() or 0, 1)}] __attribute__((aligned(16)));")
            load_time_buffers[name] = var

        # wasm.segment_per_op=true: one step per op, so that Runner.profile() times each op
        per_op = option_flag(ctx.options, "segment_per_op", False)
        # WEBDNN_WASM_SPLIT_ALL=1 makes both defaults 0 (every op split over every thread): the test suite
        # sets it so that each kernel's threaded share is exercised on its small models
        split_all = os.environ.get("WEBDNN_WASM_SPLIT_ALL") == "1"
        serial_below = int(ctx.options.get("serial_below", 0 if split_all else SERIAL_BELOW))  # checked by BackendOption
        thread_min_work = int(ctx.options.get("thread_min_work", 0 if split_all else THREAD_MIN_WORK))
        serial = dict(zip(map(id, g.nodes), serial_ops(g.nodes, g, serial_below)))
        bodies: list[list[list[str]]] = []   # per segment, per op: its C statements
        alone: list[list[bool]] = []         # per segment, per op: thread 0 runs it alone
        seg_nodes: list[list[Node]] = []     # per segment, its ops
        steps: list[dict[str, Any]] = []
        for node, wasm in zip(g.nodes, in_wasm):
            if id(node) in at_load:  # once, in wdn_prepare (before the threads start: one thread does it all)
                body = self._table().emitter_for(node).emit(node, ectx)
                ectx.prepare += [c_comment(f"at load: {node.describe()}"), "{", "  const int tid = 0, nth = 1;",
                                 *[f"  {line}" for line in body], "}"]
                continue
            if wasm:
                if per_op or not steps or "wasm" not in steps[-1]:
                    steps.append({"wasm": len(bodies), "ops": []})
                    bodies.append([])
                    alone.append([])
                    seg_nodes.append([])
                n_decls, n_scratch = len(ectx.decls), len(ectx.scratch)
                if id(node) in symbolic:
                    with sizes_at_run_time():
                        body = symbolic[id(node)].emit(node, ectx)
                    body = _run_time_sizes(ectx, n_decls, n_scratch, body, dim_hi)
                else:
                    body = self._table().emitter_for(node).emit(node, ectx)
                ectx.op_index += 1  # wasm ops in plan order: the op a run-time error names
                bodies[-1].append([c_comment(node.describe()), *body])
                alone[-1].append(serial[id(node)])
                seg_nodes[-1].append(node)
                steps[-1]["ops"].append(node.name)
            else:
                steps.append({"js": node})
        segments = [segment_lines(b, a) for b, a in zip(bodies, alone)]
        ectx.extra_functions += threads_function({i: r for i, (ns, a) in enumerate(zip(seg_nodes, alone))
                                                   if (r := runs_alone(ns, g, a, thread_min_work)) is not False})

        _check_memory(g, plan, weight_size)
        if dyn_index:
            ectx.decls[:0] = [f"static uint32_t {ADDR_TABLE}[{len(dyn_index)}];", f"static int {DIMS_TABLE}[{len(dim_index)}];"]
            ectx.extra_functions += [
                f'__attribute__((export_name("wdn_dyn_addr"))) uint32_t* wdn_dyn_addr_table(void) {{ return {ADDR_TABLE}; }}',
                f'__attribute__((export_name("wdn_dims"))) int* wdn_dims_table(void) {{ return {DIMS_TABLE}; }}']
        c_source = self._c_source(segments, ectx, plan.size, weight_size, self._table().c_sources)
        with_threads = option_flag(ctx.options, "threads", True)
        module, hit = toolchain.build_module(c_source, threads=False)
        module_mt, hit_mt = toolchain.build_module(c_source, threads=True) if with_threads else (None, True)
        pages = max(memory_import_pages(m)[0] for m in (module, module_mt) if m is not None)

        # ---- plan.json
        index: dict[str, int] = {}
        values: list[dict[str, Any]] = []

        def ref(name: str) -> int:
            if not name:
                return -1
            if name not in index:
                v = g.values[name]
                entry = value_entry(v)
                if v.is_const:
                    entry["const"] = const_descriptor(v, ctx.weights, ctx.packer)
                    if name in weights:
                        entry["addr"] = {"region": "weights", "offset": weights[name]}
                elif name in plan.slots:
                    entry["addr"] = {"region": "arena", "offset": plan.slots[name].offset}
                elif name in dyn_index:  # placed by the runtime per input shape (docs/wasm-backend.md)
                    entry["dyn"] = dyn_index[name]
                    entry["symShape"] = [d if isinstance(d, int) else to_json(d.e) for d in v.shape]
                index[name] = len(values)
                values.append(entry)
            return index[name]

        json_steps = []
        for step in steps:
            if "js" in step:
                node: Node = step["js"]
                json_steps.append({"js": encode_js_op(node, ref, ctx)})
            else:
                json_steps.append(step)
        for name in weights:
            ref(name)
        dynamic: dict[str, Any] = {}
        if dyn_index:
            for name in dyn_index:
                ref(name)
            dyn_names = sorted(dyn_index, key=dyn_index.get)
            step_nodes = [[step["js"]] if "js" in step else seg_nodes[step["wasm"]] for step in steps]
            dynamic = {"dims": dim_sources(g, [ref(n) for n in g.inputs]), "dimOrder": sorted(dim_index, key=dim_index.get),
                       "dynValues": [index[n] for n in dyn_names], "dynLive": live_ranges(g, step_nodes, dyn_names)}
        program = {
            "module": "wasm/model.wasm",
            "moduleThreads": "wasm/model-mt.wasm" if module_mt is not None else None,
            "memoryPages": {"initial": pages, "maximum": pages},
            "maxThreads": MAX_THREADS,
            "opsets": g.opsets,
            "inputs": [ref(n) for n in g.inputs],
            "outputs": [ref(n) for n in g.outputs],
            "weights": [index[n] for n in weights],
            "steps": json_steps,
            "values": values,
            **dynamic,
        }
        if dyn_index:  # the runtime grows the memory for the values it places
            program["memoryPages"]["maximum"] = DYNAMIC_MAX_PAGES
        n_wasm = sum(in_wasm)
        ctx.log(f"wasm: {n_wasm}/{len(g.nodes)} ops in wasm ({len(segments)} segments, {fused} residual adds and {attention} attentions fused"
                f"{f', {qdq} quantized MatMuls as MatMulIntegerToFloat' if qdq else ''}), "
                f"arena {plan.size / 1e6:.2f} MB, module {len(module) / 1e3:.1f} kB"
                + (" (modules from cache)" if hit and hit_mt else ""))
        files = {"plan.json": bundle_json(program),
                 "model.wasm": module}
        if option_flag(ctx.options, "emit_c", False):
            files["model.c"] = c_source.encode()  # for debugging: the generated source next to the module
        if module_mt is not None:
            files["model-mt.wasm"] = module_mt
        return BackendArtifact(files=files, manifest={"plan": "wasm/plan.json"},
                               placement=placement_of(g.nodes, in_wasm))

    @staticmethod
    def _c_source(segments: list[list[str]], ectx: EmitContext, arena: int, weight_size: int,
                  plugin_sources: list[str] = ()) -> str:
        # the scratch size is the max over the ops' WDN_*_SCRATCH_BYTES expressions; a chain of enum
        # constants keeps each step a single expansion (nested max macros would grow exponentially)
        scratch = sorted(set(ectx.scratch)) or ["0"]
        chain = [f"WDN_SCRATCH_0 = ({scratch[0]})"]
        chain += [f"WDN_SCRATCH_{i} = WDN_MAX(WDN_SCRATCH_{i - 1}, ({s}))" for i, s in enumerate(scratch[1:], 1)]
        max_expr = f"WDN_SCRATCH_{len(scratch) - 1}"
        lines = [
            "/* Generated by webdnn-build-wasm. Do not edit. */",
            '#include "kernels.h"',
            "#define WDN_MAX(a, b) ((a) > (b) ? (a) : (b))",
            "#define WDN_MIN(a, b) ((a) < (b) ? (a) : (b))",
            "enum {",
            *[f"  {c}," for c in chain],
            "};",
            f"#define WDN_SCRATCH_STRIDE ((int)((({max_expr}) + 63) / 64 * 64))",
            f"static unsigned char wdn_arena[{max(arena, 64)}] __attribute__((aligned(64)));",
            f"static unsigned char wdn_weights[{max(weight_size, 64)}] __attribute__((aligned(64)));",
            "#ifdef WDN_THREADS",
            "#define WDN_SCRATCH_THREADS WDN_MAX_THREADS",
            "#else",
            "#define WDN_SCRATCH_THREADS 1",
            "#endif",
            "static unsigned char wdn_scratch[WDN_SCRATCH_THREADS * WDN_SCRATCH_STRIDE + 64] __attribute__((aligned(64)));",
            "",
            *[f"/* kernel source from a plugin (webdnn_register_kernels) */\n{src}" for src in plugin_sources],
            *ectx.decls,
            "",
        ]
        for i, body in enumerate(segments):
            lines.append(f"static void wdn_segment_{i}(int tid, int nth) {{")
            lines += [f"  {s}" for s in body]
            lines.append("}")
        lines += [
            "",
            '__attribute__((export_name("wdn_arena"))) unsigned char* wdn_arena_addr(void) { return wdn_arena; }',
            '__attribute__((export_name("wdn_weights"))) unsigned char* wdn_weights_addr(void) { return wdn_weights; }',
            *ectx.extra_functions,
            '__attribute__((export_name("wdn_prepare"))) void wdn_prepare(void) {',
            *[f"  {line}" for line in ectx.prepare],
            "}",
            '__attribute__((export_name("wdn_run_segment"))) void wdn_run_segment(int seg, int tid, int nth) {',
            "  switch (seg) {",
            *[f"    case {i}: wdn_segment_{i}(tid, nth); break;" for i in range(len(segments))],
            "    default: break;",
            "  }",
            "}",
        ]
        return "\n".join(lines) + "\n"

"""What every op emitter gets and returns.

An emitter turns one IR node into C statements calling the kernel library
(csrc/kernels.h). ``supports`` is asked before memory planning (it sees shapes
and attributes only); ``emit`` runs after, when every value has an address.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from webdnn_build.runtime_size import RuntimeSize, accepting, sizes_at_run_time  # noqa: F401  (re-exported)
from webdnn_build.ir import Graph, Node
from webdnn_build.opdecl import activation_params
from webdnn_build_js.backend import JsFallbackBackend

#: C element type of a value in wasm memory, by dtype (float16/bfloat16 are stored as float32 like in
#: the js backend; bool is one byte 0/1)
C_TYPES = {"float32": "float", "float16": "float", "bfloat16": "float", "float64": "double",
           "int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "uint16": "uint16_t", "int32": "int32_t",
           "uint32": "uint32_t", "int64": "int64_t", "uint64": "uint64_t", "bool": "uint8_t"}
#: dtype -> the WDN_DT_* type of the typed kernels (kernels.h)
DT_CODES = {"float32": "WDN_DT_F32", "int32": "WDN_DT_I32", "int64": "WDN_DT_I64", "uint8": "WDN_DT_U8",
            "int8": "WDN_DT_I8", "bool": "WDN_DT_BOOL"}

_JS_STORAGE = JsFallbackBackend()

#: the C enum (csrc/kernels.h wdn_act) of each kind of the fused-activation contract
#: (webdnn_build.opdecl.ACTIVATION_KINDS); a kind's parameters are wdn_act's a and b, in the contract's order
ACT_KINDS = {"Relu": "WDN_ACT_RELU", "Clip": "WDN_ACT_CLIP", "LeakyRelu": "WDN_ACT_LEAKY_RELU",
             "Sigmoid": "WDN_ACT_SIGMOID", "Tanh": "WDN_ACT_TANH", "HardSigmoid": "WDN_ACT_HARD_SIGMOID",
             "HardSwish": "WDN_ACT_HARD_SWISH", "Swish": "WDN_ACT_SWISH"}


def cfloat(x: float) -> str:
    """A float as a C literal (inf/nan through builtins)."""
    x = float(x)
    if math.isnan(x):
        return "__builtin_nanf(\"\")"
    if math.isinf(x):
        return "__builtin_inff()" if x > 0 else "(-__builtin_inff())"
    return f"{float(np.float32(x))!r}f"


def act_struct(attrs: dict[str, Any]) -> str:
    """The fused activation of a node (docs/passes.md contract) as a ``wdn_act`` initializer."""
    kind, params = activation_params(attrs)
    if kind is None:
        return "{WDN_ACT_NONE, 0.f, 0.f}"
    a, b = (*params, 0.0, 0.0)[:2]
    return f"{{{ACT_KINDS[kind]}, {cfloat(a)}, {cfloat(b)}}}"


def supported_activation(attrs: dict[str, Any]) -> bool:
    return attrs.get("fused_activation") in (None, *ACT_KINDS)


@dataclass
class EmitContext:
    graph: Graph
    #: C pointer expression of a value (arena or weight region), e.g. ``(float*)(wdn_arena + 64)``
    ptr: Callable[[str], str]
    #: add a constant computed at build time (e.g. BatchNorm scale) and get its value name
    add_const: Callable[[np.ndarray, str], str]
    #: a unique C identifier
    fresh: Callable[[str], str]
    #: file-scope declarations (param structs) the emitter needs
    decls: list[str] = field(default_factory=list)
    #: bytes of per-thread scratch the emitted code needs, as C constant expressions
    scratch: list[str] = field(default_factory=list)
    #: index of the op being emitted among the model's wasm ops (plan order), for run-time errors
    op_index: int = 0
    #: statements run once after the weights are loaded (wdn_prepare): packing constant operands
    prepare: list[str] = field(default_factory=list)
    #: name -> C identifier of what ``prepare`` already made (one packed copy per constant)
    prepared: dict[str, str] = field(default_factory=dict)
    #: bytes of static buffers ``prepare`` fills (see prepared_buffer)
    prepared_bytes: int = 0
    #: whole C functions the backend adds after the segments (wdn_segment_threads)
    extra_functions: list[str] = field(default_factory=list)
    #: the build's ``--backend-option wasm.KEY=VALUE`` settings (checked against WasmBackend.options)
    options: dict[str, str] = field(default_factory=dict)
    #: values computed once at load from constants (backend.LOAD_TIME_OPS), in static buffers: as fixed as
    #: constants during a run, so an emitter may pack them at load too
    load_time: set[str] = field(default_factory=set)

    def fixed(self, name: str) -> bool:
        """Whether the value is the same in every run: a constant, or computed from constants at load."""
        return self.const(name) is not None or name in self.load_time

    def shape(self, name: str) -> tuple[int, ...]:
        """The value's shape; a dim sized at run time is a symbolic.CExpr (C text over wdn_dims)."""
        return tuple(self.graph.values[name].shape)  # type: ignore[arg-type]

    def const(self, name: str) -> Optional[np.ndarray]:
        v = self.graph.values.get(name)
        return None if v is None else v.const


def prepared_buffer(ctx: EmitContext, key: str, floats: str, nbytes: int, budget: int, fill: str) -> Optional[str]:
    """A static float buffer of ``floats`` (a C constant expression; ``nbytes`` its size) filled once at load
    by ``fill`` (a C statement where ``{buf}`` names the buffer): one per ``key``. None when the model's
    prepared buffers would pass ``budget`` bytes of wasm memory."""
    if key not in ctx.prepared:
        if ctx.prepared_bytes + nbytes > budget:
            return None
        var = ctx.fresh("prepared")
        ctx.decls.append(f"static float {var}[{floats}] __attribute__((aligned(16)));")
        ctx.prepare.append(fill.format(buf=var))
        ctx.prepared[key] = var
        ctx.prepared_bytes += nbytes
    return ctx.prepared[key]


class Emitter:
    """Base class: one per op family."""

    ops: tuple[str, ...] = ()
    #: the ops' domain: "" (ONNX) or e.g. "com.microsoft"
    domain: str = ""
    #: takes values sized by open dims (symbolic.py): its supports() and emit() compute with the sizes only
    #: through arithmetic (no comparisons, range or int of a size), read through ctx.shape
    symbolic: bool = False

    def supports(self, node: Node, graph: Graph) -> bool:
        raise NotImplementedError

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        raise NotImplementedError


def _sized(v) -> bool:
    if v.is_static:
        return True
    # (the wasm backend's copy of a graph with open dims holds symbolic.CExpr dims)
    return accepting() and v.shape is not None and not any(d is None or isinstance(d, str) for d in v.shape)


def all_float32_static(graph: Graph, names: list[str]) -> bool:
    for n in names:
        if not n:
            continue
        v = graph.values.get(n)
        if v is None or v.dtype != "float32" or not _sized(v):
            return False
    return True


def storage_bytes(dtype: Optional[str]) -> Optional[int]:
    """Bytes per element in wasm memory: the js backend's storage size (the js steps read the same memory)."""
    return _JS_STORAGE.storage_bytes(dtype) if dtype in C_TYPES else None


def all_static(graph: Graph, names: list[str], dtypes: Optional[Any] = None) -> bool:
    """Every named value (empty names skipped) exists, has a static shape and a dtype stored in wasm
    memory (``dtypes``: only these)."""
    for n in names:
        if not n:
            continue
        v = graph.values.get(n)
        if v is None or not _sized(v) or storage_bytes(v.dtype) is None:
            return False
        if dtypes is not None and v.dtype not in dtypes:
            return False
    return True


def c_array(values: list[int]) -> str:
    """A C initializer list of integers (values are Python ints, or run-time sizes written as C over the dims table:
    nothing from the model's strings). With run-time sizes the declaration becomes a segment local."""
    return "{" + ", ".join(str(v) if isinstance(v, RuntimeSize) else str(int(v)) for v in values) + "}"


def struct_init(ctype: str, var: str, fields: dict[str, Any]) -> str:
    body = ", ".join(f".{k} = {v}" for k, v in fields.items())
    return f"static const {ctype} {var} = {{{body}}};"

"""What every WGSL kernel emitter gets and returns.

An emitter turns one IR node into one or more :class:`Dispatch` (a WGSL compute shader with
its bindings and dispatch size). ``supports(node, graph)`` is asked before memory planning (shapes
and attributes only); ``emit(node, ctx)`` runs after. Shapes, strides and attributes are baked
into the WGSL as constants, so two ops of the same shape produce the same source (deduplicated
by the backend); buffers and offsets are not in the source, they come with the bindings.

Conventions (docs/webgpu-backend.md):

- Workgroup sizes are ``override`` constants ``WG_X``/``WG_Y``/``WG_Z`` (absent: 1); every
  kernel is correct for any value the runtime picks. Defaults multiply to at most 256.
- A step gives either ``invocations`` (threads needed per dimension; the runtime dispatches
  ``ceil(invocations[d] / WG_d)`` workgroups) or ``workgroups`` (dispatched as is, whatever the
  workgroup size). Kernels with ``invocations [n, 1, 1]`` compute their element index as
  ``gid.x + gid.y * nwg.x * WG_X``, so the runtime may fold a dispatch wider than
  ``maxComputeWorkgroupsPerDimension`` into two dimensions.
- Values in the arena are bound ``read_write`` even when only read: WebGPU forbids read-only and
  writable storage usage of one buffer in the same dispatch, and all activations share one buffer.
  Constants (weight buffers) are bound ``read``. A value bound twice by one op is bound once.
- All arithmetic is in f32; with ``precision f16`` float values are *stored* as f16 and
  converted in the ``ld_*``/``st_*`` accessors.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from webdnn_build.codegen import broadcast_strides, collapse_axes  # noqa: F401  (re-exported for the kernels)

import numpy as np

from webdnn_build.ir import Graph, Node
from webdnn_build.opdecl import activation_params
from webdnn_build.runtime_size import (RuntimeSize, SymbolicSizeError, accepting, render_int,  # noqa: F401
                                       sizes_at_run_time)  # (re-exported)
from webdnn_build.symshape import bounds

MAX_BINDING_BYTES = 128 << 20       # the smallest maxStorageBufferBindingSize seen (software adapters)
MAX_STORAGE_BINDINGS = 8            # per kernel (Chromium allows 10; the default limit is 8)
MAX_WORKGROUPS_PER_DIM = 65535

#: WGSL storage element type per IR dtype (float32 depends on the precision). 64-bit integers are
#: stored truncated to 32 bits (the runtime refuses values that do not fit), bool as u32 0/1.
_INT_TYPES = {"int8": "i32", "int16": "i32", "int32": "i32", "int64": "i32",
              "uint8": "u32", "uint16": "u32", "uint32": "u32", "bool": "u32"}
#: dtypes that can live in a GPU buffer
GPU_DTYPES = frozenset({"float32", *_INT_TYPES})
#: dtypes an emitter takes only where it names them (``gpu_static(..., dtypes)``): float16 and bfloat16 live
#: as f32 (as f16 with ``precision f16``), rounded to their precision whenever a kernel stores them; uint64
#: as u32 like int64 (the runtime refuses values that do not fit); float64 as f32 rounded on upload, so only
#: ops exact under that rounding (Cast to float32) may read it
EXTRA_DTYPES = frozenset({"float16", "bfloat16", "float64", "uint64"})
FLOAT_DTYPES = frozenset({"float32", "float16", "bfloat16", "float64"})
STORABLE_DTYPES = GPU_DTYPES | EXTRA_DTYPES
#: what kernels that only move (or select) elements take: every dtype held exactly
COPY_DTYPES = STORABLE_DTYPES - {"float64"}
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def f32lit(x: float) -> str:
    """An exact WGSL f32 literal (inf/nan through ``f32_bits``: a function call, so that shader compilers do not
    evaluate it as a constant expression, where Tint rejects values that f32 cannot represent)."""
    if isinstance(x, RuntimeSize):
        return f"f32({x})"
    x = float(np.float32(x))
    if math.isnan(x):
        return "f32_bits(0x7fc00000u)"
    if math.isinf(x):
        return "f32_bits(0x7f800000u)" if x > 0 else "f32_bits(0xff800000u)"
    return f"{x!r}f"


#: the open dims' sizes in a shader of a bundle built with dims left open: a uniform the runtime fills per input
#: shape, bound after the kernel's storage bindings (``Dispatch.dims``)
DIMS_UNIFORM = "wdn_dims"


#: what a run-time size formatted into a literal's place looks like in WGSL: ``u32(...)i`` (a suffix after a call,
#: never valid WGSL), or a size in an array type (which must be a constant)
_LITERAL_OF_RUN_TIME_SIZE = re.compile(r"\)[iuf]\b|array<[^>]*u32\(" + DIMS_UNIFORM)


class WExpr(RuntimeSize):
    """A size known at run time (webdnn_build.runtime_size), written as a WGSL ``u32`` expression over the dims
    uniform: ``u32((wdn_dims[0][1] * 384))``. Computed in i32 (sizes are far below 2^31), so differences and
    max/min of sizes keep their sign until the end."""

    __slots__ = ()

    def render(self) -> str:
        return "u32" + render_int(self.e, self.index, lambda i: f"{DIMS_UNIFORM}[{i // 4}][{i % 4}]")


def u(x) -> str:
    """A u32 WGSL expression of a size: a literal, or a run-time size (:class:`WExpr`)."""
    if isinstance(x, RuntimeSize):
        return str(x)
    return f"{int(x)}u"


def i32_of(x) -> str:
    """An i32 WGSL expression of a size: a literal, or a run-time size converted."""
    return f"i32({x})" if isinstance(x, RuntimeSize) else f"{int(x)}i"


def at_most(graph: Graph, n, limit: int) -> bool:
    """``n <= limit`` for a size; a run-time size by the largest value its dims' ranges allow."""
    if isinstance(n, RuntimeSize):
        return bounds(n.e, graph.dims)[1] <= limit
    return n <= limit


def ceil_div(n, k: int):
    """``ceil(n / k)`` for a size and a positive int (a run-time size stays an expression)."""
    return (n + (k - 1)) // k


def at_least_one(n):
    """``max(n, 1)`` for a size; a run-time size as is (a dispatch of 0 threads is skipped by the runtime)."""
    return n if isinstance(n, RuntimeSize) else max(n, 1)


@dataclass
class Dispatch:
    """One compute dispatch: shader source, bindings (value name, part or None), dispatch size."""

    source: str
    bindings: list[tuple[str, Optional[int]]]
    overrides: dict[str, int]
    invocations: Optional[list[int]] = None
    workgroups: Optional[list[int]] = None
    #: the shader reads the open dims' sizes (the runtime binds its dims uniform after ``bindings``)
    dims: bool = False


@dataclass
class KernelContext:
    graph: Graph
    precision: str = "f32"
    #: how many open dims the dims uniform holds (bundles built with dims left open)
    n_dims: int = 0
    #: add a constant computed at build time and get its value name
    add_const: Callable[[np.ndarray, str], str] = lambda a, h: ""
    #: add a scratch value (shape, dtype, hint) that the node being emitted writes and reads (an arena slot
    #: live during that node only, e.g. GRU/LSTM's input projection) and get its value name
    add_temp: Callable[[tuple[int, ...], str, str], str] = lambda s, d, h: ""

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.graph.values[name].shape)  # type: ignore[arg-type]

    def numel(self, name: str) -> int:
        return math.prod(self.shape(name))

    def const(self, name: str) -> Optional[np.ndarray]:
        v = self.graph.values.get(name) if name else None
        return None if v is None else v.const

    def elem_bytes(self, dtype: str) -> int:
        return 2 if (dtype in FLOAT_DTYPES and self.precision == "f16") else 4

    def storage_type(self, dtype: str) -> str:
        if dtype in FLOAT_DTYPES:
            return "f16" if self.precision == "f16" else "f32"
        return "u32" if dtype == "uint64" else _INT_TYPES[dtype]

    @staticmethod
    def compute_type(dtype: str) -> str:
        """The WGSL type kernels compute with: f32, i32, u32, or bool (stored as u32 0/1)."""
        return compute_type(dtype)

    def part_elems(self, name: str) -> Optional[int]:
        """Elements per binding part when the value is split across bindings, else None."""
        v = self.graph.values[name]
        nbytes = v.numel() * self.elem_bytes(v.dtype)
        if nbytes <= MAX_BINDING_BYTES:
            return None
        return MAX_BINDING_BYTES // self.elem_bytes(v.dtype)

    def n_parts(self, name: str) -> int:
        per = self.part_elems(name)
        return 1 if per is None else -(-self.graph.values[name].numel() // per)


class KernelBuilder:
    """Collects bindings and accessor functions; ``source(main)`` assembles the shader."""

    def __init__(self, ctx: KernelContext) -> None:
        self.ctx = ctx
        self.bindings: list[tuple[str, Optional[int]]] = []
        self._binding_of: dict[tuple[str, Optional[int]], int] = {}
        self.decls: list[str] = []
        self.overrides: dict[str, int] = {}
        self._uses_f16 = False

    def _bind(self, value: str, part: Optional[int], access: str, stype: str) -> str:
        key = (value, part)
        if key not in self._binding_of:
            idx = len(self.bindings)
            self._binding_of[key] = idx
            self.bindings.append(key)
            self.decls.append(f"@group(0) @binding({idx}) var<storage, {access}> buf{idx}: array<{stype}>;")
        return f"buf{self._binding_of[key]}"

    def _access(self, value: str) -> str:
        return "read" if self.ctx.graph.values[value].is_const else "read_write"

    def load(self, var: str, value: str) -> str:
        """Declare ``fn ld_<var>(i: u32) -> T`` reading ``value``; T = ``compute_type(dtype)`` (f32 for
        float32 whatever the storage, i32 for signed integers, u32 for unsigned ones, bool for bool)."""
        v = self.ctx.graph.values[value]
        stype = self.ctx.storage_type(v.dtype)
        self._uses_f16 |= stype == "f16"
        rtype = compute_type(v.dtype)
        if stype == "f16":
            conv = lambda e: f"f32({e})"  # noqa: E731
        elif rtype == "bool":
            conv = lambda e: f"({e} != 0u)"  # noqa: E731
        else:
            conv = lambda e: e  # noqa: E731
        per = self.ctx.part_elems(value) if v.is_const else None
        if per is None:
            b = self._bind(value, None, self._access(value), stype)
            self.decls.append(f"fn ld_{var}(i: u32) -> {rtype} {{ return {conv(f'{b}[i]')}; }}")
        else:
            n = self.ctx.n_parts(value)
            names = [self._bind(value, p, "read", stype) for p in range(n)]
            lines = [f"fn ld_{var}(i: u32) -> {rtype} {{", f"  let p = i / {u(per)};", f"  let j = i - p * {u(per)};"]
            for p, b in enumerate(names[:-1]):
                lines.append(f"  if (p == {u(p)}) {{ return {conv(f'{b}[j]')}; }}")
            lines.append(f"  return {conv(f'{names[-1]}[j]')};")
            lines.append("}")
            self.decls.append("\n".join(lines))
        return f"ld_{var}"

    def store(self, var: str, value: str) -> str:
        """Declare ``fn st_<var>(i: u32, v: T)`` writing ``value`` (T as in :meth:`load`)."""
        v = self.ctx.graph.values[value]
        stype = self.ctx.storage_type(v.dtype)
        self._uses_f16 |= stype == "f16"
        b = self._bind(value, None, "read_write", stype)
        rtype = compute_type(v.dtype)
        val = f"{stype}(v)" if stype == "f16" else ("select(0u, 1u, v)" if rtype == "bool" else "v")
        if stype == "f32" and v.dtype in ROUNDING:
            val = f"{ROUNDING[v.dtype]}(v)"
        self.decls.append(f"fn st_{var}(i: u32, v: {rtype}) {{ {b}[i] = {val}; }}")
        return f"st_{var}"

    def override(self, name: str, default: int) -> None:
        self.overrides[name] = default

    def source(self, body: str) -> str:
        if len(self.bindings) > MAX_STORAGE_BINDINGS:
            raise ValueError(f"kernel needs {len(self.bindings)} storage bindings (at most {MAX_STORAGE_BINDINGS})")
        head = ["enable f16;"] if self._uses_f16 else []
        for _ in range(2):  # helper functions the code calls (helpers may call helpers), declared once
            text = "\n".join(self.decls) + body
            for name, src in HELPERS.items():
                if f"{name}(" in text and src not in self.decls:
                    self.decls.append(src)
        head += [f"override {k}: u32 = {u(v)};" for k, v in self.overrides.items()]
        text = "\n".join(self.decls) + body
        if _LITERAL_OF_RUN_TIME_SIZE.search(text):  # e.g. f"{n}i" with a run-time n: invalid WGSL
            raise SymbolicSizeError("a run-time size written where the kernel expects a literal")
        if DIMS_UNIFORM + "[" in text:
            n = max(1, -(-self.ctx.n_dims // 4))
            head.append(f"@group(0) @binding({len(self.bindings)}) var<uniform> {DIMS_UNIFORM}: array<vec4<i32>, {n}>;")
        return "\n".join(head + self.decls + [body.strip(), ""])

    def dispatch(self, body: str, invocations: Optional[list[int]] = None,
                 workgroups: Optional[list[int]] = None) -> Dispatch:
        source = self.source(body)
        reads_dims = any(isinstance(n, RuntimeSize) for n in [*(invocations or []), *(workgroups or [])])
        return Dispatch(source, list(self.bindings), dict(self.overrides), invocations, workgroups,
                        dims=f"var<uniform> {DIMS_UNIFORM}" in source or reads_dims)


# ---------------------------------------------------------------- common shader shapes

LINEAR_HEADER = ("@compute @workgroup_size(WG_X)\n"
                 "fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {\n"
                 "  let i = gid.x + gid.y * (nwg.x * WG_X);\n")


def linear_kernel(kb: KernelBuilder, total: int, body: str, wg: int = 64) -> Dispatch:
    """One thread per element ``i < total``; ``body`` is WGSL statements using ``i``."""
    kb.override("WG_X", wg)
    src = LINEAR_HEADER + f"  if (i >= {u(total)}) {{ return; }}\n" + indent(body) + "\n}\n"
    return kb.dispatch(src, invocations=[at_least_one(total), 1, 1])


def row_workgroups(rows: int) -> list[int]:
    """Workgroup counts for one workgroup per row (rows past 65535 fold into y; a run-time count as is)."""
    if isinstance(rows, RuntimeSize):
        return [rows, 1, 1]
    x = min(max(rows, 1), MAX_WORKGROUPS_PER_DIM)
    return [x, -(-max(rows, 1) // x), 1]


ROW_HEADER = ("@compute @workgroup_size(WG_X)\n"
              "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,\n"
              "        @builtin(local_invocation_index) li: u32) {\n"
              "  let row = wid.x + wid.y * nwg.x;\n")


def reduce_fn(name: str, op: str) -> str:
    """``fn <name>(v: f32) -> f32``: a workgroup-wide reduction over ``red`` for any WG_X.

    Every invocation of the workgroup must call it (uniform control flow); all get the result.
    """
    return (f"fn {name}(li: u32, v: f32) -> f32 {{\n"
            "  workgroupBarrier();\n"
            "  red[li] = v;\n"
            "  workgroupBarrier();\n"
            "  var s = WG_X;\n"
            "  while (s > 1u) {\n"
            "    let half = (s + 1u) / 2u;\n"
            "    if (li < s - half) {\n"
            f"      red[li] = {op.format(a='red[li]', b='red[li + half]')};\n"
            "    }\n"
            "    workgroupBarrier();\n"
            "    s = half;\n"
            "  }\n"
            "  let r = red[0];\n"
            "  workgroupBarrier();\n"
            "  return r;\n"
            "}\n")


def indent(text: str, n: int = 2) -> str:
    pad = " " * n
    return "\n".join(pad + line if line else line for line in text.strip("\n").split("\n"))


def decompose(var: str, dims: list[int], prefix: str = "c") -> list[str]:
    """WGSL statements splitting linear index ``var`` into coordinates ``{prefix}0..`` (row-major)."""
    if not dims:
        return []
    lines = [f"var {prefix}_r = {var};"]
    for d in range(len(dims) - 1, 0, -1):
        lines.append(f"let {prefix}{d} = {prefix}_r % {u(dims[d])}; {prefix}_r = {prefix}_r / {u(dims[d])};")
    lines.append(f"let {prefix}0 = {prefix}_r;")
    return lines


def dot(coords: list[str], strides: list[int]) -> str:
    terms = [f"{c} * {u(s)}" if s != 1 else c for c, s in zip(coords, strides) if s != 0]
    return " + ".join(terms) if terms else "0u"


def contiguous_strides(shape: tuple[int, ...] | list[int]) -> list[int]:
    return [math.prod(shape[i + 1:]) for i in range(len(shape))]


def collapse(shape: tuple[int, ...], strides: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """Merge adjacent axes contiguous in every operand; drop size-1 axes (webdnn_build.codegen)."""
    return collapse_axes(shape, strides)


# ---------------------------------------------------------------- activations

#: the WGSL of each kind of the fused-activation contract (webdnn_build.opdecl.ACTIVATION_KINDS): operand, then
#: the kind's parameters in the contract's order, as WGSL literals
ACTIVATION_WGSL: dict[str, Callable[..., str]] = {
    "Relu": lambda x: f"max({x}, 0.0f)",
    "LeakyRelu": lambda x, alpha: f"leaky({x}, {alpha})",
    "Clip": lambda x, lo, hi: f"min(max({x}, {lo}), {hi})",
    "Sigmoid": lambda x: f"sigm({x})",
    "Tanh": lambda x: f"tanh_({x})",
    "HardSigmoid": lambda x, alpha, beta: f"clamp({alpha} * ({x}) + {beta}, 0.0f, 1.0f)",
    "HardSwish": lambda x: f"hswish({x})",
    "Swish": lambda x, alpha: f"swish({x}, {alpha})",
}
ACTIVATIONS = tuple(ACTIVATION_WGSL)


def supported_activation(attrs: dict[str, Any]) -> bool:
    return attrs.get("fused_activation") in (None, *ACTIVATIONS)


def activation_expr(attrs: dict[str, Any], x: str) -> str:
    """The fused activation (docs/passes.md contract) applied to WGSL f32 expression ``x``."""
    kind, params = activation_params(attrs)
    if kind is None:
        return x
    if kind not in ACTIVATION_WGSL:
        raise ValueError(f"unknown fused activation {kind}")
    return ACTIVATION_WGSL[kind](x, *(f32lit(p) for p in params))


#: helper functions the expressions above may call (declared once per shader when used)
HELPERS = {
    "f32_bits": "fn f32_bits(b: u32) -> f32 { return bitcast<f32>(b); }",
    "leaky": "fn leaky(x: f32, a: f32) -> f32 { return select(a * x, x, x >= 0.0f); }",
    "sigm": "fn sigm(x: f32) -> f32 { return 1.0f / (1.0f + exp(-x)); }",
    "hswish": "fn hswish(x: f32) -> f32 { return x * clamp(x / 6.0f + 0.5f, 0.0f, 1.0f); }",
    "swish": "fn swish(x: f32, a: f32) -> f32 { return x * sigm(a * x); }",
    "erf_": ("fn erf_(x: f32) -> f32 {\n"
             "  let a = abs(x);\n"
             "  let t = 1.0f / (1.0f + 0.3275911f * a);\n"
             "  let y = 1.0f - (((((1.061405429f * t - 1.453152027f) * t) + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t * exp(-a * a);\n"
             "  return select(-y, y, x >= 0.0f);\n"
             "}"),
    # tanh without the cancellation of (e^2x - 1) / (e^2x + 1) near 0 (lavapipe's builtin loses 0.2% there)
    "tanh_": ("fn tanh_(x: f32) -> f32 {\n"
              "  let a = abs(x);\n"
              "  if (a < 0.125f) {\n"
              "    let x2 = x * x;\n"
              "    return x * (1.0f + x2 * (-0.33333334f + x2 * (0.13333334f + x2 * -0.053968254f)));\n"
              "  }\n"
              "  let e = exp(-2.0f * min(a, 15.0f));\n"
              "  let t = (1.0f - e) / (1.0f + e);\n"
              "  return select(-t, t, x >= 0.0f);\n"
              "}"),
    # log(1 + e^x) without cancellation for small e^x (log1p through Goldberg's correction)
    "softplus_": ("fn softplus_(x: f32) -> f32 {\n"
                  "  if (x > 20.0f) { return x; }\n"
                  "  let e = exp(x);\n"
                  "  let v = 1.0f + e;\n"
                  "  if (v == 1.0f) { return e; }\n"
                  "  return log(v) * e / (v - 1.0f);\n"
                  "}"),
    # inverse trigonometric functions through one atan with range reduction (lavapipe's asin/acos builtins are
    # 4e-4 off near ±1): |x| > 1 -> π/2 - atan(1/x), |x| > tan(π/8) -> π/4 + atan((x-1)/(x+1)), then the series
    "atan_": ("fn atan_(x: f32) -> f32 {\n"
              "  var t = abs(x);\n"
              "  var off = 0.0f;\n"
              "  var sgn = 1.0f;\n"
              "  if (t > 1.0f) { t = 1.0f / t; off = 1.5707964f; sgn = -1.0f; }\n"
              "  var off2 = 0.0f;\n"
              "  if (t > 0.41421357f) { t = (t - 1.0f) / (t + 1.0f); off2 = 0.7853982f; }\n"
              "  let t2 = t * t;\n"
              "  var p = -0.06666667f;\n"
              "  p = 0.07692308f + t2 * p; p = -0.09090909f + t2 * p; p = 0.11111111f + t2 * p;\n"
              "  p = -0.14285715f + t2 * p; p = 0.2f + t2 * p; p = -0.33333334f + t2 * p;\n"
              "  let a = off + sgn * (off2 + t + t * t2 * p);\n"
              "  return select(-a, a, x >= 0.0f);\n"
              "}"),
    "asin_": "fn asin_(x: f32) -> f32 { return atan_(x / sqrt((1.0f - x) * (1.0f + x))); }",
    "acos_": "fn acos_(x: f32) -> f32 { return 2.0f * atan_(sqrt((1.0f - x) / (1.0f + x))); }",
    # hyperbolic functions without the builtins' cancellation near 0 (odd Taylor series there)
    "sinh_": ("fn sinh_(x: f32) -> f32 {\n"
              "  if (abs(x) < 0.5f) { let x2 = x * x; return x * (1.0f + x2 * (0.16666667f + x2 * (0.008333334f + x2 * 0.0001984127f))); }\n"
              "  let e = exp(x);\n"
              "  return 0.5f * (e - 1.0f / e);\n"
              "}"),
    "cosh_": "fn cosh_(x: f32) -> f32 { let e = exp(x); return 0.5f * (e + 1.0f / e); }",
    "asinh_": ("fn asinh_(x: f32) -> f32 {\n"
               "  let a = abs(x);\n"
               "  if (a < 0.125f) { let x2 = x * x; return x * (1.0f + x2 * (-0.16666667f + x2 * (0.075f + x2 * -0.044642857f))); }\n"
               "  let r = log(a + sqrt(a * a + 1.0f));\n"
               "  return select(-r, r, x >= 0.0f);\n"
               "}"),
    "acosh_": "fn acosh_(x: f32) -> f32 { return log(x + sqrt(x * x - 1.0f)); }",
    "atanh_": ("fn atanh_(x: f32) -> f32 {\n"
               "  if (abs(x) < 0.125f) { let x2 = x * x; return x * (1.0f + x2 * (0.33333334f + x2 * (0.2f + x2 * 0.14285715f))); }\n"
               "  return 0.5f * log((1.0f + x) / (1.0f - x));\n"
               "}"),
    # float32 -> the nearest float16 / bfloat16 (ties to even), as f32: what storing a value of those dtypes
    # in an f32 buffer means (overflow -> ±inf; NaN and inf kept)
    "f16r_": ("fn f16r_(x: f32) -> f32 {\n"
              "  let b = bitcast<u32>(x);\n"
              "  if ((b & 0x7f800000u) == 0x7f800000u) { return x; }\n"
              "  let s = b & 0x80000000u;\n"
              "  let a = abs(x);\n"
              "  if (a >= 65520.0f) { return bitcast<f32>(s | 0x7f800000u); }\n"
              "  if (a < 6.103515625e-05f) {\n"
              "    return bitcast<f32>(bitcast<u32>(round(a * 16777216.0f) / 16777216.0f) | s);\n"
              "  }\n"
              "  return bitcast<f32>((b + 0xfffu + ((b >> 13u) & 1u)) & 0xffffe000u);\n"
              "}"),
    "bf16r_": ("fn bf16r_(x: f32) -> f32 {\n"
               "  let b = bitcast<u32>(x);\n"
               "  if ((b & 0x7f800000u) == 0x7f800000u) { return x; }\n"
               "  return bitcast<f32>((b + 0x7fffu + ((b >> 16u) & 1u)) & 0xffff0000u);\n"
               "}"),
    # NaN/Inf tests on the bits: compilers may fold `x != x` away under fast-math assumptions
    "isnan_": "fn isnan_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }",
    "isinf_": "fn isinf_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }",
    # float -> 32-bit integer like a js typed-array store (the js Cast kernel): truncate toward zero,
    # NaN/Inf -> 0, out of range wraps modulo 2^32 (WGSL's i32(f32) would saturate). The modulo is
    # exact in f32: t and k * 2^32 are representable and so is their difference.
    "f2i_": ("fn f2i_(x: f32) -> i32 {\n"
             "  if ((bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u) { return 0i; }\n"
             "  let t = trunc(x);\n"
             "  if (abs(t) < 2147483648.0f) { return i32(t); }\n"
             "  let m = t - floor(t / 4294967296.0f) * 4294967296.0f;\n"
             "  return bitcast<i32>(u32(m));\n"
             "}"),
    # integer division truncating toward zero; x / 0 = 0 like the js kernels (WGSL would give x)
    "idiv_": "fn idiv_(a: i32, b: i32) -> i32 { if (b == 0i) { return 0i; } return a / b; }",
    # integer Mod (fmod=0: the sign of the divisor; fmod=1: of the dividend); x mod 0 = 0
    "imod_": ("fn imod_(a: i32, b: i32) -> i32 {\n"
              "  if (b == 0i) { return 0i; }\n"
              "  let r = a % b;\n"
              "  return select(r, r + b, r != 0i && ((r < 0i) != (b < 0i)));\n"
              "}"),
    "itmod_": "fn itmod_(a: i32, b: i32) -> i32 { if (b == 0i) { return 0i; } return a % b; }",
    "udiv_": "fn udiv_(a: u32, b: u32) -> u32 { if (b == 0u) { return 0u; } return a / b; }",
    "umod_": "fn umod_(a: u32, b: u32) -> u32 { if (b == 0u) { return 0u; } return a % b; }",
    # shifts by the bit width or more give 0 (WGSL would shift by the amount mod 32)
    "shl_": "fn shl_(a: u32, b: u32) -> u32 { return select(0u, a << (b & 31u), b < 32u); }",
    "shr_": "fn shr_(a: u32, b: u32) -> u32 { return select(0u, a >> (b & 31u), b < 32u); }",
    "powf": ("fn powf(a: f32, b: f32) -> f32 {\n"
             "  if (b == 0.0f) { return 1.0f; }\n"
             "  if (b == 1.0f) { return a; }\n"
             "  if (b == 2.0f) { return a * a; }\n"
             "  if (a == 0.0f) { return select(f32_bits(0x7f800000u), 0.0f, b > 0.0f); }\n"
             "  let r = pow(abs(a), b);\n"
             "  if (a > 0.0f) { return r; }\n"
             "  if (round(b) != b) { return f32_bits(0x7fc00000u); }\n"
             "  return select(r, -r, fract(b * 0.5f) != 0.0f);\n"
             "}"),
}


#: the rounding helper of each dtype stored as f32 with less precision
ROUNDING = {"float16": "f16r_", "bfloat16": "bf16r_"}


def with_helpers(kb: KernelBuilder, *exprs: str) -> None:
    """Declare the helper functions any of ``exprs`` calls."""
    text = " ".join(exprs)
    for name, src in HELPERS.items():
        if f"{name}(" in text and src not in kb.decls:
            kb.decls.append(src)


def _max_numel(graph: Graph, v) -> Optional[int]:
    """Elements of a value: exact when static, else the most its open dims' ranges allow (None: unbounded or not
    a shape of ints and run-time sizes, or run-time sizes outside runtime_size.sizes_at_run_time)."""
    if v.is_static:
        return v.numel()
    if not accepting() or v.shape is None or not all(isinstance(d, (int, RuntimeSize)) for d in v.shape):
        return None
    n = 1
    for d in v.shape:
        hi = d if isinstance(d, int) else bounds(d.e, graph.dims)[1]
        if hi == math.inf:
            return None
        n *= int(hi)
    return n


def float32_static(graph: Graph, names: list[str], max_bytes: int = MAX_BINDING_BYTES) -> bool:
    """Every non-empty name is a static float32 value that fits one binding (constants may be split)."""
    return gpu_static(graph, names, ("float32",), max_bytes)


def compute_type(dtype: str) -> str:
    if dtype in FLOAT_DTYPES:
        return "f32"
    if dtype == "bool":
        return "bool"
    return "u32" if dtype == "uint64" else _INT_TYPES[dtype]


def const_fits_i32(graph: Graph, name: str) -> bool:
    """A constant of a 64-bit integer dtype has every element within int32 (the GPU stores 32 bits)."""
    v = graph.values.get(name) if name else None
    if v is None or v.const is None or v.dtype not in ("int64", "uint64"):
        return True
    a = np.asarray(v.const)
    if v.dtype == "uint64":
        return a.size == 0 or int(a.max()) < (1 << 32)
    return a.size == 0 or (int(a.min()) >= INT32_MIN and int(a.max()) <= INT32_MAX)


def gpu_static(graph: Graph, names: list[str], dtypes: Optional[frozenset[str] | set[str] | tuple[str, ...]] = None,
               max_bytes: int = MAX_BINDING_BYTES) -> bool:
    """Like :func:`float32_static` for any dtype in ``dtypes`` (default: every dtype that can live on
    the GPU); an int64 constant must fit in int32 (it is stored as i32)."""
    allowed = GPU_DTYPES if dtypes is None else dtypes
    for n in names:
        if not n:
            continue
        v = graph.values.get(n)
        if v is None or v.dtype not in allowed or v.dtype not in STORABLE_DTYPES:
            return False
        most = _max_numel(graph, v)
        if most is None or (not v.is_const and most * 4 > max_bytes):
            return False
        if not const_fits_i32(graph, n):
            return False
    return True


def literal(dtype: str, x: Any) -> Optional[str]:
    """A WGSL literal of ``x`` in the compute type of ``dtype`` (None: not representable on the GPU)."""
    ct = compute_type(dtype) if dtype in COPY_DTYPES else None  # float64 has no exact f32 literal
    if ct == "f32":
        return f32lit(float(x))
    if ct == "bool":
        return "true" if bool(x) else "false"
    if ct == "i32":
        x = int(x)
        if x < INT32_MIN or x > INT32_MAX:
            return None
        return "bitcast<i32>(0x80000000u)" if x == INT32_MIN else f"({x}i)" if x < 0 else f"{x}i"
    if ct == "u32":
        x = int(x)
        return f"{x}u" if 0 <= x < (1 << 32) else None
    return None


class Emitter:
    """Base class: one per op family."""

    ops: tuple[str, ...] = ()
    domain: str = ""
    #: takes values sized by open dims: its supports() and emit() compute with the sizes only through arithmetic
    #: (no comparisons, range or int of a size; WExpr raises SymbolicSizeError), read through ctx.shape
    symbolic: bool = False

    def supports(self, node: Node, graph: Graph) -> bool:
        raise NotImplementedError

    def emit(self, node: Node, ctx: KernelContext) -> list[Dispatch]:
        raise NotImplementedError


def const_ints(ctx_or_graph: Any, name: str) -> Optional[list[int]]:
    graph = ctx_or_graph.graph if isinstance(ctx_or_graph, KernelContext) else ctx_or_graph
    v = graph.values.get(name) if name else None
    if v is None or v.const is None:
        return None
    return [int(x) for x in np.asarray(v.const).ravel()]

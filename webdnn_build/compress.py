"""Build-time weight compression (issue 11): ``--quantize fp16|int8|int4[:B]|eightbit`` per model and per tensor-name pattern, and
the accuracy it costs, measured on the built bundle.

Which constants: float32 tensors of rank 2 or more with at least ``MIN_ELEMENTS`` elements (vectors, such as
biases and norm parameters, stay float32: little to gain, and they shift or scale everything after them). The mode of a constant is the last matching
``PATTERN=MODE`` (fnmatch on the constant's name), else the default mode.

- ``fp16``: stored as IEEE half precision (the runtime widens it to float32 at load; compute stays float32).
- ``int8``: the weight operand of Conv / Gemm / MatMul symmetric per output channel (``scale = max|w| / 127`` per
  channel, zero point 0); any other constant asymmetric per tensor (``scale = (max - min) / 255``, a zero point).
  Constants under ``INT8_AS_FP16_BELOW`` (16384) elements are stored as fp16 instead (where 8 bits cost most),
  smallest first up to 2% of the int8 elements, unless a ``PATTERN=MODE`` names them.
- ``int4`` / ``int4:B``: 2-D MatMul / Gemm weights in blocks of B (default 32; a power of two from 16 to 1024) along
  the reduction axis (MatMulNBits' layout, a scale per block, zero point 8); other constants as int8.
- ``eightbit``: WebDNN's (2017) encoding, reworked: one byte per element, a sign bit and a 7-bit index into a
  non-linear table of 128 magnitudes, times one float32 scale per tensor from its max |w| (``_eightbit``).

Every backend computes with the dequantized values: the graph's constants are replaced by their round trip
(quantize, then dequantize exactly as the runtime's decodeConstant does: float32 products), so whatever a backend
derives from them at build time agrees with what the runtime decodes at load, which happens once, never per run.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .errors import ConfigError
from .ir import Graph

MODES = ("none", "fp16", "int8", "int4", "eightbit")
#: int4: elements per block along the reduction axis (MatMulNBits' default); ``int4:B`` picks another
INT4_BLOCK = 32
#: the blocks ``int4:B`` accepts: powers of two in this range (MatMulNBits takes powers of two >= 16; beyond 1024 a
#: block's one scale covers too much of a column to be worth its 4 bytes less)
INT4_BLOCK_RANGE = (16, 1024)
#: float32 constants smaller than this stay float32
MIN_ELEMENTS = 1024
#: int8 (and int4's int8 fallback): constants smaller than this are stored as fp16 instead. Small weights (early
#: 1x1 projection convs, depthwise kernels) are a few percent of a model's bytes but where 8-bit error is amplified
#: most: on EfficientNet-Lite0 this moves top-1 agreement with float32 from 90.0% to 95.0% of 160 inputs for
#: 0.259x -> 0.263x of the float32 bytes (tools/compression_report.py, docs/compression.md).
INT8_AS_FP16_BELOW = 16384
#: ... smallest first, up to this fraction of the elements the build stores as int8 (PP-OCRv4's recognizer has
#: many small tensors that gain nothing from it: uncapped, its int8 bundle grew from 0.262x to 0.275x)
INT8_FP16_BUDGET = 0.02
#: (op type, input index) of the operands quantized per output channel, and how to find that channel's axis
_CHANNEL_AXIS = {("Conv", 1): lambda node, rank: 0, ("MatMul", 1): lambda node, rank: rank - 1,
                 ("Gemm", 1): lambda node, rank: 0 if node.attrs.get("transB") else 1}


@dataclass
class QuantizeSpec:
    """The default mode and the ``(pattern, mode)`` overrides, later ones winning."""

    default: str = "none"
    patterns: list[tuple[str, str]] = field(default_factory=list)

    def mode_for(self, name: str) -> str:
        mode = self.default
        for pattern, m in self.patterns:
            if fnmatch.fnmatchcase(name, pattern):
                mode = m
        return mode

    def matched(self, name: str) -> bool:
        """Some ``PATTERN=MODE`` names this constant: its mode is then applied as given (no fp16 for small int8
        constants, see INT8_AS_FP16_BELOW)."""
        return any(fnmatch.fnmatchcase(name, pattern) for pattern, _ in self.patterns)

    @property
    def active(self) -> bool:
        return self.default != "none" or any(m != "none" for _, m in self.patterns)

    def to_json(self) -> dict[str, Any]:
        return {"default": self.default, "patterns": [[p, m] for p, m in self.patterns]}


def check_mode(text: str) -> str:
    """A mode as written (case and surrounding spaces aside) in its canonical form: one of ``MODES``, or ``int4:B``
    (``B`` without leading zeros); a ValueError saying what is accepted otherwise."""
    mode = text.strip().lower()
    if mode in MODES:
        return mode
    kind, colon, block = mode.partition(":")
    if kind == "int4" and colon:
        lo, hi = INT4_BLOCK_RANGE
        if not (block.isascii() and block.isdigit()) or not lo <= int(block) <= hi or int(block) & (int(block) - 1):
            raise ValueError(f"the int4 block must be a power of two from {lo} to {hi} (int4:16, int4:32, ..., "
                             f"int4:{hi}), not {block!r}")
        return f"int4:{int(block)}"
    raise ValueError(f"the mode must be one of {', '.join(MODES)} or int4:B (B a power of two from "
                     f"{INT4_BLOCK_RANGE[0]} to {INT4_BLOCK_RANGE[1]})")


def int4_block(mode: str) -> Optional[int]:
    """The block size of a canonical ``int4`` / ``int4:B`` mode; None for the other modes."""
    if mode == "int4":
        return INT4_BLOCK
    return int(mode[5:]) if mode.startswith("int4:") else None


def parse_quantize(specs: list[str]) -> QuantizeSpec:
    """``--quantize MODE`` (the default) and ``--quantize PATTERN=MODE`` (repeatable)."""
    spec = QuantizeSpec()
    for item in specs:
        pattern, sep, mode = item.rpartition("=")
        try:
            mode = check_mode(mode)
        except ValueError as exc:
            raise ConfigError(f"--quantize {item!r}: {exc}") from None
        if sep:
            if not pattern:
                raise ConfigError(f"--quantize {item!r}: expected PATTERN=MODE")
            spec.patterns.append((pattern, mode))
        else:
            spec.default = mode
    return spec


@dataclass
class Encoded:
    """A compressed constant: its descriptor fields (without offsets) and its byte payloads in order."""

    descriptor: dict[str, Any]
    payloads: list[np.ndarray]
    #: bytes as float32, stored
    raw_bytes: int
    stored_bytes: int


class Compressed(dict):
    """What ``compress_graph`` returns: constant name -> Encoded, and what the bundle writer needs to know of them."""

    @property
    def uses_eightbit(self) -> bool:
        """Some constant is stored as eightbit codes. Their distribution is far from uniform (most weights lie in a few
        binades of the table, and every zero is the same byte), so the weight shards deflate well: the issue's
        "eightbit, then deflate" (the compiler turns shard deflate on for such builds)."""
        return any(e.descriptor["encoding"] == "eightbit" for e in self.values())


def compress_graph(graph: Graph, spec: QuantizeSpec) -> Compressed:
    """Choose and apply each constant's mode: replace its value in the graph by the round trip, and return the
    encodings the weight packer stores (constant name -> Encoded)."""
    if not spec.active:
        return Compressed()
    axes: dict[str, Optional[int]] = {}
    products: set[str] = set()  # 2-D weights of MatMul / Gemm (int4 applies to them)
    for node in graph.nodes:
        for (op, index), axis in _CHANNEL_AXIS.items():
            if node.op_type == op and node.domain in ("", "ai.onnx") and len(node.inputs) > index:
                v = graph.values.get(node.inputs[index])
                if v is not None and v.const is not None and np.ndim(v.const) >= 2:
                    axes.setdefault(node.inputs[index], axis(node, np.ndim(v.const)))
                    if op != "Conv" and np.ndim(v.const) == 2:
                        products.add(node.inputs[index])
    chosen = []  # (value, mode) of the constants to compress
    for v in graph.constants():
        if v.dtype != "float32" or np.size(v.const) < MIN_ELEMENTS or np.ndim(v.const) < 2:
            continue  # (vectors: biases, norm scales, which every output element sums or scales directly)
        mode = spec.mode_for(v.name)
        if mode != "none" and np.isfinite(v.const).all():  # (infinities and NaNs: no 8-bit or half form worth the risk)
            chosen.append((v, mode))
    as_fp16 = _small_int8_as_fp16([(v, m) for v, m in chosen if not (int4_block(m) and v.name in products)], spec)
    out = Compressed()
    for v, mode in chosen:
        array = np.ascontiguousarray(np.asarray(v.const, np.float32))
        block = int4_block(mode)
        if block is not None and v.name in products:  # blocks along the reduction axis, the other one being axes'
            done = _int4(array, 1 - axes[v.name], block)
        elif mode == "eightbit":  # (per tensor: no axis)
            done = _eightbit(array)
        else:  # (int4 elsewhere: int8)
            done = (_fp16 if mode == "fp16" or v.name in as_fp16 else _int8)(array, axes.get(v.name))
        if done is not None:
            out[v.name], v.const = done
    return out


def _small_int8_as_fp16(chosen: list, spec: QuantizeSpec) -> set[str]:
    """The int8 constants stored as fp16 instead: those under INT8_AS_FP16_BELOW elements that no pattern names,
    smallest first, while they hold at most INT8_FP16_BUDGET of the int8 elements (so the bundle grows by at most
    about half a percent of the float32 bytes)."""
    int8 = [v for v, m in chosen if m == "int8" or int4_block(m)]
    total = sum(int(np.size(v.const)) for v in int8)
    small = sorted((v for v in int8 if np.size(v.const) < INT8_AS_FP16_BELOW and not spec.matched(v.name)),
                   key=lambda v: (int(np.size(v.const)), v.name))
    picked, used = set(), 0
    for v in small:
        used += int(np.size(v.const))
        if used > INT8_FP16_BUDGET * total:
            break
        picked.add(v.name)
    return picked


def _fp16(a: np.ndarray, axis: Optional[int]) -> Optional[tuple[Encoded, np.ndarray]]:
    half = a.astype(np.float16)
    if not np.isfinite(half).all():  # beyond half's range: the constant stays float32
        return None
    return (Encoded({"encoding": "fp16"}, [half.view(np.uint16).astype("<u2")], a.nbytes, half.nbytes),
            half.astype(np.float32))


def _int8(a: np.ndarray, axis: Optional[int]) -> Optional[tuple[Encoded, np.ndarray]]:
    if axis is not None:  # symmetric per output channel
        moved = np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1)
        scales = (np.max(np.abs(moved), axis=1) / 127).astype(np.float32)
        scales[scales == 0] = 1
        q = np.clip(np.rint(moved / scales[:, None]), -127, 127).astype(np.int8)
        back = (q.astype(np.float32) * scales[:, None]).astype(np.float32)
        q_full = np.moveaxis(q.reshape((a.shape[axis], *np.delete(a.shape, axis))), 0, axis)
        back_full = np.moveaxis(back.reshape((a.shape[axis], *np.delete(a.shape, axis))), 0, axis)
        desc = {"encoding": "int8", "axis": int(axis)}
        return Encoded(desc, [np.ascontiguousarray(q_full), scales.astype("<f4")], a.nbytes,
                       q.nbytes + scales.nbytes), np.ascontiguousarray(back_full)
    lo, hi = float(min(a.min(), 0.0)), float(max(a.max(), 0.0))
    scale = np.float32((hi - lo) / 255 or 1.0)
    zero = int(np.clip(np.rint(-128 - lo / float(scale)), -128, 127))
    q = np.clip(np.rint(a / scale) + zero, -128, 127).astype(np.int8)
    back = ((q.astype(np.int32) - zero).astype(np.float32) * scale).astype(np.float32)
    desc = {"encoding": "int8", "scale": float(scale), "zeroPoint": zero}
    return Encoded(desc, [q], a.nbytes, q.nbytes), back


def _int4(a: np.ndarray, k_axis: int, block: int = INT4_BLOCK) -> Optional[tuple[Encoded, np.ndarray]]:
    """A 2-D product weight in blocks of ``block`` elements along its reduction axis ``k_axis``, per output column
    n: 4-bit codes q in [0, 15] with zero point 8 (``w = (q - 8) * scale``, ``scale = max|w| / 7`` per block), two
    codes a byte (the first in the low nibble), laid out [N][blocks][block / 2] as MatMulNBits stores B; float32
    scales [N][blocks]. A short last block is padded with code 8 (zero)."""
    w = np.moveaxis(a, k_axis, 1)  # [N, K]
    n, k = w.shape
    blocks = -(-k // block)
    padded = np.zeros((n, blocks * block), np.float32)
    padded[:, :k] = w
    grouped = padded.reshape(n, blocks, block)
    scales = (np.max(np.abs(grouped), axis=2) / 7).astype(np.float32)
    scales[scales == 0] = 1
    q = (np.clip(np.rint(grouped / scales[:, :, None]), -8, 7) + 8).astype(np.uint8)
    back = ((q.astype(np.int32) - 8).astype(np.float32) * scales[:, :, None]).reshape(n, -1)[:, :k]
    packed = (q[:, :, 0::2] | (q[:, :, 1::2] << 4)).astype(np.uint8)
    desc = {"encoding": "int4", "axis": int(k_axis), "block": block}
    return (Encoded(desc, [np.ascontiguousarray(packed), scales.astype("<f4")], a.nbytes, packed.nbytes + scales.nbytes),
            np.ascontiguousarray(np.moveaxis(back.astype(np.float32), 1, k_axis)))


def _eightbit_magnitudes() -> np.ndarray:
    """The eightbit table: code c (7 bits) = 16 e + m selects the magnitude of a float with a 3-bit exponent e and a
    4-bit mantissa m, subnormals included, in units of its smallest step: m for e = 0, (16 + m) * 2^(e - 1) above
    (0, 1, ..., 15, 16, 17, ..., 31, 32, 34, ..., 62, 64, 68, ..., 1984). Like WebDNN's table (Dettmers' 8-bit
    approximation), it spends its codes evenly over the orders of magnitude rather than over the range: a relative
    step of 1/16 to 1/31 from 1/124 of the tensor's max |w| up (uniform below), so that a few outliers, which set
    the scale, cost the bulk of the weights little precision. Unlike WebDNN's decimal table, every entry is a small
    integer: exact in float32 and in JS numbers, and computed here and in the runtime with integer arithmetic only,
    so both sides hold the very same table (no exp / pow whose last bit may differ between numpy and JS Math)."""
    code = np.arange(128)
    exponent, mantissa = code >> 4, code & 15
    return np.where(exponent == 0, mantissa, (16 + mantissa) << np.maximum(exponent - 1, 0)).astype(np.float32)


#: eightbit: the 128 magnitudes (``_eightbit_magnitudes``), and the largest one, which the tensor's max |w| maps to
EIGHTBIT_MAGNITUDES = _eightbit_magnitudes()
EIGHTBIT_MAX = int(EIGHTBIT_MAGNITUDES[-1])  # 1984
#: the values halfway between neighbouring magnitudes (exact in float64): a magnitude's code is its nearest entry's
_EIGHTBIT_MIDPOINTS = (EIGHTBIT_MAGNITUDES[1:].astype(np.float64) + EIGHTBIT_MAGNITUDES[:-1]) / 2


def _eightbit(a: np.ndarray, step: int = 1 << 20) -> Optional[tuple[Encoded, np.ndarray]]:
    """Any float32 tensor as one byte per element: bit 7 the sign (set for negative values whose magnitude is not
    rounded to zero, so that zero has one code), bits 0-6 the nearest entry of ``EIGHTBIT_MAGNITUDES`` to
    ``|w| / scale``, with one float32 ``scale = max|w| / 1984`` per tensor; the value is ``±magnitude * scale``
    (a float32 product, as the runtime computes it). Encoded ``step`` elements at a time (float64 temporaries of a
    bounded size, whatever the tensor's). A tensor whose scale underflows to zero, or whose largest value overflows
    float32 on the way back, stays float32."""
    peak = float(np.max(np.abs(a))) if a.size else 0.0
    scale = np.float32(peak / EIGHTBIT_MAX) if peak else np.float32(1)
    with np.errstate(over="ignore"):  # (checked below)
        decoded = np.concatenate([EIGHTBIT_MAGNITUDES, -EIGHTBIT_MAGNITUDES]) * scale  # float32: byte -> value
    if scale == 0 or not np.isfinite(decoded).all():
        return None
    flat = a.reshape(-1)
    codes = np.empty(flat.size, np.uint8)
    for start in range(0, flat.size, step):
        part = flat[start:start + step]
        magnitude = np.searchsorted(_EIGHTBIT_MIDPOINTS, np.abs(part, dtype=np.float64) / float(scale))
        codes[start:start + step] = magnitude | (((part < 0) & (magnitude > 0)) << 7)
    codes = codes.reshape(a.shape)
    desc = {"encoding": "eightbit", "scale": float(scale)}
    return Encoded(desc, [codes], a.nbytes, codes.nbytes), decoded[codes]


def summary(encoded: dict[str, Encoded], spec: QuantizeSpec) -> dict[str, Any]:
    """The manifest's ``compression`` entry (without the accuracy report)."""
    by_mode: dict[str, int] = {}
    for e in encoded.values():
        by_mode[e.descriptor["encoding"]] = by_mode.get(e.descriptor["encoding"], 0) + 1
    return {"quantize": spec.to_json(), "tensors": by_mode,
            "rawBytes": sum(e.raw_bytes for e in encoded.values()),
            "storedBytes": sum(e.stored_bytes for e in encoded.values())}


# -- the accuracy a compressed build costs -------------------------------------------------------------------------

def accuracy(ours: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per float output: cosine similarity, max abs error and, for classifier-shaped outputs (rank >= 2, the last
    axis the classes), the share of rows whose argmax agrees."""
    report: dict[str, dict[str, float]] = {}
    for name, ref in reference.items():
        got = ours.get(name)
        if got is None or not isinstance(ref, np.ndarray) or ref.dtype.kind != "f" or got.shape != ref.shape:
            continue
        a, b = got.astype(np.float64).ravel(), ref.astype(np.float64).ravel()
        norm = float(np.linalg.norm(a) * np.linalg.norm(b))
        entry = {"cosine": float(a @ b / norm) if norm else float(np.array_equal(a, b)),
                 "maxAbsError": float(np.max(np.abs(a - b))) if a.size else 0.0}
        if ref.ndim >= 2 and ref.shape[-1] >= 2:
            rows_got, rows_ref = got.reshape(-1, ref.shape[-1]), ref.reshape(-1, ref.shape[-1])
            entry["top1Agreement"] = float(np.mean(rows_got.argmax(-1) == rows_ref.argmax(-1)))
        report[name] = entry
    return report


def accuracy_loss(report: dict[str, dict[str, float]]) -> float:
    """The largest loss over the outputs: 1 - cosine, and 1 - top-1 agreement where there is one."""
    loss = 0.0
    for entry in report.values():
        loss = max(loss, 1.0 - entry["cosine"], 1.0 - entry.get("top1Agreement", 1.0))
    return loss

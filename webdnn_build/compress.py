"""Build-time weight compression (issue 11): ``--quantize fp16|int8`` per model and per tensor-name pattern, and
the accuracy it costs, measured on the built bundle.

Which constants: float32 tensors of rank 2 or more with at least ``MIN_ELEMENTS`` elements (vectors, such as
biases and norm parameters, stay float32: little to gain, and they shift or scale everything after them). The mode of a constant is the last matching
``PATTERN=MODE`` (fnmatch on the constant's name), else the default mode.

- ``fp16``: stored as IEEE half precision (the runtime widens it to float32 at load; compute stays float32).
- ``int8``: the weight operand of Conv / Gemm / MatMul symmetric per output channel (``scale = max|w| / 127`` per
  channel, zero point 0); any other constant asymmetric per tensor (``scale = (max - min) / 255``, a zero point).
- ``int4``: 2-D MatMul / Gemm weights in blocks of 32 along the reduction axis (MatMulNBits' layout, a scale per
  block, zero point 8); other constants as int8.

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

MODES = ("none", "fp16", "int8", "int4")
#: int4: elements per block along the reduction axis (a power of two >= 16; MatMulNBits' default)
INT4_BLOCK = 32
#: float32 constants smaller than this stay float32
MIN_ELEMENTS = 1024
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

    @property
    def active(self) -> bool:
        return self.default != "none" or any(m != "none" for _, m in self.patterns)

    def to_json(self) -> dict[str, Any]:
        return {"default": self.default, "patterns": [[p, m] for p, m in self.patterns]}


def parse_quantize(specs: list[str]) -> QuantizeSpec:
    """``--quantize MODE`` (the default) and ``--quantize PATTERN=MODE`` (repeatable)."""
    spec = QuantizeSpec()
    for item in specs:
        pattern, sep, mode = item.rpartition("=")
        mode = mode.strip().lower()
        if mode not in MODES:
            raise ConfigError(f"--quantize {item!r}: the mode must be one of {', '.join(MODES)}")
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


def compress_graph(graph: Graph, spec: QuantizeSpec) -> dict[str, Encoded]:
    """Choose and apply each constant's mode: replace its value in the graph by the round trip, and return the
    encodings the weight packer stores (constant name -> Encoded)."""
    if not spec.active:
        return {}
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
    out: dict[str, Encoded] = {}
    for v in graph.constants():
        if v.dtype != "float32" or np.size(v.const) < MIN_ELEMENTS or np.ndim(v.const) < 2:
            continue  # (vectors: biases, norm scales, which every output element sums or scales directly)
        mode = spec.mode_for(v.name)
        if mode == "none":
            continue
        array = np.ascontiguousarray(np.asarray(v.const, np.float32))
        if not np.isfinite(array).all():
            continue  # (infinities and NaNs have no 8-bit or half form worth the risk)
        if mode == "int4" and v.name in products:  # blocks along the reduction axis, the other one being axes'
            done = _int4(array, 1 - axes[v.name])
        else:  # (int4 elsewhere: int8)
            done = (_fp16 if mode == "fp16" else _int8)(array, axes.get(v.name))
        if done is not None:
            out[v.name], v.const = done
    return out


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

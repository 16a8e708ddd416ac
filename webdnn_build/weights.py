"""Packing constants into the bundle's weight file (see docs/bundle-format.md)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .ir import Graph, Value

ALIGN = 16

#: on-disk element types; float16/bfloat16 travel as their 16-bit patterns
_DISK_DTYPES = {
    "float32": "<f4", "float64": "<f8", "float16": "<u2", "bfloat16": "<u2",
    "int8": "i1", "uint8": "u1", "int16": "<i2", "uint16": "<u2", "int32": "<i4", "uint32": "<u4",
    "int64": "<i8", "uint64": "<u8", "bool": "u1",
}


def _json_scalar(x: Any, dtype: str) -> Any:
    if dtype in ("int64", "uint64"):
        return str(int(x))  # beyond 2**53 a JSON number would lose precision
    if dtype == "bool":
        return int(bool(x))
    if dtype in ("float16", "bfloat16", "float32", "float64"):
        f = float(x)
        if np.isnan(f):
            return "NaN"
        if np.isinf(f):
            return "Infinity" if f > 0 else "-Infinity"
        return f
    return int(x)


def _as_disk_array(value: Value) -> np.ndarray:
    arr = np.asarray(value.const)
    if value.dtype == "float16":
        return arr.astype(np.float16).view(np.uint16)
    if value.dtype == "bfloat16":
        return arr.view(np.uint16) if arr.dtype == np.uint16 else arr.view(np.uint16)
    return arr.astype(_DISK_DTYPES[value.dtype], copy=False)


class WeightPacker:
    """Accumulates constants into one byte blob and hands out descriptors."""

    def __init__(self, compressed: Optional[dict[str, Any]] = None) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._by_name: dict[str, dict[str, Any]] = {}
        #: constant name -> compress.Encoded: stored in its compressed form (``--quantize``)
        self._compressed = compressed or {}

    @property
    def size(self) -> int:
        return self._size

    def blob(self) -> bytes:
        """The weight file in memory (for tests and small models; ``file()`` streams it instead)."""
        return b"".join(bytes(memoryview(c)) for c in self._chunks)

    def file(self) -> "WeightFile":
        """The weight file as a streaming writer: chunks (views of the constants, memory maps for
        external data) go to disk one at a time, never joined into one buffer."""
        return WeightFile(list(self._chunks), self._size)

    def descriptors(self) -> dict[str, dict[str, Any]]:
        return self._by_name

    def add(self, value: Value) -> dict[str, Any]:
        if value.name in self._by_name:
            return self._by_name[value.name]
        enc = self._compressed.get(value.name)
        if enc is not None:
            self._by_name[value.name] = self._store_compressed(enc, np.shape(value.const))
            return self._by_name[value.name]
        desc = self.describe(value.const, value.dtype or "float32", value)
        self._by_name[value.name] = desc
        return desc

    def describe(self, array: Any, dtype: str, value: Value | None = None) -> dict[str, Any]:
        arr = np.asarray(array)
        shape = [int(d) for d in arr.shape]
        if dtype == "string":
            flat = [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in arr.ravel().tolist()]
            return {"encoding": "json", "dtype": dtype, "shape": shape, "value": flat}
        if dtype not in _DISK_DTYPES:
            raise ValueError(f"constant of dtype {dtype} cannot be stored")
        if arr.size > 1 and all(st == 0 for st in arr.strides):
            # a broadcast view (a folded ConstantOfShape/Expand): one element, never materialised
            first = np.asarray(arr[(0,) * arr.ndim]).reshape(1)
            disk = _as_disk_array(Value("", dtype, (1,), first))
            arr = first
            scalar = disk[0]
            if dtype in ("float16", "bfloat16"):
                scalar = first[0] if dtype == "float16" else _bf16_to_float(int(scalar))
            return {"encoding": "fill", "dtype": dtype, "shape": shape, "value": _json_scalar(scalar, dtype)}
        disk = _as_disk_array(value if value is not None else Value("", dtype, tuple(shape), arr))
        if disk.size > 1 and _is_splat(disk):
            scalar = disk.ravel()[0]
            if dtype in ("float16", "bfloat16"):
                scalar = np.asarray(arr).ravel()[0] if dtype == "float16" else _bf16_to_float(int(scalar))
            return {"encoding": "fill", "dtype": dtype, "shape": shape, "value": _json_scalar(scalar, dtype)}
        offset, nbytes = self._append(disk)
        return {"encoding": "raw", "dtype": dtype, "shape": shape, "offset": offset, "byteLength": nbytes}

    def _append(self, array: np.ndarray) -> tuple[int, int]:
        """Append an array's bytes at the next aligned offset: (offset, byte length)."""
        data = np.ascontiguousarray(array).reshape(-1).view(np.uint8)  # no copy for contiguous (mapped) data
        pad = (-self._size) % ALIGN
        if pad:
            self._chunks.append(b"\0" * pad)
            self._size += pad
        offset = self._size
        self._chunks.append(data)
        self._size += int(data.nbytes)
        return offset, int(data.nbytes)

    def _store_compressed(self, enc: Any, shape: tuple) -> dict[str, Any]:
        """A float32 constant in its compressed form (webdnn_build/compress.py): the data, then an int8 encoding's
        per-channel scales."""
        offset, nbytes = self._append(enc.payloads[0])
        desc = {**enc.descriptor, "dtype": "float32", "shape": [int(d) for d in shape], "offset": offset, "byteLength": nbytes}
        if len(enc.payloads) > 1:
            desc["scalesOffset"] = self._append(enc.payloads[1])[0]
        return desc


class WeightFile:
    """``weights.bin`` as the bundle writer takes it: ``len()`` and ``write_to(file)``."""

    def __init__(self, chunks: list[Any], size: int) -> None:
        self._chunks, self._size = chunks, size

    def __len__(self) -> int:
        return self._size

    def write_to(self, f: Any) -> None:
        step = 64 << 20
        for chunk in self._chunks:
            view = memoryview(chunk).cast("B") if not isinstance(chunk, bytes) else memoryview(chunk)
            for start in range(0, len(view), step):  # bounded writes: a mapped chunk is paged in piecewise
                f.write(view[start:start + step])


def _is_splat(a: np.ndarray, step: int = 1 << 20) -> bool:
    """Every element equals the first; compared a block at a time (no full-size temporary, early exit)."""
    flat = a.reshape(-1)
    first = flat[0]
    for start in range(0, flat.size, step):
        block = flat[start:start + step]
        if not (block == first).all():
            return False
    return True


def _bf16_to_float(bits: int) -> float:
    return float(np.array([bits << 16], dtype=np.uint32).view(np.float32)[0])


def pack_graph_constants(graph: Graph, packer: WeightPacker) -> None:
    for value in graph.constants():
        packer.add(value)

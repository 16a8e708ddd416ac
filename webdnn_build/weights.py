"""Packing constants into the bundle's weight file (see docs/bundle-format.md)."""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .ir import Graph, Value

ALIGN = 16
#: default bytes per weight shard (docs/bundle-format.md "weights"): small enough to verify, cache and retry one at a
#: time and to fetch several in parallel, large enough that a 100 MB model is 25 requests
DEFAULT_SHARD_SIZE = 4 << 20
#: shard sizes the compiler accepts: a multiple of ALIGN (so constants keep their alignment inside a shard), at most
#: 1 GiB (the runtime never makes an ArrayBuffer over 1 GiB)
MIN_SHARD_SIZE, MAX_SHARD_SIZE = 1 << 10, 1 << 30

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

    def shards(self, shard_size: int = DEFAULT_SHARD_SIZE, deflate: bool = False) -> "WeightShards":
        """The weight file cut into shard files: chunks (views of the constants, memory maps for external data) go
        to disk one at a time, never joined into one buffer."""
        return WeightShards(list(self._chunks), self._size, shard_size, deflate)

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


class ShardFile:
    """One shard file as the bundle writer takes it: ``len()`` and ``write_to(file)``. Its bytes are either views
    of the constants (memory maps for external data: written piecewise, never joined) or its deflated form."""

    def __init__(self, pieces: list[memoryview], stored: Optional[bytes]) -> None:
        self._pieces, self._stored = pieces, stored

    def __len__(self) -> int:
        return len(self._stored) if self._stored is not None else sum(len(p) for p in self._pieces)

    def write_to(self, f: Any) -> None:
        if self._stored is not None:
            f.write(self._stored)
            return
        step = 64 << 20
        for piece in self._pieces:
            for start in range(0, len(piece), step):  # bounded writes: a mapped chunk is paged in piecewise
                f.write(piece[start:start + step])


class WeightShards:
    """The weight file cut into shards of ``shard_size`` bytes (the last one shorter), each with the SHA-256 of its
    stored bytes; with ``deflate``, a shard is stored zlib-compressed when that makes it smaller. The runtime
    fetches shards in parallel, checks each digest as the shard arrives and caches shards by digest."""

    def __init__(self, chunks: list[Any], size: int, shard_size: int = DEFAULT_SHARD_SIZE, deflate: bool = False,
                 folder: str = "weights") -> None:
        self.size, self.shard_size, self.deflate, self.folder = size, shard_size, deflate, folder
        self._pieces: list[list[memoryview]] = []
        shard: list[memoryview] = []
        room = shard_size
        for chunk in chunks:
            view = memoryview(chunk).cast("B") if not isinstance(chunk, bytes) else memoryview(chunk)
            while len(view):
                take = min(room, len(view))
                shard.append(view[:take])
                view, room = view[take:], room - take
                if room == 0:
                    self._pieces.append(shard)
                    shard, room = [], shard_size
        if shard:
            self._pieces.append(shard)
        self._files: Optional[dict[str, ShardFile]] = None
        self._entries: list[dict[str, Any]] = []

    def _prepare(self) -> None:
        """Digest (and with deflate, compress) every shard, once."""
        if self._files is not None:
            return
        width = max(3, len(str(len(self._pieces) - 1)))
        self._files = {}
        for i, pieces in enumerate(self._pieces):
            length = sum(len(p) for p in pieces)
            stored = None
            if self.deflate:
                z = zlib.compressobj(6)
                packed = b"".join([z.compress(p) for p in pieces] + [z.flush()])
                stored = packed if len(packed) < length else None
            h = hashlib.sha256()
            for part in ([stored] if stored is not None else pieces):
                h.update(part)
            rel = f"{self.folder}/{i:0{width}d}.bin"
            entry: dict[str, Any] = {"file": rel, "byteLength": length, "sha256": h.hexdigest()}
            if stored is not None:
                entry.update(encoding="deflate", storedLength=len(stored))
            self._entries.append(entry)
            self._files[rel] = ShardFile(pieces, stored)

    def files(self) -> dict[str, ShardFile]:
        """Bundle-relative path -> shard file."""
        self._prepare()
        assert self._files is not None
        return dict(self._files)

    def manifest_entry(self) -> dict[str, Any]:
        """The manifest's ``weights`` object."""
        self._prepare()
        return {"byteLength": self.size, "shardSize": self.shard_size, "shards": list(self._entries)}


def read_weights(bundle: Path) -> bytes:
    """The whole weight file of a bundle, its shards checked against their digests and inflated (tests, tools and
    the Python WebGPU runner; the JS runtime reads shards itself)."""
    bundle = Path(bundle)
    w = json.loads((bundle / "manifest.json").read_text()).get("weights") or {}
    if w.get("file"):
        return (bundle / w["file"]).read_bytes()
    parts = []
    for entry in w.get("shards", []):
        stored = (bundle / entry["file"]).read_bytes()
        if hashlib.sha256(stored).hexdigest() != entry["sha256"]:
            raise ValueError(f"{bundle}: weight shard {entry['file']} does not match its SHA-256")
        data = zlib.decompress(stored) if entry.get("encoding") == "deflate" else stored
        if len(data) != entry["byteLength"]:
            raise ValueError(f"{bundle}: weight shard {entry['file']} holds {len(data)} bytes, not {entry['byteLength']}")
        parts.append(data)
    return b"".join(parts)


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

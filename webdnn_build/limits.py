"""Resource bounds: what a bundle can hold, checked at build time before anything is allocated.

A model file is untrusted input. A shape it declares (a graph input, a ``value_info``, an
initializer's dims, the result of a ``ConstantOfShape``/``Expand`` with constant inputs) is
checked against :data:`MAX_TENSOR_BYTES` before the compiler materialises it, so a model that
declares ``2**40`` elements is refused in milliseconds with an error that names the value,
instead of exhausting the build machine's memory.

The bound is what wasm32 linear memory can address (4 GiB): no backend's runtime can hold a
larger tensor (a JS ``ArrayBuffer`` of that size is refused or fails to allocate on most
engines too). Arenas are bounded per backend (see ``check_arena``).
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np

from .errors import ResourceError
from .ir import Graph

#: wasm32 linear memory: 65,536 pages of 64 KiB
WASM32_MAX_BYTES = 1 << 32
#: the largest tensor a bundle may declare, in bytes
MAX_TENSOR_BYTES = WASM32_MAX_BYTES

#: bytes per element by dtype, for size checks (the widest storage any backend uses)
ELEMENT_BYTES = {
    "float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int8": 1, "uint8": 1, "int16": 2,
    "uint16": 2, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "bool": 1, "string": 8,
}


def element_bytes(dtype: Optional[str]) -> int:
    return ELEMENT_BYTES.get(dtype or "", 8)


def numel(dims: Iterable[int]) -> int:
    """The element count of static ``dims``, in Python ints (no overflow)."""
    n = 1
    for d in dims:
        n *= int(d)
    return n


def format_bytes(n: int) -> str:
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def check_dims(where: str, name: str, dims: Sequence[object], dtype: Optional[str],
               limit: int = MAX_TENSOR_BYTES) -> None:
    """Refuse negative dims and tensors over ``limit`` bytes (symbolic/unknown dims are skipped)."""
    static = [d for d in dims if isinstance(d, (int, np.integer)) and not isinstance(d, bool)]
    for i, d in enumerate(dims):
        if isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d < 0:
            raise ResourceError(f"{where}: '{name}' has a negative dim {int(d)} (dim {i} of "
                                f"{list(dims)}); dims must be >= 0")
    n = numel(static)
    nbytes = n * element_bytes(dtype)
    if nbytes > limit:
        raise ResourceError(
            f"{where}: '{name}' declares shape {[int(d) if isinstance(d, (int, np.integer)) else d for d in dims]} "
            f"({n:,} elements of {dtype or 'unknown type'}, {format_bytes(nbytes)}); the limit for one tensor "
            f"is {format_bytes(limit)} (what wasm32 memory can address)")


def check_graph(graph: Graph, where: str = "") -> None:
    """Every value of ``graph`` (subgraphs included) within :data:`MAX_TENSOR_BYTES`."""
    where = where or graph.source or graph.name
    for g in graph.walk():
        for v in g.values.values():
            if v.shape is not None:
                check_dims(where, v.name, v.shape, v.dtype)


def check_arena(backend: str, arena_bytes: int, weight_bytes: int, sizes: dict[str, int],
                limit: int = WASM32_MAX_BYTES, where: str = "") -> None:
    """Refuse an arena that, with the weights beside it, does not fit ``limit`` bytes of memory.

    ``sizes``: planned value name -> bytes; the error names the largest ones.
    """
    if arena_bytes + weight_bytes <= limit:
        return
    largest = sorted(sizes.items(), key=lambda kv: -kv[1])[:5]
    names = ", ".join(f"'{n}' ({format_bytes(b)})" for n, b in largest)
    prefix = f"{where}: " if where else ""
    raise ResourceError(
        f"{prefix}backend '{backend}': the arena needs {format_bytes(arena_bytes)} and the weights "
        f"{format_bytes(weight_bytes)}, more than the {format_bytes(limit)} wasm32 memory can hold; "
        f"largest tensors: {names}")

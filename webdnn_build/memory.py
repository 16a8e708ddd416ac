"""Liveness-based memory planning: one arena per backend.

Every intermediate value with a size known at build time gets a slot in a
single arena. A value is live from the node that produces it to the last node
that reads it; values whose lifetimes do not overlap may share bytes. Slots
are assigned greedily, largest value first, at the lowest offset that does
not collide with any already-placed value whose lifetime overlaps (the
"greedy by size" offset heuristic used by TFLite). Graph inputs, graph outputs
and constants are not planned: inputs and outputs cross the API boundary and
constants live in the weight buffer.

Only the top-level graph is planned. A node with subgraphs (If/Loop/Scan)
counts as a reader of every outer value its subgraphs read (so those stay live
until it ran); values inside subgraphs are allocated when produced. Sequence and
optional values have no storage size and are never planned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from .ir import Graph

ALIGN = 16


@dataclass
class Slot:
    offset: int
    byte_length: int
    first: int  # index of the producing node
    last: int   # index of the last reading node


@dataclass
class MemoryPlan:
    size: int = 0
    slots: dict[str, Slot] = field(default_factory=dict)
    #: sum of all planned values' sizes, i.e. what no reuse would cost
    unshared_size: int = 0


def _align(n: int, align: int = ALIGN) -> int:
    return (n + align - 1) // align * align


def plan_memory(graph: Graph, storage_bytes: Callable[[str], Optional[int]], include_io: bool = False,
                align: int = ALIGN) -> MemoryPlan:
    """Plan the arena for ``graph``; ``storage_bytes(dtype)`` gives the backend's element size (None: not planned).

    With ``include_io`` graph inputs and outputs get slots too (live for the whole run), for
    backends whose kernels can only address their own memory. ``align``: slot offsets and sizes
    are multiples of it (16 by default; the webgpu backend asks for 256, WebGPU's
    ``minStorageBufferOffsetAlignment``).
    """
    unplanned = set() if include_io else set(graph.inputs) | set(graph.outputs)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    end = len(graph.nodes)
    if include_io:
        for name in graph.inputs:
            first[name], last[name] = -1, end
    for i, node in enumerate(graph.nodes):
        for name in node.reads():
            if name in first:
                last[name] = i
        for name in node.outputs:
            if name and name not in unplanned:
                first.setdefault(name, i)
                last.setdefault(name, i)
    if include_io:
        for name in graph.outputs:
            if name in first:
                last[name] = end

    sized: list[tuple[str, int]] = []
    for name in first:
        value = graph.values.get(name)
        if value is None or value.is_const or not value.is_static or value.dtype is None:
            continue
        elem = storage_bytes(value.dtype)
        if elem is None:
            continue
        nbytes = _align(max(1, (value.numel() or 0) * elem), align)
        sized.append((name, nbytes))

    plan = MemoryPlan()
    placed: list[Slot] = []
    for name, nbytes in sorted(sized, key=lambda item: (-item[1], first[item[0]])):
        a, b = first[name], last[name]
        # offsets taken by live-overlapping slots, in address order
        busy = sorted((s.offset, s.offset + s.byte_length) for s in placed if not (s.last < a or b < s.first))
        offset = 0
        for start, end in busy:
            if offset + nbytes <= start:
                break
            offset = max(offset, end)
        slot = Slot(offset, nbytes, a, b)
        placed.append(slot)
        plan.slots[name] = slot
        plan.size = max(plan.size, offset + nbytes)
        plan.unshared_size += nbytes
    return plan

"""The compiler's intermediate representation.

A :class:`Graph` is a list of :class:`Node` in topological order plus a table of
:class:`Value` (every tensor a node reads or writes). Constants are values with
a numpy array attached. Shapes are static where known: a dim is an ``int``, a
``str`` (a symbolic name from the model, not yet fixed) or ``None`` (unknown,
e.g. data-dependent); an unknown rank is ``shape=None``.

Importers build it, passes rewrite it, backends read it. Nothing here knows
about ONNX protobufs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional, Union

import numpy as np

Dim = Union[int, str, None]
Shape = Optional[tuple[Dim, ...]]

#: dtype names used throughout the IR, the bundle and the JS runtime.
DTYPES = (
    "float32", "float64", "float16", "bfloat16",
    "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
    "bool", "string",
)


@dataclass
class Value:
    """A tensor in the graph: name, dtype, shape and, for constants, its data."""

    name: str
    dtype: Optional[str] = None
    shape: Shape = None
    const: Optional[np.ndarray] = None

    @property
    def is_const(self) -> bool:
        return self.const is not None

    @property
    def is_static(self) -> bool:
        """True when every dim is a known integer."""
        return self.shape is not None and all(isinstance(d, int) for d in self.shape)

    def numel(self) -> Optional[int]:
        if not self.is_static:
            return None
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


@dataclass
class Node:
    """One operator application. ``inputs`` may contain ``""`` for an omitted optional input."""

    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    domain: str = ""
    #: the node's name in the source model, kept for error messages
    name: str = ""

    def describe(self) -> str:
        """``'conv1' (Conv)``: how errors refer to a node."""
        label = self.name or (self.outputs[0] if self.outputs else "?")
        op = f"{self.domain}.{self.op_type}" if self.domain not in ("", "ai.onnx") else self.op_type
        return f"node '{label}' ({op})"


@dataclass
class Graph:
    """A model: nodes in topological order, values, graph inputs/outputs and opsets."""

    name: str = "model"
    nodes: list[Node] = field(default_factory=list)
    values: dict[str, Value] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    #: opset version per domain ("" is the default ONNX domain)
    opsets: dict[str, int] = field(default_factory=dict)
    #: where the model came from, for error messages
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    _counter: Iterator[int] = field(default_factory=itertools.count, repr=False, compare=False)

    # -- values -----------------------------------------------------------------
    def value(self, name: str) -> Value:
        if name not in self.values:
            self.values[name] = Value(name)
        return self.values[name]

    def add_const(self, array: np.ndarray, hint: str = "const") -> str:
        """Add a constant under a fresh name and return that name."""
        name = self.fresh_name(hint)
        array = np.asarray(array)
        self.values[name] = Value(name, dtype=dtype_name(array.dtype), shape=tuple(int(d) for d in array.shape), const=array)
        return name

    def fresh_name(self, hint: str) -> str:
        while True:
            name = f"{hint}__{next(self._counter)}"
            if name not in self.values:
                return name

    def constants(self) -> list[Value]:
        return [v for v in self.values.values() if v.is_const]

    # -- structure --------------------------------------------------------------
    def producers(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs if o}

    def consumers(self) -> dict[str, list[Node]]:
        result: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    result.setdefault(i, []).append(n)
        return result

    def replace_uses(self, old: str, new: str) -> None:
        """Make every reader of ``old`` (nodes and graph outputs) read ``new`` instead."""
        for n in self.nodes:
            n.inputs = [new if i == old else i for i in n.inputs]
        self.outputs = [new if o == old else o for o in self.outputs]

    def prune_values(self) -> None:
        """Drop values that no node, graph input or output refers to."""
        used = set(self.inputs) | set(self.outputs)
        for n in self.nodes:
            used.update(i for i in n.inputs if i)
            used.update(o for o in n.outputs if o)
        self.values = {k: v for k, v in self.values.items() if k in used}

    def op_types(self) -> list[tuple[str, str]]:
        return sorted({(n.domain, n.op_type) for n in self.nodes})

    def opset_for(self, domain: str) -> int:
        return self.opsets.get(domain, self.opsets.get("ai.onnx" if domain == "" else domain, 0))

    def toposort(self) -> None:
        """Reorder nodes so that each comes after the producers of its inputs (stable)."""
        produced = {o for n in self.nodes for o in n.outputs}
        ready = set(self.inputs) | {v.name for v in self.values.values() if v.is_const}
        ready |= {v for v in self.values if v not in produced}
        ordered: list[Node] = []
        pending = list(self.nodes)
        while pending:
            progress = False
            rest = []
            for n in pending:
                if all((not i) or i in ready for i in n.inputs):
                    ordered.append(n)
                    ready.update(n.outputs)
                    progress = True
                else:
                    rest.append(n)
            if not progress:
                raise ValueError(f"graph has a cycle or a missing input at {rest[0].describe()}")
            pending = rest
        self.nodes = ordered


def dtype_name(dt: Any) -> str:
    """The IR dtype name of a numpy dtype."""
    dt = np.dtype(dt)
    if dt == np.bool_:
        return "bool"
    if dt.kind in ("U", "S", "O"):
        return "string"
    name = dt.name
    if name not in DTYPES:
        raise ValueError(f"unsupported dtype {name}")
    return name


def format_shape(shape: Shape) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def iter_node_names(nodes: Iterable[Node]) -> list[str]:
    return [n.describe() for n in nodes]

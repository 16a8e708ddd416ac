"""The compiler's intermediate representation.

A :class:`Graph` is a list of :class:`Node` in topological order plus a table of
:class:`Value` (every tensor a node reads or writes). Constants are values with
a numpy array attached. Shapes are static where known: a dim is an ``int``, a
``str`` (a symbolic name from the model, not yet fixed) or ``None`` (unknown,
e.g. data-dependent); an unknown rank is ``shape=None``.

Non-tensor values (ONNX sequence and optional types) carry a *type string* in
``Value.dtype``: ``"sequence<float32>"``, ``"optional<int64>"``,
``"optional<sequence<float32>>"`` (``?`` for an unknown element type, e.g.
``"sequence<?>"``); their ``shape`` is ``None``. :func:`value_kind` and
:func:`element_dtype` take such strings apart.

Control flow: a subgraph attribute (``If.then_branch``, ``Loop.body``,
``Scan.body``, ``SequenceMap.body``) is a nested :class:`Graph`. Its
``inputs``/``outputs`` are the body's formal parameters and results; its nodes
may also read values of enclosing graphs by name (ONNX's outer-scope
references: names are unique across scopes, no shadowing).
:meth:`Graph.outer_reads` lists those names; :meth:`Node.reads` is a node's
inputs plus the outer names its subgraphs read, and every use count
(``consumers``, ``prune_values``, ``replace_uses``, dead-code elimination,
memory planning) goes through it, so a value read only inside a subgraph stays
alive.

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

    def subgraphs(self) -> list["Graph"]:
        """The node's subgraph attributes (``GRAPH`` and ``GRAPHS``), in attribute order."""
        found: list[Graph] = []
        for value in self.attrs.values():
            if isinstance(value, Graph):
                found.append(value)
            elif isinstance(value, (list, tuple)):
                found.extend(g for g in value if isinstance(g, Graph))
        return found

    def reads(self) -> list[str]:
        """Every value the node reads: its non-empty inputs, then the outer names its subgraphs read."""
        names = [i for i in self.inputs if i]
        for g in self.subgraphs():
            names.extend(n for n in g.outer_reads() if n not in names)
        return names

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
    #: input dims left open at build time (webdnn_build.symdim): name -> (min, max or None); value shapes
    #: carry these names as ``str`` dims
    dims: dict[str, tuple[int, Optional[int]]] = field(default_factory=dict)
    #: open dims that the model computes from others (``total`` = ``past + seq``: symshape learns it from a
    #: KV-cache Concat); name -> symshape.Expr over the other dims
    dim_equals: dict[str, Any] = field(default_factory=dict)

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
        """Readers of each value; a node whose subgraph reads an outer value counts as its reader."""
        result: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.reads():
                result.setdefault(i, []).append(n)
        return result

    def replace_uses(self, old: str, new: str) -> None:
        """Make every reader of ``old`` (nodes, subgraphs reading it from outside, graph outputs) read ``new``."""
        for n in self.nodes:
            n.inputs = [new if i == old else i for i in n.inputs]
            for g in n.subgraphs():
                if old in g.outer_reads():
                    g.replace_uses(old, new)
                    if old in g.values and new not in g.values:
                        v = g.values.pop(old)
                        v.name = new
                        g.values[new] = v
        self.outputs = [new if o == old else o for o in self.outputs]

    def prune_values(self) -> None:
        """Drop values that no node (or subgraph of a node), graph input or output refers to."""
        used = set(self.inputs) | set(self.outputs)
        for n in self.nodes:
            used.update(n.reads())
            used.update(o for o in n.outputs if o)
        self.values = {k: v for k, v in self.values.items() if k in used}

    def defined(self) -> set[str]:
        """Names this graph itself defines: inputs, node outputs and its own constants."""
        names = set(self.inputs) | {v.name for v in self.values.values() if v.is_const}
        for n in self.nodes:
            names.update(o for o in n.outputs if o)
        return names

    def outer_reads(self) -> list[str]:
        """Names read by this graph (its nodes, nested subgraphs, outputs) that it does not define.

        For a subgraph these are its outer-scope references, in first-use order;
        for a top-level graph the list is empty unless the graph is malformed.
        """
        defined = self.defined()
        seen: dict[str, None] = {}
        for n in self.nodes:
            for name in n.reads():
                if name not in defined:
                    seen.setdefault(name)
        for name in self.outputs:
            if name and name not in defined:
                seen.setdefault(name)
        return list(seen)

    def walk(self) -> Iterator["Graph"]:
        """This graph, then every nested subgraph (depth first)."""
        yield self
        for n in self.nodes:
            for g in n.subgraphs():
                yield from g.walk()

    def all_nodes(self) -> Iterator[Node]:
        """Every node of this graph and of its subgraphs, at any depth."""
        for g in self.walk():
            yield from g.nodes

    def op_types(self) -> list[tuple[str, str]]:
        """(domain, op type) of every node, subgraphs included."""
        return sorted({(n.domain, n.op_type) for n in self.all_nodes()})

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
                # an outer name a subgraph reads only orders the node when this graph produces it
                if all(i in ready or (i not in n.inputs and i not in produced) for i in n.reads()):
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


def value_kind(dtype: Optional[str]) -> str:
    """``"sequence"`` / ``"optional"`` for those type strings, ``"tensor"`` otherwise (None included)."""
    if dtype and dtype.startswith("sequence<"):
        return "sequence"
    if dtype and dtype.startswith("optional<"):
        return "optional"
    return "tensor"


def element_dtype(dtype: str) -> Optional[str]:
    """The type inside ``sequence<...>``/``optional<...>`` (None when ``?``); a tensor dtype is returned as is."""
    if value_kind(dtype) == "tensor":
        return dtype
    inner = dtype[dtype.index("<") + 1:-1]
    return None if inner == "?" else inner


def format_shape(shape: Shape) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def iter_node_names(nodes: Iterable[Node]) -> list[str]:
    return [n.describe() for n in nodes]

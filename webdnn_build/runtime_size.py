"""Sizes known only at run time, as code generators compute with them (issue 10: bundles built with open dims).

A backend that runs ops sized by open dims gives its emitters, in its copy of the graph, shapes whose open dims
are :class:`RuntimeSize` objects: arithmetic with ints builds a symshape expression, and formatting one writes
it as code of the backend's target language reading the dims' sizes from a table the runtime fills per input
shape (the wasm backend's C: ``wdn_dims[0]``; the webgpu backend's WGSL: a uniform). What needs a number at
build time (``range``, comparisons, ``int``) raises :class:`SymbolicSizeError`, and the backend runs that node
another way (a js step). Dim names never reach generated code: only indices into the table.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Optional, Union

from .ir import Graph, Node, Value
from .symshape import Expr, _Op, as_expr, floordiv, mod


class SymbolicSizeError(TypeError):
    """A build-time decision needs the value of a size that is known only at run time."""


Num = Union[int, "RuntimeSize"]


def render_int(e: Expr, index: Mapping[str, int], dim_ref: Callable[[int], str], max_fn: str = "max",
               min_fn: str = "min") -> str:
    """``e`` as a C-like integer expression (``* + / %`` and ``max_fn(a, b)`` / ``min_fn(a, b)`` calls), each
    open dim written as ``dim_ref(its slot in index)``. Floor division is written as ``/``: the sizes it
    divides are never negative."""
    if not e.terms:
        return "0"
    parts = []
    for m, c in e.terms:
        factors = [_render_atom(a, index, dim_ref, max_fn, min_fn) for a, p in m for _ in range(p)]
        if c != 1 or not factors:
            factors.insert(0, str(c))
        parts.append("*".join(factors))
    return "(" + " + ".join(parts) + ")"


def _render_atom(a, index: Mapping[str, int], dim_ref: Callable[[int], str], max_fn: str, min_fn: str) -> str:
    if isinstance(a, str):
        if a not in index:
            raise SymbolicSizeError(f"dim {a!r} is not an open input dim")
        return dim_ref(index[a])
    assert isinstance(a, _Op)
    x, y = (render_int(part, index, dim_ref, max_fn, min_fn) for part in (a.a, a.b))
    return {"//": f"({x} / {y})", "%": f"({x} % {y})", "max": f"{max_fn}({x}, {y})", "min": f"{min_fn}({x}, {y})"}[a.kind]


class RuntimeSize:
    """A size known at run time (see the module docstring); subclasses say how it is written (:meth:`render`)."""

    __slots__ = ("e", "index")

    def __init__(self, e: Expr, index: Mapping[str, int]):
        self.e, self.index = e, index

    @classmethod
    def wrap(cls, d, index: Mapping[str, int]) -> Num:
        """An int where ``d`` is a constant, else a size of this class over the dims table ``index``."""
        if isinstance(d, RuntimeSize):
            return d
        e = as_expr(d)
        return e.value if e.value is not None else cls(e, index)

    def render(self) -> str:
        raise NotImplementedError

    def _other(self, o) -> Optional[Expr]:
        if isinstance(o, RuntimeSize):
            return o.e
        if isinstance(o, int) and not isinstance(o, bool):
            return as_expr(o)
        return None

    def _make(self, e: Expr) -> Num:
        return type(self).wrap(e, self.index)

    def __add__(self, o):
        x = self._other(o)
        return NotImplemented if x is None else self._make(self.e + x)

    __radd__ = __add__

    def __sub__(self, o):
        x = self._other(o)
        return NotImplemented if x is None else self._make(self.e - x)

    def __rsub__(self, o):
        x = self._other(o)
        return NotImplemented if x is None else self._make(x - self.e)

    def __mul__(self, o):
        x = self._other(o)
        return NotImplemented if x is None else self._make(self.e * x)

    __rmul__ = __mul__

    def __floordiv__(self, o):
        if not isinstance(o, int) or o <= 0:
            raise SymbolicSizeError("a run-time size divided by something other than a positive constant")
        return self._make(floordiv(self.e, o))

    def __mod__(self, o):
        if not isinstance(o, int) or o <= 0:
            raise SymbolicSizeError("a run-time size modulo something other than a positive constant")
        return self._make(mod(self.e, o))

    def __eq__(self, o) -> bool:
        x = self._other(o)
        return x is not None and x == self.e

    def __ne__(self, o) -> bool:
        return not self.__eq__(o)

    def __hash__(self) -> int:
        return hash(self.e)

    def _refuse(self, *_):
        raise SymbolicSizeError(f"the size {self.e} is known only at run time")

    __lt__ = __le__ = __gt__ = __ge__ = __bool__ = __int__ = __index__ = __float__ = _refuse

    def __str__(self) -> str:
        return self.render()

    def __format__(self, spec: str) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.e})"


# -- a backend's copy of a graph with open dims -------------------------------------------------------------------

#: set while a backend asks a symbolic emitter (its trial emission, then the emission): its static-shape checks
#: accept shapes of ints and run-time sizes
_SIZES_AT_RUN_TIME = [False]


class sizes_at_run_time:
    """Context in which the emitters' static-shape checks accept shapes sized by open dims (``accepting()``)."""

    def __enter__(self):
        _SIZES_AT_RUN_TIME.append(True)

    def __exit__(self, *exc):
        _SIZES_AT_RUN_TIME.pop()


def accepting() -> bool:
    """Whether run-time sizes count as static now (inside :class:`sizes_at_run_time`)."""
    return _SIZES_AT_RUN_TIME[-1]


def symbolic_ready(node: Node, graph: Graph) -> bool:
    """Whether a node touching run-time sizes may try a symbolic emitter: every open dim has an upper bound (kernels
    size scratch and bindings for the largest run) and every non-constant value it touches has a full shape of ints
    and run-time sizes."""
    if not graph.dims or any(hi is None for _, hi in graph.dims.values()):
        return False
    return all(sized_at_run_time(graph.values[n]) for n in [*node.inputs, *node.outputs]
               if n and not graph.values[n].is_static and not graph.values[n].is_const)


def open_dim_shapes(g: Graph, size_class: type, index: Mapping[str, int]) -> None:
    """In a backend's copy of a graph with open dims: every dim sized by them (a name or a symshape Expr) becomes a
    ``size_class`` (a RuntimeSize subclass) over the dims table ``index``, so that emitters, reading shapes from
    the graph, compute code text; the Values are replaced, the original graph keeps its own."""
    for name, v in list(g.values.items()):
        if v.shape is not None and any(d is not None and not isinstance(d, int) for d in v.shape):
            g.values[name] = dataclasses.replace(
                v, shape=[d if d is None or isinstance(d, int) else size_class.wrap(d, index) for d in v.shape])


def touches_run_time_sizes(node: Node, graph: Graph) -> bool:
    """Whether the node reads or writes a (non-constant) value whose shape is not fixed at build time."""
    return any(n and not graph.values[n].is_static and not graph.values[n].is_const
               for n in [*node.inputs, *node.outputs])


def sized_at_run_time(v: Value) -> bool:
    """A value whose shape holds open-dim sizes (RuntimeSize after open_dim_shapes, no unknown dim)."""
    return (not v.is_const and v.shape is not None and not v.is_static
            and all(isinstance(d, (int, RuntimeSize)) for d in v.shape))


def dim_sources(g: Graph, input_refs: list[int]) -> dict[str, list[int]]:
    """Open dim name -> [value index, axis] of a graph input that has it (where the runtime reads its size);
    ``input_refs``: the graph inputs' indices in the plan's value table."""
    out: dict[str, list[int]] = {}
    for vi, name in zip(input_refs, g.inputs):
        for axis, d in enumerate(g.values[name].shape or ()):
            sym = d.e.symbol if isinstance(d, RuntimeSize) else None
            if sym in g.dims:
                out.setdefault(sym, [vi, axis])
    return out


def live_ranges(g: Graph, step_nodes: list[list[Node]], names: list[str]) -> list[list[int]]:
    """Per value of ``names``: [first, last] plan step whose nodes touch it (``step_nodes``: the nodes of each
    step); graph inputs from -1, graph outputs to the end (the runtime reuses memory between values whose lives
    do not overlap)."""
    wanted = set(names)
    live: dict[str, list[int]] = {}
    for k, nodes in enumerate(step_nodes):
        for node in nodes:
            for name in [*node.inputs, *node.outputs]:
                if name in wanted:
                    live.setdefault(name, [k, k])[1] = k
    end = len(step_nodes)
    out = []
    for name in names:
        first, last = live.get(name, [0, end])
        out.append([-1 if name in g.inputs else first, end if name in g.outputs else last])
    return out

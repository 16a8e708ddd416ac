"""Symbolic dims and shape inference over them (dynamic shapes, issue 10; docs/design/dynamic-shapes-survey.md 6.3).

A dim left open at build time is a symbol (``"seq"``, webdnn_build.symdim). Dims computed from it (``seq + 1``,
``(h + 1) // 2``, ``32*seq``) are :class:`Expr`: polynomials with int coefficients over atoms, an atom being a
symbol or a node that is not a polynomial (floor division or modulo by a positive int, ``max``/``min`` of two
exprs). Equal expressions compare equal, and an Expr equal to an int or a symbol compares (and hashes) equal to it;
:func:`dim` turns an Expr back into an ``int`` or ``str`` where it is one, so IR shapes keep those where they can.

:func:`infer_symbolic_shapes` fills the dims of a graph's values that onnx's shape inference left unknown: it
runs a rule per op over the nodes and tracks the *values* of small int vectors (shape arithmetic:
``Shape → Gather → Unsqueeze → Concat → Reshape``), so that a Reshape's target resolves to ``[1, seq, 2, 16]``.

:func:`to_json` writes an expr as a restricted string (ints, symbol names, ``+ - *``, ``//``, ``%``,
``max(a, b)``, ``min(a, b)``, parentheses) that :func:`parse_expr` reads back without eval. Symbol names may
contain ``-`` and ``.`` (symdim.DIM_NAME), so a name is read greedily and binary ``+``/``-`` are written with
spaces around them: ``seq-1`` is one name, ``seq - 1`` a difference.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterable, Mapping, NoReturn, Optional, Sequence, Union

import numpy as np

from .ir import Graph, Node, Value
from .symdim import DIM_NAME, MAX_DIM

Atom = Union[str, "_Op"]
#: a product of atoms: (atom, power) pairs in canonical order
Monomial = tuple[tuple[Atom, int], ...]
DimLike = Union[int, str, "Expr"]


@dataclass(frozen=True)
class _Op:
    """A non-polynomial atom: ``a // b`` and ``a % b`` (``b`` a positive constant), ``max(a, b)``, ``min(a, b)``."""

    kind: str
    a: "Expr"
    b: "Expr"

    @property
    def key(self) -> tuple:
        return (1, self.kind, self.a.key, self.b.key)


def _atom_key(a: Atom) -> tuple:
    return (0, a) if isinstance(a, str) else a.key


def _mono_key(m: Monomial) -> tuple:
    return tuple((_atom_key(a), p) for a, p in m)


def _mono(powers: Mapping[Atom, int]) -> Monomial:
    return tuple(sorted(((a, p) for a, p in powers.items() if p), key=lambda t: _atom_key(t[0])))


def _mono_mul(m1: Monomial, m2: Monomial) -> Monomial:
    powers: dict[Atom, int] = dict(m1)
    for a, p in m2:
        powers[a] = powers.get(a, 0) + p
    return _mono(powers)


class Expr:
    """An immutable symbolic dim: a sum of ``coefficient * monomial`` terms, in a canonical order.

    Build one with :func:`as_expr` and the operators ``+ - *`` (with ints, symbol names and other exprs),
    :func:`floordiv`, :func:`mod`, :func:`smax` and :func:`smin`."""

    __slots__ = ("terms", "key")
    terms: tuple[tuple[Monomial, int], ...]
    key: tuple

    def __init__(self, terms: Iterable[tuple[Monomial, int]] = ()):
        acc: dict[Monomial, int] = {}
        for m, c in terms:
            acc[m] = acc.get(m, 0) + c
        keyed = sorted(((_mono_key(m), m, c) for m, c in acc.items() if c), key=lambda t: t[0])
        object.__setattr__(self, "terms", tuple((m, c) for _, m, c in keyed))
        object.__setattr__(self, "key", tuple((k, c) for k, _, c in keyed))

    def __setattr__(self, name, value):
        raise AttributeError("Expr is immutable")

    def __reduce__(self):  # copy, deepcopy and pickle rebuild it through __init__
        return Expr, (self.terms,)

    @property
    def value(self) -> Optional[int]:
        """The int this expr is, if it is a constant."""
        if not self.terms:
            return 0
        if len(self.terms) == 1 and not self.terms[0][0]:
            return self.terms[0][1]
        return None

    @property
    def atom(self) -> Optional[Atom]:
        """The atom this expr is, if it is one (a symbol, or ``max(...)``, ``x // k``, ...)."""
        if len(self.terms) == 1:
            m, c = self.terms[0]
            if c == 1 and len(m) == 1 and m[0][1] == 1:
                return m[0][0]
        return None

    @property
    def symbol(self) -> Optional[str]:
        """The name this expr is, if it is one symbol."""
        return self.atom if isinstance(self.atom, str) else None

    def __eq__(self, other) -> bool:
        o = _coerce(other)
        return o is not None and o.key == self.key

    def __hash__(self) -> int:
        # equal to an int or a str: the same hash, so that dicts and sets treat them as one key
        v = self.value
        if v is not None:
            return hash(v)
        s = self.symbol
        return hash(s) if s is not None else hash(self.key)

    def __add__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else Expr(self.terms + o.terms)

    __radd__ = __add__

    def __neg__(self) -> "Expr":
        return Expr((m, -c) for m, c in self.terms)

    def __sub__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else self + (-o)

    def __rsub__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else o + (-self)

    def __mul__(self, other):
        o = _coerce(other)
        if o is None:
            return NotImplemented
        return Expr((_mono_mul(m1, m2), c1 * c2) for m1, c1 in self.terms for m2, c2 in o.terms)

    __rmul__ = __mul__

    def __str__(self) -> str:
        return _fmt(self, check=False)

    def __repr__(self) -> str:
        return f"Expr({str(self)!r})"


def _coerce(x) -> Optional[Expr]:
    if isinstance(x, Expr):
        return x
    if isinstance(x, (int, np.integer)):
        return Expr([((), int(x))])
    if isinstance(x, str):
        return Expr([(((x, 1),), 1)])
    return None


def as_expr(x: DimLike) -> Expr:
    """An int, a symbol name or an Expr, as an Expr."""
    e = _coerce(x)
    if e is None:
        raise TypeError(f"not a dim: {x!r}")
    return e


def dim(x: DimLike) -> DimLike:
    """The IR form of a dim: an ``int`` or a ``str`` where the expr is one, else the Expr."""
    e = as_expr(x)
    if e.value is not None:
        return e.value
    return e.symbol if e.symbol is not None else e


def _atom(op: _Op) -> Expr:
    return Expr([(((op, 1),), 1)])


def _positive(k: DimLike) -> int:
    v = as_expr(k).value
    if v is None or v <= 0:
        raise ValueError(f"the divisor of // and % must be a positive integer, not {k}")
    return v


def floordiv(e: DimLike, k: DimLike) -> Expr:
    """``e // k`` (floor) for a positive int ``k``.

    Each coefficient splits as ``c = k*(c // k) + c % k``, and ``(k*q + r) // k == q + r // k`` for integers, so
    the multiples of ``k`` come out of the division: ``(2*seq + 3) // 2 == seq + 1``."""
    e, k = as_expr(e), _positive(k)
    if k == 1:
        return e
    q = Expr((m, c // k) for m, c in e.terms)
    r = Expr((m, c % k) for m, c in e.terms)
    if r.value is not None:  # 0 <= r < k
        return q
    if isinstance(r.atom, _Op) and r.atom.kind == "//":  # (x // a) // k == x // (a*k)
        return q + floordiv(r.atom.a, r.atom.b.value * k)
    return q + _atom(_Op("//", r, as_expr(k)))


def mod(e: DimLike, k: DimLike) -> Expr:
    """``e % k`` (the sign of ``k``, as Python's) for a positive int ``k``; multiples of ``k`` drop out."""
    e, k = as_expr(e), _positive(k)
    r = Expr((m, c % k) for m, c in e.terms)
    if r.value is not None:
        return r
    return _atom(_Op("%", r, as_expr(k)))


def _minmax(kind: str, a: DimLike, b: DimLike) -> Expr:
    a, b = as_expr(a), as_expr(b)
    d = (a - b).value
    if d is not None:  # the two differ by a constant (both constant, or equal)
        return a if (d >= 0) == (kind == "max") else b
    first, second = sorted((a, b), key=lambda e: e.key)  # max(a, b) is max(b, a)
    return _atom(_Op(kind, first, second))


def smax(a: DimLike, b: DimLike) -> Expr:
    return _minmax("max", a, b)


def smin(a: DimLike, b: DimLike) -> Expr:
    return _minmax("min", a, b)


def evaluate(e: DimLike, sizes: Mapping[str, int]) -> int:
    """The value of ``e`` with the symbols given ``sizes``; ValueError names a missing one."""
    total = 0
    for m, c in as_expr(e).terms:
        for a, p in m:
            c *= _eval_atom(a, sizes) ** p
        total += c
    return total


def substitute(e: DimLike, exprs: Mapping[str, Expr]) -> Expr:
    """``e`` with each symbol named in ``exprs`` replaced by its expr (inside max/min/floordiv/mod too)."""
    out = as_expr(0)
    for m, c in as_expr(e).terms:
        term = as_expr(c)
        for a, p in m:
            if isinstance(a, str):
                factor = exprs.get(a, as_expr(a))
            else:
                x, y = substitute(a.a, exprs), substitute(a.b, exprs)
                factor = {"//": floordiv, "%": mod, "max": smax, "min": smin}[a.kind](x, y)
            for _ in range(p):
                term = term * factor
        out = out + term
    return out


def _eval_atom(a: Atom, sizes: Mapping[str, int]) -> int:
    if isinstance(a, str):
        if a not in sizes:
            raise ValueError(f"no size given for dim '{a}'")
        return int(sizes[a])
    x, y = evaluate(a.a, sizes), evaluate(a.b, sizes)
    if a.kind == "//":
        return x // y
    if a.kind == "%":
        return x % y
    return max(x, y) if a.kind == "max" else min(x, y)


# -- the text form ------------------------------------------------------------------------------------------------

#: how deeply ``max``/``min``/``//``/``%`` may nest in :func:`to_json`; each level takes at most two parentheses
#: in the text, within what :func:`parse_expr` accepts
MAX_NESTING = 32
MAX_PARENS = 2 * MAX_NESTING + 2


def to_json(e: DimLike) -> str:
    """The text form of a dim (see the module docstring). ValueError for a symbol name that does not match
    symdim.DIM_NAME (model names are untrusted) or for an expr nested deeper than MAX_NESTING."""
    return _fmt(as_expr(e), check=True)


def _fmt(e: Expr, check: bool, depth: int = 0) -> str:
    if check and depth > MAX_NESTING:
        raise ValueError(f"dim expression nested deeper than {MAX_NESTING}")
    if not e.terms:
        return "0"
    parts = []
    for i, (m, c) in enumerate(sorted(e.terms, key=lambda t: not t[0])):  # the constant last
        factors = [_fmt_atom(a, check, depth) for a, p in m for _ in range(p)]
        if abs(c) != 1 or not factors:
            factors.insert(0, (str(abs(c)), False))
        # a // or % inside a product, or after a unary minus, gets parentheses: -x // 2 is (-x) // 2
        wrap = len(factors) > 1 or (c < 0 and i == 0)
        text = "*".join(f"({t})" if loose and wrap else t for t, loose in factors)
        parts.append(("-" if c < 0 else "") + text if i == 0 else (" - " if c < 0 else " + ") + text)
    return "".join(parts)


def _fmt_atom(a: Atom, check: bool, depth: int) -> tuple[str, bool]:
    """The text of an atom, and whether it needs parentheses as a factor."""
    if isinstance(a, str):
        if check and not DIM_NAME.fullmatch(a):
            raise ValueError(f"dim name {a[:80]!r} cannot be written (names match {DIM_NAME.pattern})")
        return a, False
    if a.kind in ("max", "min"):
        return f"{a.kind}({_fmt(a.a, check, depth + 1)}, {_fmt(a.b, check, depth + 1)})", False
    inner = _fmt(a.a, check, depth + 1)
    bare = isinstance(a.a.atom, str) or (isinstance(a.a.atom, _Op) and a.a.atom.kind in ("max", "min"))
    return f"{inner if bare else f'({inner})'} {a.kind} {a.b.value}", True


_TOKEN = re.compile(r"(\d+)|([A-Za-z_][A-Za-z0-9_.\-]*)|(//|[-+*%(),])")


class _Parser:
    """Recursive descent over the text form; ``-`` binds tighter than ``* // %``, which bind tighter than ``+ -``
    (as in Python)."""

    def __init__(self, text: str):
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []  # (kind: int / name / op, text, offset)
        self.i = self.parens = 0
        pos = 0
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos == len(text):
                break
            m = _TOKEN.match(text, pos)
            if not m:
                self.fail(f"unexpected character {text[pos]!r}", pos)
            self.tokens.append(("int" if m.group(1) else "name" if m.group(2) else "op", m.group(), pos))
            pos = m.end()

    def fail(self, why: str, pos: Optional[int] = None) -> NoReturn:
        if pos is None:
            pos = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        shown = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        raise ValueError(f"bad dim expression {shown!r} at offset {pos}: {why}")

    def peek(self) -> Optional[str]:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, want: Optional[str] = None) -> tuple[str, str, int]:
        if self.i >= len(self.tokens):
            self.fail(f"expected {want!r}" if want else "unexpected end")
        tok = self.tokens[self.i]
        if want is not None and tok[1] != want:
            self.fail(f"expected {want!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> Expr:
        e = self.sum()
        if self.i < len(self.tokens):
            self.fail(f"unexpected {self.peek()!r}")
        return e

    def sum(self) -> Expr:
        e = self.product()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            t = self.product()
            e = e + t if op == "+" else e - t
        return e

    def product(self) -> Expr:
        e = self.unary()
        while self.peek() in ("*", "//", "%"):
            op = self.take()[1]
            offset = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
            f = self.unary()
            if op == "*":
                e = e * f
            else:
                if f.value is None or f.value <= 0:
                    self.fail(f"the right side of {op} must be a positive integer", offset)
                e = floordiv(e, f.value) if op == "//" else mod(e, f.value)
        return e

    def unary(self) -> Expr:
        negate = False
        while self.peek() == "-":
            self.take()
            negate = not negate
        e = self.primary()
        return -e if negate else e

    def primary(self) -> Expr:
        kind, text, offset = self.take()
        if kind == "int":
            return as_expr(int(text))
        if kind == "name" and text in ("max", "min") and self.peek() == "(":
            self.open()
            a = self.sum()
            self.take(",")
            b = self.sum()
            self.close()
            return smax(a, b) if text == "max" else smin(a, b)
        if kind == "name":
            if not DIM_NAME.fullmatch(text):
                self.fail(f"{text[:80]!r} is not a dim name", offset)
            return as_expr(text)
        if text == "(":
            self.i -= 1
            self.open()
            e = self.sum()
            self.close()
            return e
        self.fail(f"unexpected {text!r}", offset)

    def open(self) -> None:
        self.take("(")
        self.parens += 1
        if self.parens > MAX_PARENS:
            self.fail(f"nested deeper than {MAX_PARENS} parentheses")

    def close(self) -> None:
        self.take(")")
        self.parens -= 1


def parse_expr(text: str) -> Expr:
    """Read the text form of a dim (:func:`to_json`); ValueError says where it is wrong."""
    return _Parser(text).parse()


# -- ranges -------------------------------------------------------------------------------------------------------

Interval = tuple[float, float]  # ints, or -inf / inf


def _imul(x: Interval, y: Interval) -> Interval:
    prods = [0 if a == 0 or b == 0 else a * b for a in x for b in y]  # 0 * inf is 0 here, not nan
    return min(prods), max(prods)


def _ifloordiv(x: float, k: int) -> float:
    return x if math.isinf(x) else x // k


def bounds(e: DimLike, dims: Mapping[str, tuple[int, Optional[int]]]) -> Interval:
    """An interval holding every value of ``e`` when each symbol lies in its range in ``dims`` (a graph's
    ``Graph.dims``). A range without an upper bound is taken to end at symdim.MAX_DIM: no dim of a tensor a
    bundle can hold is larger. A symbol ``dims`` lacks lies in ``[0, MAX_DIM]``."""
    lo = hi = 0
    for m, c in as_expr(e).terms:
        iv: Interval = (c, c)
        for a, p in m:
            for _ in range(p):
                iv = _imul(iv, _atom_bounds(a, dims))
        lo, hi = lo + iv[0], hi + iv[1]
    return lo, hi


def _atom_bounds(a: Atom, dims: Mapping[str, tuple[int, Optional[int]]]) -> Interval:
    if isinstance(a, str):
        lo, hi = dims.get(a, (0, MAX_DIM))
        return lo, MAX_DIM if hi is None else hi
    x, y = bounds(a.a, dims), bounds(a.b, dims)
    if a.kind == "//":
        return _ifloordiv(x[0], a.b.value), _ifloordiv(x[1], a.b.value)
    if a.kind == "%":
        return 0, a.b.value - 1
    pick = max if a.kind == "max" else min
    return pick(x[0], y[0]), pick(x[1], y[1])


def _divide(a: Expr, b: Expr) -> Optional[Expr]:
    """``a / b`` when ``b`` divides ``a`` as a polynomial (long division in graded lex order), else None."""
    if not b.terms:
        return None

    def lead(e: Expr) -> tuple[Monomial, int]:
        # graded lex: higher degree first, then more of the atom that sorts first
        return min(e.terms, key=lambda t: (-sum(p for _, p in t[0]),
                                           tuple(_atom_key(x) for x, p in t[0] for _ in range(p))))

    bm, bc = lead(b)
    q, r = Expr(), a
    while r.terms:
        rm, rc = lead(r)
        powers = dict(rm)
        for x, p in bm:
            if powers.get(x, 0) < p:
                return None
            powers[x] -= p
        if rc % bc:
            return None
        t = Expr(((_mono(powers), rc // bc),))
        q, r = q + t, r - t * b
    return q


# -- shape inference ----------------------------------------------------------------------------------------------

SymDim = Optional[Expr]
SymShape = Optional[tuple[SymDim, ...]]

#: the longest int vector whose values are tracked (shape vectors; a rank-8 shape is rare), and the longest
#: int constant read as one (pads, axes, split sizes)
MAX_TRACKED = 8
MAX_CONST = 64
_TRACKED_DTYPES = ("int64", "int32", "bool")
_INFER = object()  # a Reshape target's -1


@dataclass(frozen=True)
class _Vec:
    """The known value of a small int tensor (rank 0 when ``scalar``, else rank 1); None for an unknown element."""

    elems: tuple[SymDim, ...]
    scalar: bool = False


def _array_vec(a: np.ndarray) -> Optional[_Vec]:
    if a.ndim > 1 or a.size > MAX_CONST or a.dtype.kind not in "iub":
        return None
    return _Vec(tuple(as_expr(int(x)) for x in a.reshape(-1).tolist()), a.ndim == 0)


class _Ctx:
    """What the rules read: the current shapes, the tracked values and the dims' ranges."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.vecs: dict[str, _Vec] = {}

    def shape(self, name: str) -> SymShape:
        v = self.graph.values.get(name) if name else None
        if v is None or v.shape is None:
            return None
        return tuple(None if d is None else as_expr(d) for d in v.shape)

    def vec(self, name: str) -> Optional[_Vec]:
        """The value of ``name`` if it is known: a constant int vector or a tracked one."""
        v = self.graph.values.get(name) if name else None
        if v is not None and v.const is not None:
            return _array_vec(v.const)
        return self.vecs.get(name)

    def ints(self, name: str) -> Optional[list[int]]:
        vec = self.vec(name)
        if vec is None or any(e is None or e.value is None for e in vec.elems):
            return None
        return [e.value for e in vec.elems]

    def input(self, node: Node, index: int) -> str:
        return node.inputs[index] if index < len(node.inputs) else ""

    def attr_or_input(self, node: Node, attr: str, index: int) -> tuple[bool, Optional[list[int]]]:
        """An int list given as an attribute (older opsets) or as input ``index``: (given?, the ints or None)."""
        if node.attrs.get(attr) is not None:
            return True, [int(x) for x in node.attrs[attr]]
        name = self.input(node, index)
        return bool(name), self.ints(name) if name else None

    def bounds(self, e: Expr) -> Interval:
        return bounds(e, self.graph.dims)

    def max(self, a: Expr, b: Expr) -> Expr:
        """``max(a, b)``, or the larger one when the dims' ranges decide."""
        lo, hi = self.bounds(a - b)
        return a if lo >= 0 else b if hi <= 0 else smax(a, b)

    def min(self, a: Expr, b: Expr) -> Expr:
        lo, hi = self.bounds(a - b)
        return a if hi <= 0 else b if lo >= 0 else smin(a, b)

    def equal(self, a: Expr, b: Expr) -> Optional[bool]:
        d = a - b
        lo, hi = self.bounds(d)
        return True if d.value == 0 else False if lo > 0 or hi < 0 else None

    def broadcast_dim(self, a: SymDim, b: SymDim) -> SymDim:
        """Multidirectional broadcasting of one dim. In a valid model a dim that is not 1 is the result (the other
        is 1 or the same), so a known non-1 wins even over an unknown; two different symbolic dims stay unknown."""
        if a is not None and (a == b or b == 1):
            return a
        if b is not None and a == 1:
            return b
        for d in (a, b):
            if d is not None and (d.value not in (None, 1) or self.bounds(d)[0] >= 2):
                return d
        return None

    def broadcast(self, shapes: Sequence[SymShape]) -> SymShape:
        if any(s is None for s in shapes):
            return None
        rank = max(len(s) for s in shapes)
        out = []
        for i in range(rank):
            d: SymDim = as_expr(1)
            for s in shapes:
                j = i - (rank - len(s))
                if j >= 0:
                    d = self.broadcast_dim(d, s[j])
            out.append(d)
        return tuple(out)


Rule = Callable[[_Ctx, Node], list[SymShape]]
ValueRule = Callable[[_Ctx, Node], Optional[_Vec]]
#: op type -> the output shapes of a node (ONNX domain); an op without a rule keeps its shapes
SHAPE_RULES: dict[str, Rule] = {}
#: op type -> the value of a node's first output, for small int tensors
VALUE_RULES: dict[str, ValueRule] = {}


def _rules(table: dict, *ops: str):
    def register(fn):
        for op in ops:
            table[op] = fn
        return fn
    return register


def _prod(dims: Iterable[SymDim]) -> SymDim:
    out = as_expr(1)
    for d in dims:
        if d is None:
            return None
        out = out * d
    return out


def _axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def infer_symbolic_shapes(graph: Graph, values: Optional[dict[str, "_Vec"]] = None) -> int:
    """Fill the unknown (None) dims of the values of a graph with dims left open (``graph.dims``), from the
    top-level nodes in order. A known dim (int or name) is kept even where a rule disagrees, and a rank never
    changes (an unknown rank may become known). Returns how many dims were filled. ``values``, when given,
    receives what the value rules learnt: small int tensors (shape arithmetic) as vectors of exprs."""
    if not graph.dims:
        return 0
    filled = 0
    for _ in range(3):  # again while a pass learns that an open dim is an expression of others
        ctx = _Ctx(graph)
        if values is not None:
            values.clear()
            ctx.vecs = values
        learnt = len(graph.dim_equals)
        filled += _infer_pass(graph, ctx)
        if len(graph.dim_equals) == learnt:
            break
    return filled


def _infer_pass(graph: Graph, ctx: "_Ctx") -> int:
    filled = 0
    for node in graph.nodes:
        if node.domain not in ("", "ai.onnx"):
            continue
        rule = SHAPE_RULES.get(node.op_type)
        if rule is not None:
            try:
                shapes = rule(ctx, node)
            except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError):
                shapes = []  # attributes this rule does not understand: the shapes stay as they are
            for name, shape in zip(node.outputs, shapes):
                if name and name in graph.values:
                    if _learn_equation(graph, graph.values[name], shape):
                        _substitute_dims(graph, ctx)
                    filled += _merge(graph.values[name], shape)
        value_rule = VALUE_RULES.get(node.op_type)
        out = graph.values.get(node.outputs[0]) if node.outputs and node.outputs[0] else None
        if value_rule is not None and out is not None and out.dtype in _TRACKED_DTYPES:
            try:
                vec = value_rule(ctx, node)
            except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError):
                vec = None
            if vec is not None and len(vec.elems) <= MAX_TRACKED:
                ctx.vecs[out.name] = vec
    return filled


def _learn_equation(graph: Graph, value: Value, shape: SymShape) -> bool:
    """Where a value's declared dim is an open input dim ``total`` and a rule computes it as an expression of
    other open dims (``past + seq``: the Concat of a KV cache), every valid run has ``total == past + seq``:
    record it in ``graph.dim_equals`` (the runtime checks it on the feeds). Returns whether one was learnt."""
    if shape is None or value.shape is None or len(shape) != len(value.shape) or value.name in graph.inputs:
        return False
    for old, new in zip(value.shape, shape):
        name = old if isinstance(old, str) else (old.symbol if isinstance(old, Expr) else None)
        if name is None or name not in graph.dims or name in graph.dim_equals or new is None or new.value is not None:
            continue
        new = substitute(new, graph.dim_equals)
        if new.symbol == name or not symbols_of(new) <= set(graph.dims) - {name} - set(graph.dim_equals):
            continue
        graph.dim_equals[name] = new
        return True
    return False


def symbols_of(e: Expr) -> set[str]:
    """The dim names an expression reads (inside max/min/floordiv/mod atoms too)."""
    found: set[str] = set()
    for m, _ in e.terms:
        for a, _ in m:
            found |= {a} if isinstance(a, str) else symbols_of(a.a) | symbols_of(a.b)
    return found


def _substitute_dims(graph: Graph, ctx: "_Ctx") -> None:
    """Rewrite the shapes (graph inputs keep their declared names: the runtime reads the dims from them) and the
    tracked values in terms of the open dims that ``graph.dim_equals`` does not define."""
    keep = set(graph.inputs)
    for v in graph.values.values():
        if v.name in keep or v.shape is None or v.is_const:
            continue
        if any(isinstance(d, (str, Expr)) for d in v.shape):
            v.shape = tuple(d if d is None or isinstance(d, int) else dim(substitute(d, graph.dim_equals))
                            for d in v.shape)
    for name, vec in list(ctx.vecs.items()):
        ctx.vecs[name] = _Vec(tuple(None if e is None else substitute(e, graph.dim_equals) for e in vec.elems),
                              vec.scalar)


def _merge(value: Value, shape: SymShape) -> int:
    """Write the dims a rule found where the value's are unknown; the number written."""
    if shape is None:
        return 0
    if value.shape is None:
        value.shape = tuple(None if d is None else dim(d) for d in shape)
        return sum(d is not None for d in shape)
    if len(value.shape) != len(shape):
        return 0
    new = tuple(dim(d) if old is None and d is not None else old for old, d in zip(value.shape, shape))
    count = sum(old is None and d is not None for old, d in zip(value.shape, new))
    value.shape = new
    return count


# -- rules: same shape as an input, broadcasting ------------------------------------------------------------------

@_rules(SHAPE_RULES, "Relu", "Gelu", "Erf", "Tanh", "Sigmoid", "Sqrt", "Softmax", "LogSoftmax", "Hardmax", "Cast",
        "CastLike", "IsNaN", "IsInf", "Not", "Neg", "Abs", "Exp", "Log", "Reciprocal", "Floor", "Ceil", "Round",
        "Sign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Elu",
        "Selu", "LeakyRelu", "HardSigmoid", "HardSwish", "Softplus", "Softsign", "ThresholdedRelu", "Celu",
        "Mish", "Swish", "Identity", "Clip", "BatchNormalization", "InstanceNormalization", "GroupNormalization",
        "LRN", "MeanVarianceNormalization", "LpNormalization", "Shrink", "BitwiseNot", "CumSum", "Trilu",
        "QuantizeLinear", "DequantizeLinear", "ReverseSequence", "ScatterElements", "ScatterND", "Scatter",
        "EyeLike", "RandomNormalLike", "RandomUniformLike", "Bernoulli")
def _same_as_first(ctx: _Ctx, node: Node) -> list[SymShape]:
    """Ops whose (first) output has the shape of their first input."""
    return [ctx.shape(node.inputs[0])]


@_rules(SHAPE_RULES, "Dropout")
def _dropout(ctx: _Ctx, node: Node) -> list[SymShape]:
    return [ctx.shape(node.inputs[0])] * 2


@_rules(SHAPE_RULES, "LayerNormalization")
def _layer_norm(ctx: _Ctx, node: Node) -> list[SymShape]:
    """The output has the input's shape; Mean and InvStdDev keep the dims before ``axis`` and 1 after."""
    x = ctx.shape(node.inputs[0])
    if x is None:
        return [None]
    axis = _axis(node.attrs.get("axis", -1), len(x))
    stats = x[:axis] + (as_expr(1),) * (len(x) - axis)
    return [x, stats, stats]


@_rules(SHAPE_RULES, "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "Where", "Equal", "Less",
        "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "BitShift", "BitwiseAnd", "BitwiseOr",
        "BitwiseXor", "PRelu")
def _broadcasting(ctx: _Ctx, node: Node) -> list[SymShape]:
    """Elementwise ops over broadcast inputs (numpy rules)."""
    return [ctx.broadcast([ctx.shape(i) for i in node.inputs if i])]


# -- rules: linear algebra, layout --------------------------------------------------------------------------------

@_rules(SHAPE_RULES, "MatMul")
def _matmul(ctx: _Ctx, node: Node) -> list[SymShape]:
    """numpy.matmul: a rank-1 operand gets a 1 prepended (left) or appended (right), removed again after."""
    a, b = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    if a is None or b is None or not a or not b:
        return [None]
    one = (as_expr(1),)
    aa, bb = (one + a if len(a) == 1 else a), (b + one if len(b) == 1 else b)
    batch = ctx.broadcast([aa[:-2], bb[:-2]])
    out = batch + (aa[-2], bb[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return [out]


@_rules(SHAPE_RULES, "Gemm")
def _gemm(ctx: _Ctx, node: Node) -> list[SymShape]:
    a, b = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    if a is None or b is None or len(a) != 2 or len(b) != 2:
        return [None]
    return [(a[1] if node.attrs.get("transA") else a[0], b[0] if node.attrs.get("transB") else b[1])]


@_rules(SHAPE_RULES, "Transpose")
def _transpose(ctx: _Ctx, node: Node) -> list[SymShape]:
    x = ctx.shape(node.inputs[0])
    if x is None:
        return [None]
    perm = node.attrs.get("perm") or list(range(len(x)))[::-1]
    return [tuple(x[p] for p in perm)]


@_rules(SHAPE_RULES, "Flatten")
def _flatten(ctx: _Ctx, node: Node) -> list[SymShape]:
    x = ctx.shape(node.inputs[0])
    if x is None:
        return [None]
    axis = _axis(node.attrs.get("axis", 1), len(x))
    return [(_prod(x[:axis]), _prod(x[axis:]))]


@_rules(SHAPE_RULES, "Reshape")
def _reshape(ctx: _Ctx, node: Node) -> list[SymShape]:
    """The target's 0 copies the input's dim (unless allowzero), its -1 is what is left of the input's size."""
    x, target = ctx.shape(node.inputs[0]), ctx.vec(node.inputs[1])
    if target is None or target.scalar:
        return [None]
    out: list = []
    for i, t in enumerate(target.elems):
        if t is not None and t.value == 0 and not node.attrs.get("allowzero"):
            out.append(x[i] if x is not None and i < len(x) else None)
        else:
            out.append(_INFER if t is not None and t.value == -1 else t)
    if _INFER in out:
        total, rest = _prod(x or (None,)), _prod(d for d in out if d is not _INFER)
        quotient = None
        if total is not None and rest is not None:
            quotient = _divide(total, rest)
            if quotient is None and rest.value is not None and rest.value > 0:
                quotient = floordiv(total, rest)  # exact in a valid model
        out[out.index(_INFER)] = quotient
    return [tuple(out)]


@_rules(SHAPE_RULES, "Squeeze")
def _squeeze(ctx: _Ctx, node: Node) -> list[SymShape]:
    """Without axes, every dim that is 1 goes: only decidable when every dim is a constant."""
    x = ctx.shape(node.inputs[0])
    given, axes = ctx.attr_or_input(node, "axes", 1)
    if x is None or (given and axes is None):
        return [None]
    if not given:
        if any(d is None or d.value is None for d in x):
            return [None]
        return [tuple(d for d in x if d.value != 1)]
    drop = {_axis(a, len(x)) for a in axes}
    return [tuple(d for i, d in enumerate(x) if i not in drop)]


@_rules(SHAPE_RULES, "Unsqueeze")
def _unsqueeze(ctx: _Ctx, node: Node) -> list[SymShape]:
    x = ctx.shape(node.inputs[0])
    _, axes = ctx.attr_or_input(node, "axes", 1)
    if x is None or axes is None:
        return [None]
    rank = len(x) + len(axes)
    ones = {_axis(a, rank) for a in axes}
    rest = iter(x)
    return [tuple(as_expr(1) if i in ones else next(rest) for i in range(rank))]


@_rules(SHAPE_RULES, "Expand")
def _expand(ctx: _Ctx, node: Node) -> list[SymShape]:
    """The input broadcast against the target shape (a target dim 1 keeps the input's)."""
    target = ctx.vec(node.inputs[1])
    if target is None:
        return [None]
    return [ctx.broadcast([ctx.shape(node.inputs[0]), target.elems])]


@_rules(SHAPE_RULES, "Tile")
def _tile(ctx: _Ctx, node: Node) -> list[SymShape]:
    x, repeats = ctx.shape(node.inputs[0]), ctx.vec(node.inputs[1])
    if x is None or repeats is None or len(repeats.elems) != len(x):
        return [None]
    return [tuple(None if d is None or r is None else d * r for d, r in zip(x, repeats.elems))]


# -- rules: shapes from values ------------------------------------------------------------------------------------

def _shape_slice(node: Node) -> slice:
    return slice(node.attrs.get("start", 0), node.attrs.get("end"))


@_rules(SHAPE_RULES, "Shape")
def _shape_of(ctx: _Ctx, node: Node) -> list[SymShape]:
    x = ctx.shape(node.inputs[0])
    return [None if x is None else (as_expr(len(x[_shape_slice(node)])),)]


@_rules(SHAPE_RULES, "Size")
def _scalar(ctx: _Ctx, node: Node) -> list[SymShape]:
    return [()]


@_rules(SHAPE_RULES, "ConstantOfShape")
def _constant_of_shape(ctx: _Ctx, node: Node) -> list[SymShape]:
    shape = ctx.vec(node.inputs[0])
    if shape is not None:
        return [shape.elems]
    n = ctx.shape(node.inputs[0])
    return [None if n is None or len(n) != 1 or n[0] is None or n[0].value is None else (None,) * n[0].value]


@_rules(SHAPE_RULES, "Range")
def _range(ctx: _Ctx, node: Node) -> list[SymShape]:
    """``max(ceil((limit - start) / delta), 0)`` elements, for a constant delta."""
    start, limit, delta = (ctx.vec(i) for i in node.inputs[:3])
    if start is None or limit is None or delta is None or delta.elems[0] is None or delta.elems[0].value is None:
        return [None]
    s, e, d = start.elems[0], limit.elems[0], delta.elems[0].value
    if s is None or e is None or d == 0:
        return [None]
    span = e - s if d > 0 else s - e
    return [(ctx.max(floordiv(span + abs(d) - 1, abs(d)), as_expr(0)),)]


# -- rules: gather, slice, concat, split, pad, resize -------------------------------------------------------------

@_rules(SHAPE_RULES, "Gather")
def _gather(ctx: _Ctx, node: Node) -> list[SymShape]:
    """The data's shape with the indices' shape in place of ``axis``."""
    x, idx = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    if x is None or idx is None:
        return [None]
    axis = _axis(node.attrs.get("axis", 0), len(x))
    return [x[:axis] + idx + x[axis + 1:]]


@_rules(SHAPE_RULES, "GatherElements")
def _gather_elements(ctx: _Ctx, node: Node) -> list[SymShape]:
    return [ctx.shape(node.inputs[1])]


#: ends that onnxruntime reads as "through the first element" when the step is negative, where the ONNX spec (and
#: numpy, and the js kernel) clamp them to ``n - 1``, which gives an empty slice: left unknown
_AMBIGUOUS_ENDS = (np.iinfo(np.int32).max, np.iinfo(np.int64).max)


def _slice_len(ctx: _Ctx, n: SymDim, start: SymDim, end: SymDim, step: int) -> SymDim:
    """ONNX Slice on one axis of size ``n``: negative indices count from the end, then clamp."""
    if n is None or start is None or end is None or step == 0 or (step < 0 and end.value in _AMBIGUOUS_ENDS):
        return None
    adjusted = []
    for i in (start, end):
        lo, hi = ctx.bounds(i)
        if lo < 0 and hi >= 0:  # the sign decides how to read it, and the ranges do not
            return None
        adjusted.append(i + n if hi < 0 else i)
    s, e = adjusted
    if step > 0:
        s, e = (ctx.min(ctx.max(i, as_expr(0)), n) for i in (s, e))
        span = e - s
    else:
        s = ctx.min(ctx.max(s, as_expr(0)), n - 1)
        e = ctx.min(ctx.max(e, as_expr(-1)), n - 1)
        span = s - e
    return ctx.max(floordiv(span + abs(step) - 1, abs(step)), as_expr(0))


def _slice_params(ctx: _Ctx, node: Node) -> Optional[tuple]:
    """(starts, ends, axes, steps) of a Slice: attributes before opset 10, inputs after; None where unknown."""
    if "starts" in node.attrs:
        starts = [as_expr(int(s)) for s in node.attrs["starts"]]
        ends = [as_expr(int(e)) for e in node.attrs["ends"]]
        axes = node.attrs.get("axes") or list(range(len(starts)))
        return starts, ends, axes, [1] * len(starts)
    starts, ends = ctx.vec(ctx.input(node, 1)), ctx.vec(ctx.input(node, 2))
    if starts is None or ends is None:
        return None
    axes = ctx.ints(ctx.input(node, 3)) if ctx.input(node, 3) else list(range(len(starts.elems)))
    steps = ctx.ints(ctx.input(node, 4)) if ctx.input(node, 4) else [1] * len(starts.elems)
    if axes is None or steps is None:
        return None
    return starts.elems, ends.elems, axes, steps


@_rules(SHAPE_RULES, "Slice")
def _slice(ctx: _Ctx, node: Node) -> list[SymShape]:
    x, params = ctx.shape(node.inputs[0]), _slice_params(ctx, node)
    if x is None or params is None:
        return [None]
    out = list(x)
    for s, e, axis, step in zip(*params):
        axis = _axis(axis, len(x))
        out[axis] = _slice_len(ctx, x[axis], s, e, step)
    return [tuple(out)]


@_rules(SHAPE_RULES, "Concat")
def _concat(ctx: _Ctx, node: Node) -> list[SymShape]:
    """The sum of the inputs' dims along ``axis``; the other dims are the same in every input."""
    shapes = [ctx.shape(i) for i in node.inputs if i]
    if not shapes or any(s is None or len(s) != len(shapes[0]) for s in shapes):
        return [None]
    axis = _axis(node.attrs["axis"], len(shapes[0]))
    out = [next((s[i] for s in shapes if s[i] is not None), None) for i in range(len(shapes[0]))]
    out[axis] = as_expr(0)
    for s in shapes:
        out[axis] = None if out[axis] is None or s[axis] is None else out[axis] + s[axis]
    return [tuple(out)]


@_rules(SHAPE_RULES, "Split")
def _split(ctx: _Ctx, node: Node) -> list[SymShape]:
    """Sizes given (``split``), else ``num_outputs`` chunks of ``ceil(n / k)`` (the last one smaller), else equal."""
    x = ctx.shape(node.inputs[0])
    if x is None:
        return []
    axis = _axis(node.attrs.get("axis", 0), len(x))
    n, k = x[axis], len(node.outputs)
    given, split = ctx.attr_or_input(node, "split", 1)
    if given:
        sizes: list[SymDim] = [None] * k if split is None else [as_expr(s) for s in split]
    elif n is None:
        sizes = [None] * k
    elif node.attrs.get("num_outputs"):
        chunk = floordiv(n + k - 1, k)
        sizes = [chunk] * (k - 1) + [n - chunk * (k - 1)]
    else:
        sizes = [floordiv(n, k)] * k
    return [x[:axis] + (s,) + x[axis + 1:] for s in sizes]


@_rules(SHAPE_RULES, "Pad")
def _pad(ctx: _Ctx, node: Node) -> list[SymShape]:
    """Each padded axis grows by its two pads (an attribute before opset 11, then an input; ``axes`` from 18)."""
    x = ctx.shape(node.inputs[0])
    if x is None:
        return [None]
    if node.attrs.get("pads") is not None:
        pads = [as_expr(int(p)) for p in node.attrs["pads"]]
    else:
        vec = ctx.vec(node.inputs[1])
        if vec is None:
            return [None]
        pads = list(vec.elems)
    axes = ctx.ints(ctx.input(node, 3)) if ctx.input(node, 3) else list(range(len(x)))
    if axes is None or len(pads) != 2 * len(axes):
        return [None]
    out = list(x)
    for i, axis in enumerate(axes):
        axis = _axis(axis, len(x))
        b, e = pads[i], pads[i + len(axes)]
        out[axis] = None if out[axis] is None or b is None or e is None else out[axis] + b + e
    return [tuple(out)]


@_rules(SHAPE_RULES, "Resize")
def _resize(ctx: _Ctx, node: Node) -> list[SymShape]:
    """Constant ``sizes``, or constant ``scales`` that are simple fractions: ``floor(n * scale)``."""
    x = ctx.shape(node.inputs[0])
    if x is None:
        return [None]
    axes = [_axis(a, len(x)) for a in node.attrs.get("axes") or range(len(x))]
    scales_name = ctx.input(node, 1) if len(node.inputs) == 2 else ctx.input(node, 2)  # opset 10: (X, scales)
    sizes = ctx.vec(ctx.input(node, 3)) if ctx.input(node, 3) else None
    out = list(x)
    if sizes is not None and len(sizes.elems) == len(axes):
        if node.attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch":
            return [None]
        for axis, s in zip(axes, sizes.elems):
            out[axis] = s
        return [tuple(out)]
    scales = ctx.graph.values.get(scales_name) if scales_name else None
    if scales is None or scales.const is None or scales.const.size != len(axes):
        return [None]
    for axis, s in zip(axes, scales.const.reshape(-1).tolist()):
        f = Fraction(float(s))
        ok = out[axis] is not None and f > 0 and f.denominator <= 1024
        out[axis] = floordiv(out[axis] * f.numerator, f.denominator) if ok else None
    return [tuple(out)]


# -- rules: reductions, windows -----------------------------------------------------------------------------------

@_rules(SHAPE_RULES, "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")
def _reduce(ctx: _Ctx, node: Node) -> list[SymShape]:
    """Axes from the attribute or the input; none: every axis, or none with ``noop_with_empty_axes``."""
    x = ctx.shape(node.inputs[0])
    given, axes = ctx.attr_or_input(node, "axes", 1)
    if x is None or (given and axes is None):
        return [None]
    if not axes:
        if node.attrs.get("noop_with_empty_axes"):
            return [x]
        axes = list(range(len(x)))
    return [_reduced(x, axes, node.attrs.get("keepdims", 1))]


def _reduced(x: tuple[SymDim, ...], axes: Iterable[int], keepdims: int) -> tuple[SymDim, ...]:
    gone = {_axis(a, len(x)) for a in axes}
    if keepdims:
        return tuple(as_expr(1) if i in gone else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in gone)


@_rules(SHAPE_RULES, "ArgMax", "ArgMin")
def _arg_reduce(ctx: _Ctx, node: Node) -> list[SymShape]:
    x = ctx.shape(node.inputs[0])
    return [None if x is None else _reduced(x, [node.attrs.get("axis", 0)], node.attrs.get("keepdims", 1))]


@_rules(SHAPE_RULES, "TopK")
def _topk(ctx: _Ctx, node: Node) -> list[SymShape]:
    x = ctx.shape(node.inputs[0])
    k = ctx.vec(node.inputs[1]) if len(node.inputs) > 1 else _Vec((as_expr(node.attrs["k"]),))
    if x is None or k is None or len(k.elems) != 1:
        return [None, None]
    axis = _axis(node.attrs.get("axis", -1), len(x))
    y = x[:axis] + k.elems + x[axis + 1:]
    return [y, y]


def _windows(ctx: _Ctx, node: Node, x: tuple[SymDim, ...], kernel: Sequence[int]) -> list[SymDim]:
    """Spatial output sizes of a window op: ``(n + pads - dilation*(k-1) - 1) // stride + 1`` with explicit pads
    (rounded up with ``ceil_mode``), ``ceil(n / stride)`` for SAME_*, no pads for VALID."""
    rank = len(kernel)
    strides = node.attrs.get("strides") or [1] * rank
    dilations = node.attrs.get("dilations") or [1] * rank
    pads = node.attrs.get("pads") or [0] * (2 * rank)
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    out: list[SymDim] = []
    for i, n in enumerate(x[2:]):
        k, s = dilations[i] * (kernel[i] - 1) + 1, strides[i]
        if n is None:
            out.append(None)
        elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out.append(floordiv(n + s - 1, s))
        elif auto_pad == "VALID":
            out.append(floordiv(n - k, s) + 1)
        elif not node.attrs.get("ceil_mode"):
            out.append(floordiv(n + pads[i] + pads[i + rank] - k, s) + 1)
        else:
            size = floordiv(n + pads[i] + pads[i + rank] - k + s - 1, s) + 1
            if k < s + pads[i + rank]:
                # a last window that would start in the end padding is dropped (onnxruntime, torch); with
                # k >= s + pad_end it never does
                size = ctx.min(size, floordiv(n + pads[i] - 1, s) + 1)
            out.append(size)
    return out


@_rules(SHAPE_RULES, "Conv")
def _conv(ctx: _Ctx, node: Node) -> list[SymShape]:
    x, w = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    if x is None or w is None or len(x) < 3:
        return [None]
    kernel = node.attrs.get("kernel_shape") or [None if d is None else d.value for d in w[2:]]
    if any(k is None for k in kernel):
        return [None]
    return [(x[0], w[0]) + tuple(_windows(ctx, node, x, kernel))]


@_rules(SHAPE_RULES, "MaxPool", "AveragePool", "LpPool")
def _pool(ctx: _Ctx, node: Node) -> list[SymShape]:
    x = ctx.shape(node.inputs[0])
    if x is None or len(x) < 3 or not node.attrs.get("kernel_shape"):
        return [None]
    y = x[:2] + tuple(_windows(ctx, node, x, node.attrs["kernel_shape"]))
    return [y, y]


@_rules(SHAPE_RULES, "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
def _global_pool(ctx: _Ctx, node: Node) -> list[SymShape]:
    x = ctx.shape(node.inputs[0])
    return [None if x is None or len(x) < 2 else x[:2] + (as_expr(1),) * (len(x) - 2)]


# -- value rules: small int vectors (shape arithmetic) ------------------------------------------------------------

@_rules(VALUE_RULES, "Shape")
def _v_shape(ctx: _Ctx, node: Node) -> Optional[_Vec]:
    x = ctx.shape(node.inputs[0])
    return None if x is None else _Vec(x[_shape_slice(node)])


@_rules(VALUE_RULES, "Size")
def _v_size(ctx: _Ctx, node: Node) -> Optional[_Vec]:
    x = ctx.shape(node.inputs[0])
    return None if x is None else _Vec((_prod(x),), scalar=True)


@_rules(VALUE_RULES, "Constant")
def _v_constant(ctx: _Ctx, node: Node) -> Optional[_Vec]:
    """A Constant node the passes have not folded yet (``value``, ``value_int`` or ``value_ints``)."""
    if "value_int" in node.attrs:
        return _Vec((as_expr(int(node.attrs["value_int"])),), scalar=True)
    if "value_ints" in node.attrs:
        return _Vec(tuple(as_expr(int(x)) for x in node.attrs["value_ints"]))
    value = node.attrs.get("value")
    return _array_vec(value) if isinstance(value, np.ndarray) else None


@_rules(VALUE_RULES, "Identity", "Cast")
def _v_same(ctx: _Ctx, node: Node) -> Optional[_Vec]:
    return ctx.vec(node.inputs[0])


@_rules(VALUE_RULES, "Gather")
def _v_gather(ctx: _Ctx, node: Node) -> Optional[_Vec]:
    """Elements of a vector at constant indices (negative ones from the end)."""
    data, idx = ctx.vec(node.inputs[0]), ctx.vec(node.inputs[1])
    if data is None or data.scalar or idx is None:
        return None
    n = len(data.elems)
    picked = []
    for i in idx.elems:
        if i is None or i.value is None or not -n <= i.value < n:
            return None
        picked.append(data.elems[i.value])
    return _Vec(tuple(picked), idx.scalar)


@_rules(VALUE_RULES, "Unsqueeze")
def _v_unsqueeze(ctx: _Ctx, node: Node) -> Optional[_Vec]:
    x = ctx.vec(node.inputs[0])
    return _Vec(x.elems) if x is not None and x.scalar else None


@_rules(VALUE_RULES, "Squeeze")
def _v_squeeze(ctx: _Ctx, node: Node) -> Optional[_Vec]:
    x = ctx.vec(node.inputs[0])
    return _Vec(x.elems, scalar=True) if x is not None and len(x.elems) == 1 and not x.scalar else None


@_rules(VALUE_RULES, "Reshape")
def _v_reshape(ctx: _Ctx, node: Node) -> Optional[_Vec]:
    x, out = ctx.vec(node.inputs[0]), ctx.graph.values[node.outputs[0]]
    if x is None or out.shape is None or len(out.shape) > 1:
        return None
    return _Vec(x.elems, scalar=not out.shape)


@_rules(VALUE_RULES, "Concat")
def _v_concat(ctx: _Ctx, node: Node) -> Optional[_Vec]:
    parts = [ctx.vec(i) for i in node.inputs if i]
    if any(p is None or p.scalar for p in parts):
        return None
    return _Vec(tuple(e for p in parts for e in p.elems))


@_rules(VALUE_RULES, "Slice")
def _v_slice(ctx: _Ctx, node: Node) -> Optional[_Vec]:
    """A vector sliced at constant indices. Not Python's slicing: with a negative step ONNX clamps the start to
    ``[0, n-1]`` (``x[-5::-1]`` of 3 elements is ``[x0]``, not ``[]``), and onnxruntime does as ONNX says."""
    x, params = ctx.vec(node.inputs[0]), _slice_params(ctx, node)
    if x is None or x.scalar or params is None or len(params[0]) != 1 or params[2][0] not in (0, -1):
        return None
    (start,), (end,), _, (step,) = params
    if start is None or end is None or start.value is None or end.value is None or not step or (
            step < 0 and end.value in _AMBIGUOUS_ENDS):
        return None
    n = len(x.elems)
    s, e = (i + n if i < 0 else i for i in (start.value, end.value))
    if step > 0:
        s, e = min(max(s, 0), n), min(max(e, 0), n)
    else:
        s, e = min(max(s, 0), n - 1), min(max(e, -1), n - 1)
    return _Vec(tuple(x.elems[i] for i in range(s, e, step)))


@_rules(VALUE_RULES, "ConstantOfShape")
def _v_constant_of_shape(ctx: _Ctx, node: Node) -> Optional[_Vec]:
    n = ctx.ints(node.inputs[0])
    fill = node.attrs.get("value")
    value = 0 if fill is None else int(np.asarray(fill).reshape(-1)[0])
    return None if n is None or len(n) > 1 else _Vec((as_expr(value),) * (n[0] if n else 1), scalar=not n)


def _elementwise(ctx: _Ctx, node: Node, fn: Callable[[Expr, Expr], SymDim]) -> Optional[_Vec]:
    """A binary op over two tracked values, broadcast (a scalar or a length-1 vector against a vector)."""
    a, b = ctx.vec(node.inputs[0]), ctx.vec(node.inputs[1])
    if a is None or b is None:
        return None
    la, lb = len(a.elems), len(b.elems)
    if la != lb and 1 not in (la, lb):
        return None
    n = lb if la == 1 else la
    out = []
    for i in range(n):
        x, y = a.elems[i if la > 1 else 0], b.elems[i if lb > 1 else 0]
        out.append(None if x is None or y is None else fn(x, y))
    return _Vec(tuple(out), a.scalar and b.scalar)


def _int_div(a: Expr, b: Expr, ctx: _Ctx) -> SymDim:
    """ONNX Div on ints (truncating): floor division where the dividend is not negative, or an exact quotient."""
    if a.value is not None and b.value is not None:
        if not b.value:
            return None
        q = abs(a.value) // abs(b.value)
        return as_expr(q if (a.value < 0) == (b.value < 0) else -q)
    if b.value is not None and b.value > 0 and ctx.bounds(a)[0] >= 0:
        return floordiv(a, b.value)
    return _divide(a, b)


def _truth(b: Optional[bool]) -> SymDim:
    return None if b is None else as_expr(int(b))


_ARITH: dict[str, Callable[[_Ctx], Callable[[Expr, Expr], SymDim]]] = {
    "Add": lambda ctx: lambda a, b: a + b,
    "Sub": lambda ctx: lambda a, b: a - b,
    "Mul": lambda ctx: lambda a, b: a * b,
    "Div": lambda ctx: lambda a, b: _int_div(a, b, ctx),
    "Mod": lambda ctx: lambda a, b: mod(a, b.value) if b.value is not None and b.value > 0 else None,
    "Max": lambda ctx: ctx.max,
    "Min": lambda ctx: ctx.min,
    "Equal": lambda ctx: lambda a, b: _truth(ctx.equal(a, b)),
}


@_rules(VALUE_RULES, *_ARITH)
def _v_arith(ctx: _Ctx, node: Node) -> Optional[_Vec]:
    """Integer arithmetic on tracked values (Mod with fmod=0, sign of the divisor); Equal where the ranges decide
    it (``seq == -1`` is false), which resolves torch's ``Where(Equal(shape, -1), 1, shape)`` before Expand."""
    if node.op_type == "Mod" and node.attrs.get("fmod"):
        return None
    return _elementwise(ctx, node, _ARITH[node.op_type](ctx))


@_rules(VALUE_RULES, "Where")
def _v_where(ctx: _Ctx, node: Node) -> Optional[_Vec]:
    cond, x, y = (ctx.vec(i) for i in node.inputs)
    if cond is None or x is None or y is None:
        return None
    lens = {len(v.elems) for v in (cond, x, y)} - {1}
    if len(lens) > 1:
        return None
    n = lens.pop() if lens else 1
    out = []
    for i in range(n):
        c, a, b = (v.elems[i if len(v.elems) > 1 else 0] for v in (cond, x, y))
        out.append(None if c is None or c.value is None else a if c.value else b)
    return _Vec(tuple(out), cond.scalar and x.scalar and y.scalar)

"""Sizes known only at run time in the generated C (issue 10: a bundle built with open dims).

A value sized by an open dim (its shape holds ``webdnn_build.symshape`` expressions) gets no arena slot at
build time: the runtime places it in wasm memory once per distinct set of input sizes and writes its address
into ``wdn_dyn_addr[k]``, and the sizes of the open dims into ``wdn_dims[i]``. An emitter that declares
``symbolic = True`` takes such values: while it runs, ``ctx.shape`` gives :class:`CExpr` dims, whose
arithmetic with ints builds C expressions over ``wdn_dims`` (so ``f"{m * k}"`` writes ``(wdn_dims[0] * 384)``).
What needs a number at build time (``range``, comparisons, ``int``) raises :class:`SymbolicSizeError`, and
the node runs as a js step instead. Dim names never reach the C source: only indices into ``wdn_dims``.
"""

from __future__ import annotations

import re
from typing import Mapping, Optional, Union

from webdnn_build.symshape import Expr, _Op, as_expr, floordiv, mod

#: in the C source: the open dims' sizes and the dynamic values' addresses, filled by the runtime per shape
DIMS_TABLE = "wdn_dims"
ADDR_TABLE = "wdn_dyn_addr"
_DIM_REF = re.compile(DIMS_TABLE + r"\[(\d+)\]")


class SymbolicSizeError(TypeError):
    """A build-time decision needs the value of a size that is known only at run time."""


def render(e: Expr, index: Mapping[str, int]) -> str:
    """``e`` as a C int expression over ``wdn_dims`` (``index``: dim name -> its slot)."""
    if not e.terms:
        return "0"
    parts = []
    for m, c in e.terms:
        factors = [_atom(a, index) for a, p in m for _ in range(p)]
        if c != 1 or not factors:
            factors.insert(0, str(c))
        parts.append("*".join(factors))
    return "(" + " + ".join(parts) + ")"


def _atom(a, index: Mapping[str, int]) -> str:
    if isinstance(a, str):
        if a not in index:
            raise SymbolicSizeError(f"dim {a!r} is not an open input dim")
        return f"{DIMS_TABLE}[{index[a]}]"
    assert isinstance(a, _Op)
    x, y = render(a.a, index), render(a.b, index)
    return {"//": f"({x} / {y})", "%": f"({x} % {y})", "max": f"WDN_MAX({x}, {y})", "min": f"WDN_MIN({x}, {y})"}[a.kind]


Num = Union[int, "CExpr"]


class CExpr:
    """A size known at run time, as emitters compute with it (see the module docstring)."""

    __slots__ = ("e", "index")

    def __init__(self, e: Expr, index: Mapping[str, int]):
        self.e, self.index = e, index

    @staticmethod
    def wrap(d, index: Mapping[str, int]) -> Num:
        if isinstance(d, CExpr):
            return d
        e = as_expr(d)
        return e.value if e.value is not None else CExpr(e, index)

    def _other(self, o) -> Optional[Expr]:
        if isinstance(o, CExpr):
            return o.e
        if isinstance(o, int) and not isinstance(o, bool):
            return as_expr(o)
        return None

    def _make(self, e: Expr) -> Num:
        return CExpr.wrap(e, self.index)

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
        return render(self.e, self.index)

    def __format__(self, spec: str) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"CExpr({self.e})"


def bound(text: str, hi: Mapping[int, int]) -> str:
    """A C expression with every ``wdn_dims[i]`` replaced by the upper bound ``hi[i]`` of that dim: the size
    of a static buffer (scratch) that must fit every run. Sizes grow with the dims, so the bound is the max."""
    return _DIM_REF.sub(lambda m: f"({hi[int(m.group(1))]})", text)


def is_runtime(text: str) -> bool:
    """Whether C text reads a run-time size or address (it cannot initialize a static)."""
    return DIMS_TABLE + "[" in text or ADDR_TABLE + "[" in text

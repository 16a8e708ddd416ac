"""Sizes known only at run time in the generated C (issue 10: a bundle built with open dims).

A value sized by an open dim (its shape holds ``webdnn_build.symshape`` expressions) gets no arena slot at
build time: the runtime places it in wasm memory once per distinct set of input sizes and writes its address
into ``wdn_dyn_addr[k]``, and the sizes of the open dims into ``wdn_dims[i]``. An emitter that declares
``symbolic = True`` takes such values: while it runs, ``ctx.shape`` gives :class:`CExpr` dims
(webdnn_build.runtime_size), whose arithmetic with ints builds C expressions over ``wdn_dims`` (so
``f"{m * k}"`` writes ``(wdn_dims[0] * 384)``). What needs a number at build time raises SymbolicSizeError, and
the node runs as a js step instead. Dim names never reach the C source: only indices into ``wdn_dims``.
"""

from __future__ import annotations

import re
from typing import Mapping

from webdnn_build.runtime_size import RuntimeSize, SymbolicSizeError, render_int  # noqa: F401  (re-exported)
from webdnn_build.symshape import Expr

#: in the C source: the open dims' sizes and the dynamic values' addresses, filled by the runtime per shape
DIMS_TABLE = "wdn_dims"
ADDR_TABLE = "wdn_dyn_addr"
_DIM_REF = re.compile(DIMS_TABLE + r"\[(\d+)\]")


def render(e: Expr, index: Mapping[str, int]) -> str:
    """``e`` as a C int expression over ``wdn_dims`` (``index``: dim name -> its slot)."""
    return render_int(e, index, lambda i: f"{DIMS_TABLE}[{i}]", "WDN_MAX", "WDN_MIN")


class CExpr(RuntimeSize):
    """A size known at run time, written as C over ``wdn_dims`` (see the module docstring)."""

    __slots__ = ()

    def render(self) -> str:
        return render(self.e, self.index)


def bound(text: str, hi: Mapping[int, int]) -> str:
    """A C expression with every ``wdn_dims[i]`` replaced by the upper bound ``hi[i]`` of that dim: the size
    of a static buffer (scratch) that must fit every run. Sizes grow with the dims, so the bound is the max."""
    return _DIM_REF.sub(lambda m: f"({hi[int(m.group(1))]})", text)


def is_runtime(text: str) -> bool:
    """Whether C text reads a run-time size or address (it cannot initialize a static)."""
    return DIMS_TABLE + "[" in text or ADDR_TABLE + "[" in text

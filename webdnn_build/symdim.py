"""Input dims left open at build time (dynamic shapes, docs/dynamic-shapes.md).

``--input-shape input_ids=1,?`` (or ``1..512``, ``seq:?``, ``seq:1..512``) keeps a dim open: its size comes with the
feeds at run time. In the IR an open dim is its name (a ``str``, as ONNX's ``dim_param``); dims with the same name
are the same size. The bundle's manifest lists every open dim with its range (``manifest["dims"]``), and the runtime
checks the feeds against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Union

from .errors import ConfigError

#: what a name of an open dim may look like (it is a key in the manifest and in error messages)
DIM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
#: the largest size a range may declare
MAX_DIM = 1 << 31


@dataclass(frozen=True)
class OpenDim:
    """A dim whose size is given at run time, within ``[lo, hi]`` (``hi`` None: no upper bound).

    ``name`` None: the model's own name for the dim (its ``dim_param``), else ``<input>_<axis>``."""

    name: Optional[str] = None
    lo: int = 1
    hi: Optional[int] = None

    def __str__(self) -> str:
        rng = f"{self.lo}..{self.hi}" if self.hi is not None else ("?" if self.lo == 1 else f"{self.lo}..")
        return f"{self.name}:{rng}" if self.name else rng


DimSpec = Union[int, OpenDim]


def parse_dim(text: str) -> DimSpec:
    """One dim of an input-shape spec: ``7``, ``?``, ``1..512``, ``?..512``, ``seq:?`` or ``seq:1..512``.

    Raises ValueError with the reason."""
    text = text.strip()
    name: Optional[str] = None
    if ":" in text:
        name, text = text.split(":", 1)
        if not DIM_NAME.fullmatch(name):
            raise ValueError(f"'{name}' is not a dim name (letters, digits, _ . -, starting with a letter or _)")
    if re.fullmatch(r"\d+", text):
        if name is not None:
            raise ValueError(f"a named dim takes a range ('{name}:1..{text}'), not a size")
        size = int(text)
        if size <= 0:
            raise ValueError("sizes are positive")
        return size
    if text == "?":
        return OpenDim(name)
    m = re.fullmatch(r"(\d+|\?)?\.\.(\d+)?", text)
    if m:
        lo = 1 if m.group(1) in (None, "?") else int(m.group(1))
        hi = None if m.group(2) is None else int(m.group(2))
        if (hi is not None and hi < lo) or (hi or 0) > MAX_DIM:
            raise ValueError(f"'{text}': a range LO..HI needs 0 <= LO <= HI <= {MAX_DIM}")
        return OpenDim(name, lo, hi)
    # a bare word is refused rather than taken for a name: a typo ("1,four") must not open a dim
    raise ValueError(f"'{text}' is not a size, ?, a range LO..HI, or a named open dim NAME:? / NAME:LO..HI")


def parse_shape(dims: list, where: str) -> tuple[DimSpec, ...]:
    """A shape from a spec (CLI strings or config values: ints and strings); ConfigError naming ``where``."""
    out = []
    for d in dims:
        try:
            if isinstance(d, bool):
                raise ValueError("not a size")
            if isinstance(d, int):
                if d <= 0:
                    raise ValueError("sizes are positive")
                out.append(d)
            elif isinstance(d, str):
                out.append(parse_dim(d))
            else:
                raise ValueError(f"{d!r} is not a size or a string")
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return tuple(out)


def is_open(shape: tuple) -> bool:
    return any(isinstance(d, OpenDim) for d in shape)

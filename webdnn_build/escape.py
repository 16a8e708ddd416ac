"""The only ways a string from a model may reach generated code or bundle files.

A model file is untrusted input: node, value and graph names, domains, attribute strings, doc
strings and metadata are chosen by whoever made the file. Generated C and WGSL never contain
such a string except inside a comment written by :func:`c_comment` / :func:`wgsl_comment`;
identifiers in generated code are generated (counters and fixed hints), never derived from
model strings. Bundle JSON is written by :func:`bundle_json` only. A model string that must
become part of a file name goes through :func:`file_name`.

The comment functions keep a short allow-listed subset of ASCII and write every other
character as ``\\xNN`` / ``\\uNNNN``: no ``*/`` or ``/*`` (WGSL block comments nest), no
newline (so no preprocessor line), no backslash-newline splice, no trigraph, no NUL.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

#: characters a comment may carry as they are; everything else is written as an escape
_COMMENT_SAFE = re.compile(r"[A-Za-z0-9 _.,:;=+()\[\]'-]")
#: longest comment text kept (the rest is replaced by a hash so comments stay distinguishable)
COMMENT_MAX = 96


def _escape_char(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def comment_text(text: str, limit: int = COMMENT_MAX) -> str:
    """``text`` reduced to characters that are inert inside a C or WGSL block comment."""
    out = "".join(ch if _COMMENT_SAFE.fullmatch(ch) else _escape_char(ch) for ch in str(text))
    if len(out) > limit:
        digest = hashlib.sha256(str(text).encode("utf-8", "surrogatepass")).hexdigest()[:12]
        out = f"{out[:limit]}...#{digest}"
    return out


def c_comment(text: str) -> str:
    """A C block comment, ``/* ... */``, whose content cannot end it or start a directive."""
    return f"/* {comment_text(text)} */"


def wgsl_comment(text: str) -> str:
    """A WGSL block comment (WGSL comments nest, so ``/*`` is escaped as well as ``*/``)."""
    return f"/* {comment_text(text)} */"


def bundle_json(obj: Any, *, indent: int | None = None) -> bytes:
    """Bundle JSON (manifest, plans, programs): strict JSON, pure ASCII.

    ``ensure_ascii`` writes NUL, control characters, U+2028/U+2029 and bidi overrides as
    ``\\uXXXX``; ``<`` and ``>`` are escaped too, so the text stays inert if a bundler or page
    ever inlines it into HTML or a ``<script>``. NaN and infinities are refused (not JSON).
    """
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(obj, indent=indent, separators=separators, allow_nan=False, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").encode("ascii")


_FILE_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def file_name(text: str, suffix: str = "", limit: int = 64) -> str:
    """A file name made from a model string: ``[A-Za-z0-9_.-]`` only, never ``.``/``..``/hidden,
    bounded length, and a hash of the original so different strings never collide."""
    digest = hashlib.sha256(str(text).encode("utf-8", "surrogatepass")).hexdigest()[:10]
    stem = _FILE_SAFE.sub("_", str(text))[:limit].lstrip(".") or "value"
    return f"{stem}-{digest}{suffix}"

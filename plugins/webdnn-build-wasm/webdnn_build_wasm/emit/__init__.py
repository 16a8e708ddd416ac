"""Op emitters of the wasm backend, keyed by (domain, op type).

One module per op family. An emitter class declares its ops in ``ops`` and their domain in ``domain``
("" = the ONNX default domain; e.g. "com.microsoft" for MatMulNBits); every such class in this package
is found by :func:`webdnn_build.emitter_table.discover`, so a new op needs its emitter class and its
kernel source (csrc/), nothing registered by hand. Where several classes take one op (float32 and
integer Add), the lower ``rank`` is tried first. ``emitter_for(node)`` finds the emitter of a node
("ai.onnx" is the default domain)."""

from __future__ import annotations

from typing import Any, Optional

from webdnn_build.emitter_table import discover
from webdnn_build.emitter_table import emitter_for as _lookup
from webdnn_build.ir import Node

from .base import EmitContext, Emitter

EMITTERS: dict[tuple[str, str], Any] = discover(__name__, Emitter)


def emitter_for(node: Node) -> Optional[Any]:
    """The emitter registered for the node's (domain, op type), or None."""
    return _lookup(EMITTERS, node)


__all__ = ["EMITTERS", "EmitContext", "Emitter", "emitter_for"]

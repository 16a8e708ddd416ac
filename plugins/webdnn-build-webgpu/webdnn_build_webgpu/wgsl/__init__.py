"""WGSL kernel emitters of the webgpu backend, keyed by (domain, op type).

One module per op family. An emitter class declares its ops in ``ops`` and their domain in ``domain``
("" = the ONNX default domain; "com.microsoft" for MatMulNBits, "webdnn" for the backend's fused
attention); every such class in this package is found by :func:`webdnn_build.emitter_table.discover`
(the lower ``rank`` first where several take one op). ``emitter_for(node)`` finds the emitter of a
node ("ai.onnx" is the default domain).
"""

from __future__ import annotations

from typing import Any, Optional

from webdnn_build.emitter_table import discover
from webdnn_build.emitter_table import emitter_for as _lookup
from webdnn_build.ir import Node

from .base import Dispatch, Emitter, KernelBuilder, KernelContext

EMITTERS: dict[tuple[str, str], Any] = discover(__name__, Emitter)


def emitter_for(node: Node) -> Optional[Any]:
    return _lookup(EMITTERS, node)


__all__ = ["EMITTERS", "Dispatch", "Emitter", "KernelBuilder", "KernelContext", "emitter_for"]

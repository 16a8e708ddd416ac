"""The op → emitter tables of the native backends (wasm, webgpu), found from their op-family files.

A backend keeps its emitters in one package, one module per op family (``emit/reduce.py``,
``wgsl/resize.py``, ...). Each emitter class names its ops in ``ops`` and their domain in ``domain``
("" is the ONNX default domain). :func:`discover` imports every module of the package and keys every
emitter class defined there by (domain, op): adding an op needs its emitter file and kernel source,
no table kept by hand.

Several emitters may take one op (float32 Add and int64 Add; Reshape as a no-op or as a copy): they
are tried in order of their ``rank`` (lower first, default 0), then module and class name, and the
first whose ``supports`` accepts a node emits it (:class:`FirstOf`).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any, Optional

from .ir import Graph, Node


class FirstOf:
    """Several emitters for one op type: the first that supports a node emits it."""

    def __init__(self, *emitters: Any) -> None:
        self.emitters = emitters

    def _pick(self, node: Node, graph: Graph) -> Any:
        return next((e for e in self.emitters if e.supports(node, graph)), None)

    def supports(self, node: Node, graph: Graph) -> bool:
        return self._pick(node, graph) is not None

    def emit(self, node: Node, ctx: Any) -> Any:
        e = self._pick(node, ctx.graph)
        assert e is not None, "emit() of a node no emitter supports"
        return e.emit(node, ctx)


def emitter_classes(package: str, base: type) -> list[type]:
    """The concrete emitter classes (subclasses of ``base`` with ``ops``) defined in the modules of
    ``package``, in trial order: rank, then module, then class name."""
    pkg = importlib.import_module(package)
    found: list[type] = []
    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"{package}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, base) and cls is not base and cls.__module__ == module.__name__ and cls.ops:
                found.append(cls)
    return sorted(found, key=lambda c: (getattr(c, "rank", 0), c.__module__, c.__name__))


def discover(package: str, base: type) -> dict[tuple[str, str], Any]:
    """(domain, op type) -> emitter (a :class:`FirstOf` where several classes take the op)."""
    table: dict[tuple[str, str], Any] = {}
    for cls in emitter_classes(package, base):
        emitter = cls()
        for op in cls.ops:
            key = (cls.domain, op)
            prev = table.get(key)
            table[key] = emitter if prev is None else FirstOf(*(prev.emitters if isinstance(prev, FirstOf) else (prev,)),
                                                               emitter)
    return table


def emitter_for(table: dict[tuple[str, str], Any], node: Node) -> Optional[Any]:
    """The emitter registered for the node's (domain, op type), or None ("ai.onnx" is the default domain)."""
    domain = "" if node.domain in ("", "ai.onnx") else node.domain
    return table.get((domain, node.op_type))


class KernelTable:
    """A native backend's emitters for one build: its own (``builtin``, from :func:`discover`) and the
    plugin kernels given by :meth:`use` (``webdnn_register_kernels``), which are tried first."""

    def __init__(self, builtin: dict[tuple[str, str], Any]) -> None:
        self.builtin = builtin
        self.plugin: dict[tuple[str, str], list[Any]] = {}
        #: C sources of the plugin kernels in use (wasm), each once, in registration order
        self.c_sources: list[str] = []

    def use(self, kernels: list[Any]) -> None:
        """Take the plugin kernels (``registry.Kernel``) of this backend for the next build."""
        self.plugin, self.c_sources = {}, []
        for k in kernels:
            for key in k.ops:
                self.plugin.setdefault(("" if key[0] == "ai.onnx" else key[0], key[1]), []).append(k.emitter)
            if k.c_source and k.c_source not in self.c_sources:
                self.c_sources.append(k.c_source)

    def plugin_ops(self) -> set[tuple[str, str]]:
        return set(self.plugin)

    def emitter_for(self, node: Node) -> Optional[Any]:
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        own = self.builtin.get((domain, node.op_type))
        extra = self.plugin.get((domain, node.op_type))
        if not extra:
            return own
        return FirstOf(*extra, *([own] if own is not None else []))


def check_fallbacks(backend: str, nodes: list[Node], native: list[bool], js_ops: set[tuple[str, str]]) -> None:
    """Raise UnsupportedOpsError for a node that neither runs natively nor has a js kernel to fall back to:
    a plugin kernel's op whose emitter refused this node (its dtype or shape)."""
    from .errors import UnsupportedOpsError
    for node, ok in zip(nodes, native):
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        if not ok and (domain, node.op_type) not in js_ops:
            raise UnsupportedOpsError(
                f"{backend}: {node.describe()} has no js kernel to fall back to, and the {backend} kernel "
                f"registered for {node.op_type} does not take this node (its dtypes or shapes)")


class PluginKernelsMixin:
    """What a native backend (wasm, webgpu) needs for plugin kernels: its ``KernelTable`` over its own
    emitters (``builtin_emitters``), ``use_kernels`` for the compiler, and the plugin ops added to the
    ops it supports. Put it before the backend's base class."""

    builtin_emitters: dict[tuple[str, str], Any] = {}

    def _table(self) -> KernelTable:
        if not hasattr(self, "_kernels"):
            self._kernels = KernelTable(self.builtin_emitters)
        return self._kernels

    def use_kernels(self, kernels: list[Any]) -> None:
        """The plugin kernels (webdnn_register_kernels) for the next build: emitters and their C source."""
        self._table().use(kernels)

    def supported_ops(self) -> set[tuple[str, str]]:
        return super().supported_ops() | self._table().plugin_ops()  # type: ignore[misc]

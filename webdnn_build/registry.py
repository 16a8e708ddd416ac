"""Typed registries that plugins fill through the ``webdnn_register_*`` hooks.

Built-in importers, passes and backends register exactly like third-party ones.
Registering the same name twice is an error that names both distributions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Sequence, Union

from .errors import ConfigError, PluginError
from .ir import Graph
from .symdim import DimSpec


@dataclass
class Importer:
    """Turns a model file into a :class:`Graph`."""

    name: str
    extensions: tuple[str, ...]
    load: Callable[[Path, "ImportOptions"], Graph]
    #: looks at the first bytes of a file; True when this importer can read it
    sniff: Optional[Callable[[bytes], bool]] = None
    plugin: str = ""


@dataclass
class ImportOptions:
    #: input name -> full shape: sizes, or symdim.OpenDim for a dim left open (sized at run time)
    input_shapes: dict[str, tuple[DimSpec, ...]] = field(default_factory=dict)


@dataclass
class PassContext:
    """What a pass may need besides the graph."""

    #: (domain, op_type) pairs every selected backend can run; passes must not introduce others
    supported_ops: Optional[set[tuple[str, str]]] = None
    #: True when every selected native backend (one with ``runs_natively``) runs the node on its own
    #: kernels rather than on the js fallback; None when no such backend is selected
    runs_natively: Optional[Callable[[Any, Graph], bool]] = None
    options: dict[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = lambda msg: None


PassFn = Callable[[Graph, PassContext], bool]


@dataclass
class OptimizationPass:
    """A graph rewrite. ``run`` returns True when it changed the graph."""

    id: str
    run: PassFn
    description: str
    #: position in the default pipeline (lower runs first); None keeps it out of the default pipeline
    order: Optional[int] = None
    plugin: str = ""


@dataclass(frozen=True)
class BackendOption:
    """One option a backend accepts (``--backend-option NAME.KEY=VALUE``, ``backend-options`` in
    the config). Backends list theirs in ``Backend.options``; the compiler refuses any other key."""

    name: str
    #: "bool" (true/false/1/0/yes/no/on/off), "int", "str", or "choice" (one of ``choices``)
    type: str
    #: the value used when the option is not given, as the user would write it
    default: str
    description: str
    choices: tuple[str, ...] = ()

    def check(self, value: str, backend: str) -> None:
        """Raise ConfigError when ``value`` is not valid for this option."""
        from .codegen import parse_bool

        where = f"backend option {backend}.{self.name}"
        if self.type == "bool":
            parse_bool(value, where)
        elif self.type == "int":
            try:
                int(value.strip())
            except ValueError:
                raise ConfigError(f"{where}: expected an integer, not {value!r}") from None
        elif self.type == "choice":
            if value.lower() not in self.choices:
                raise ConfigError(f"{where}: expected one of {', '.join(self.choices)}, not {value!r}")

    def describe(self) -> str:
        kind = "|".join(self.choices) if self.type == "choice" else self.type
        return f"{self.name} ({kind}, default {self.default}): {self.description}"


class Backend(Protocol):
    """What a backend plugin provides. See ``webdnn_build_js`` for the reference one."""

    name: str
    #: the options this backend accepts; a backend without the attribute accepts none
    options: tuple[BackendOption, ...]

    def supported_ops(self) -> set[tuple[str, str]]:
        """(domain, op_type) pairs this backend can run; domain "" is ONNX."""

    # optional: ``runs_natively(node, graph) -> bool``, whether the node runs on this backend's own kernels
    # (a backend whose unsupported ops fall back to the js kernels has it; passes read it through
    # PassContext.runs_natively)

    def storage_bytes(self, dtype: str) -> Optional[int]:
        """Bytes per element this backend uses for ``dtype`` in its arena, None if not arena-allocated."""

    def generate(self, graph: Graph, ctx: "CodegenContext") -> "BackendArtifact":
        """Emit this backend's part of the bundle."""


@dataclass
class CodegenContext:
    """Handed to ``Backend.generate``: the shared weight table and the memory planner."""

    #: value name -> {"offset", "byteLength", "encoding", ...} inside the bundle's weight file
    weights: dict[str, dict[str, Any]]
    plan_memory: Callable[..., Any]
    log: Callable[[str], None] = lambda msg: None
    #: the weight packer, for backends that need to store extra constants (e.g. re-laid-out weights)
    packer: Any = None
    #: this backend's options (``--backend-option NAME.KEY=VALUE``), e.g. {"threads": "false"}
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class BackendArtifact:
    """Files (path relative to the backend's folder -> bytes) plus the manifest entry."""

    files: dict[str, bytes]
    manifest: dict[str, Any]
    #: where the graph's ops run (written to the manifest entry as "placement"): "native" ops run on
    #: this backend's own kernels, "fallback" ops on the js kernels inside the bundle (js: all native)
    placement: Optional[dict[str, int]] = None


def placement_of(nodes: list, native: list[bool]) -> dict[str, Any]:
    """A backend's "placement": how many ops run on its own kernels, how many on the js kernels in the
    bundle, and which op types those are (domain-qualified outside the default domain)."""
    fallback = sorted({(f"{n.domain}." if n.domain not in ("", "ai.onnx") else "") + n.op_type
                       for n, ok in zip(nodes, native) if not ok})
    out: dict[str, Any] = {"native": sum(native), "fallback": len(nodes) - sum(native)}
    if fallback:
        out["fallback_ops"] = fallback
    return out


@dataclass
class Kernel:
    """A native kernel a plugin adds to a backend (``webdnn_register_kernels``): an emitter object in the
    backend's own emitter interface (``ops``, ``domain``, ``supports(node, graph)``, ``emit(node, ctx)``;
    docs/plugins.md) and, for wasm, the C source of the functions its emitted code calls (compiled into
    each model module that uses the backend). It takes precedence over the backend's built-in emitter
    for the same op where its ``supports`` accepts a node."""

    backend: str
    emitter: Any
    c_source: str = ""
    plugin: str = ""

    @property
    def ops(self) -> list[tuple[str, str]]:
        return [(getattr(self.emitter, "domain", ""), op) for op in getattr(self.emitter, "ops", ())]


@dataclass
class JsKernelModule:
    """JS kernels a plugin ships with its custom ops (``registry.add_js_kernel``): an ES module whose export
    ``kernels`` maps each op type of ``ops`` to a kernel function (the interface of ``registerKernel`` in
    webdnn-runtime). The compiler copies the module into every bundle whose graph uses one of the ops, and the
    runtime registers its kernels when it loads such a bundle: the application calls nothing. Every backend that
    runs js kernels (js; wasm and webgpu as js steps) then supports these ops."""

    domain: str
    ops: tuple[str, ...]
    path: Path
    plugin: str = ""


class Registry:
    """Everything the loaded plugins registered."""

    def __init__(self) -> None:
        self.importers: dict[str, Importer] = {}
        self.passes: dict[str, OptimizationPass] = {}
        self.backends: dict[str, Any] = {}
        self.kernels: list[Kernel] = []
        self.js_kernels: list[JsKernelModule] = []
        self._current_plugin = ""

    # The manager sets this while it calls one plugin's hooks, so entries know their origin.
    def _set_plugin(self, name: str) -> None:
        self._current_plugin = name

    def add_importer(self, name: str, extensions: tuple[str, ...], load: Callable[[Path, ImportOptions], Graph],
                     sniff: Optional[Callable[[bytes], bool]] = None) -> None:
        if name in self.importers:
            raise PluginError(f"importer '{name}' registered twice (by {self.importers[name].plugin} and {self._current_plugin})")
        self.importers[name] = Importer(name, tuple(e.lower() for e in extensions), load, sniff, self._current_plugin)

    def add_pass(self, id: str, run: PassFn, description: str, order: Optional[int] = None) -> None:
        if id in self.passes:
            raise PluginError(f"pass '{id}' registered twice (by {self.passes[id].plugin} and {self._current_plugin})")
        self.passes[id] = OptimizationPass(id, run, description, order, self._current_plugin)

    def add_backend(self, backend: Any) -> None:
        name = backend.name
        if name in self.backends:
            raise PluginError(f"backend '{name}' registered twice")
        backend.plugin = self._current_plugin
        backend.registry = self  # (what a backend asks of the other plugins' registrations, e.g. js_kernel_ops)
        self.backends[name] = backend

    def add_js_kernel(self, domain: str, ops: Sequence[str], module: Union[str, Path]) -> None:
        """Ship JS kernels for custom ops ``ops`` of ``domain``: ``module`` is the path of an ES module exporting
        ``kernels = { OpType: function }`` (JsKernelModule; docs/plugins.md)."""
        path = Path(module)
        who = self._current_plugin or "a plugin"
        if not domain or domain in ("ai.onnx",) or not ops or not all(isinstance(o, str) and o for o in ops):
            raise PluginError(f"JS kernels from {who}: give a custom domain and at least one op type")
        if not path.is_file():
            raise PluginError(f"JS kernels from {who} for {domain}: module {path} is not a file")
        taken = {(m.domain, op): m.plugin for m in self.js_kernels for op in m.ops}
        for op in ops:
            if (domain, op) in taken:
                raise PluginError(f"JS kernel {domain}::{op} registered twice (by {taken[(domain, op)]} and {who})")
        self.js_kernels.append(JsKernelModule(domain, tuple(ops), path, self._current_plugin))

    def js_kernel_ops(self) -> set[tuple[str, str]]:
        """(domain, op type) of every op with a JS kernel shipped by a plugin."""
        return {(m.domain, op) for m in self.js_kernels for op in m.ops}

    def add_kernel(self, backend: str, emitter: Any, c_source: str = "") -> None:
        """Add a native kernel to ``backend`` (any backend with ``use_kernels``: wasm, webgpu)."""
        if not getattr(emitter, "ops", None):
            raise PluginError(f"kernel for backend '{backend}' from {self._current_plugin or 'a plugin'}: "
                              "its emitter names no ops")
        self.kernels.append(Kernel(backend, emitter, c_source, self._current_plugin))

    def kernels_for(self, backend: str) -> list[Kernel]:
        return [k for k in self.kernels if k.backend == backend]

    def default_pipeline(self) -> list[str]:
        staged = [p for p in self.passes.values() if p.order is not None]
        return [p.id for p in sorted(staged, key=lambda p: (p.order, p.id))]

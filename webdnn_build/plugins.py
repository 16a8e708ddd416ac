"""Plugin discovery: entry points in the group ``webdnn_build``.

``WEBDNN_BUILD_PLUGINS`` (comma-separated entry-point names) restricts which
plugins load; unset means all installed ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Optional

import pluggy

from . import hookspecs
from .errors import PluginError
from .registry import Registry

ENTRY_POINT_GROUP = "webdnn_build"


@dataclass
class PluginInfo:
    name: str
    distribution: str
    version: str
    module: str
    registers: list[str] = field(default_factory=list)
    #: ops this plugin declared on backends registered by other plugins (e.g. a custom op with a JS kernel,
    #: ``registry.backends["js"].add_custom_op``): backend name -> (domain, op_type) pairs
    backend_ops: dict[str, set[tuple[str, str]]] = field(default_factory=dict)


class PluginHost:
    """Wraps pluggy's manager with one typed method per hook."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("webdnn_build")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.registry = Registry()

    def load_entry_points(self, allow: Optional[set[str]] = None) -> None:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if allow is not None and ep.name not in allow:
                continue
            if self.pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not hide the others' errors
                raise PluginError(f"plugin '{ep.name}' ({ep.value}) failed to import: {exc}") from exc
            dist = ep.dist
            self.register(plugin, ep.name, dist.name if dist else "?", dist.version if dist else "?")

    def register(self, plugin: Any, name: str, distribution: str = "(local)", version: str = "") -> None:
        self.pm.register(plugin, name=name)
        self.infos[name] = PluginInfo(name, distribution, version, getattr(plugin, "__name__", repr(plugin)))

    def build_registry(self) -> Registry:
        """Call every registration hook, one plugin at a time, recording what each adds."""
        self.pm.check_pending()
        reg = self.registry
        for name, info in self.infos.items():
            plugin = self.pm.get_plugin(name)
            before = (set(reg.importers), set(reg.passes), set(reg.backends))
            reg._set_plugin(name)
            declares = getattr(plugin, "webdnn_register_backends", None) is not None
            ops_before = {n: set(b.supported_ops()) for n, b in reg.backends.items()} if declares else {}
            for hook in ("webdnn_register_importers", "webdnn_register_passes", "webdnn_register_backends"):
                impl = getattr(plugin, hook, None)
                if impl is not None:
                    impl(registry=reg)
            for n, ops in ops_before.items():
                added = set(reg.backends[n].supported_ops()) - ops
                if added:
                    info.backend_ops.setdefault(n, set()).update(added)
            info.registers = (
                [f"importer:{n}" for n in sorted(set(reg.importers) - before[0])]
                + [f"pass:{n}" for n in sorted(set(reg.passes) - before[1])]
                + [f"backend:{n}" for n in sorted(set(reg.backends) - before[2])]
            )
        # kernels after every backend, so that a kernel plugin need not be loaded after the backend's
        for name, info in self.infos.items():
            impl = getattr(self.pm.get_plugin(name), "webdnn_register_kernels", None)
            if impl is None:
                continue
            before, before_js = len(reg.kernels), len(reg.js_kernels)
            reg._set_plugin(name)
            impl(registry=reg)
            info.registers += [f"kernel:{k.backend}:{'.'.join(filter(None, op))}"
                               for k in reg.kernels[before:] for op in k.ops]
            info.registers += [f"js-kernel:{m.domain}.{op}" for m in reg.js_kernels[before_js:] for op in m.ops]
        reg._set_plugin("")
        return reg

    def graph_imported(self, graph: Any) -> None:
        self.pm.hook.webdnn_graph_imported(graph=graph)


_HOST: Optional[PluginHost] = None


def get_host(reload: bool = False) -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    global _HOST
    if _HOST is None or reload:
        host = PluginHost()
        env = os.environ.get("WEBDNN_BUILD_PLUGINS")
        allow = {s.strip() for s in env.split(",") if s.strip()} if env else None
        host.load_entry_points(allow)
        host.build_registry()
        _HOST = host
    return _HOST


def plugin_versions() -> dict[str, str]:
    """distribution -> version for every loaded plugin; part of the build cache key."""
    host = get_host()
    return {f"{i.distribution}": i.version for i in host.infos.values()}

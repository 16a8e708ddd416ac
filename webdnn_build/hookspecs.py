"""The hooks a webdnn-build plugin can implement.

A plugin is a module (or object) registered under the entry-point group
``webdnn_build``; it implements any of these hooks with ``@webdnn_build.hookimpl``.
Registration hooks receive the typed :class:`~webdnn_build.registry.Registry`
and call its ``add_*`` methods instead of returning lists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .ir import Graph
    from .registry import Registry

hookspec = pluggy.HookspecMarker("webdnn_build")
hookimpl = pluggy.HookimplMarker("webdnn_build")


@hookspec
def webdnn_register_importers(registry: "Registry") -> None:
    """Register model importers (by file extension and by sniffing the file's first bytes)."""


@hookspec
def webdnn_register_passes(registry: "Registry") -> None:
    """Register optimization passes by stable id, with their place in the default pipeline."""


@hookspec
def webdnn_register_backends(registry: "Registry") -> None:
    """Register backends: name, supported ops and code generation."""


@hookspec
def webdnn_register_kernels(registry: "Registry") -> None:
    """Register native kernels for backends (``registry.add_kernel("wasm", emitter, c_source)``): a
    custom op, or a faster kernel for a standard one. Called after every plugin's backends are registered."""


@hookspec
def webdnn_graph_imported(graph: "Graph") -> None:
    """Called after import and shape inference, before any pass; may inspect or annotate the graph."""

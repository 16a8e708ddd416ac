"""Registers the ``webgpu`` backend."""

from __future__ import annotations

from webdnn_build.hookspecs import hookimpl
from webdnn_build.registry import Registry

from .backend import WebGpuBackend


@hookimpl
def webdnn_register_backends(registry: Registry) -> None:
    registry.add_backend(WebGpuBackend())

"""Registers the ONNX importer."""

from __future__ import annotations

from webdnn_build.hookspecs import hookimpl
from webdnn_build.registry import Registry

from .importer import load_onnx, looks_like_onnx


@hookimpl
def webdnn_register_importers(registry: Registry) -> None:
    registry.add_importer("onnx", (".onnx",), load_onnx, sniff=looks_like_onnx)

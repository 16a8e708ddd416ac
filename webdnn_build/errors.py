"""Errors the user sees. Each names the file and, where it applies, the node at fault."""

from __future__ import annotations


class WebDNNError(Exception):
    """Base class; the CLI prints these without a traceback."""


class PluginError(WebDNNError):
    pass


class ImportError_(WebDNNError):
    """The model file cannot be read (not a model, truncated, invalid)."""


class UnsupportedOpsError(WebDNNError):
    pass


class ShapeError(WebDNNError):
    """Dynamic dims left unfixed, or an input shape that does not fit."""


class ConfigError(WebDNNError):
    pass


class VerifyError(WebDNNError):
    pass


class ResourceError(WebDNNError):
    """A tensor or arena larger than a bundle can hold (absurd declared shapes, wasm32 memory)."""

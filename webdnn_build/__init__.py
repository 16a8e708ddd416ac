"""webdnn-build: compile trained models ahead of time into bundles for browsers and Node."""

__version__ = "0.1.0"

from .hookspecs import hookimpl  # noqa: E402  (plugins import it from here)

__all__ = ["__version__", "hookimpl"]

"""webdnn-build-optimize: the default optimization passes of webdnn-build.

The passes live one per module in :mod:`webdnn_build_optimize.passes`; the
plugin module registers them (with their place in the default pipeline) through
the ``webdnn_register_passes`` hook. See docs/passes.md.
"""

__version__ = "0.1.0"

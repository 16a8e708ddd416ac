"""The ONNX backend suite on the js backend (run through a persistent Node worker)."""

from .suite import build_suite

globals().update(build_suite("js", __name__))

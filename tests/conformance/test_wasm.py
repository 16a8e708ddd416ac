"""The ONNX backend suite on the wasm backend (single-threaded modules; ops without a wasm kernel
run on the js kernels inside the same bundle)."""

from .suite import build_suite

globals().update(build_suite("wasm", __name__))

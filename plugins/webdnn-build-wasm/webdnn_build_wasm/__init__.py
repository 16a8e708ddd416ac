"""The WebAssembly SIMD backend of webdnn-build."""

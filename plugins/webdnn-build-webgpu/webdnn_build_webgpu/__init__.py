"""WebGPU backend for webdnn-build (docs/webgpu-backend.md)."""

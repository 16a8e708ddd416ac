"""ONNX importer plugin for webdnn-build."""

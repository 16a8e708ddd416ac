"""The pure-JS backend of webdnn-build."""

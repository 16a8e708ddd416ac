"""Session-wide fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# wasm bundles built by the tests split every op over the threads, however small (the product runs small
# ops and small models on one thread: webdnn_build_wasm/schedule.py), so that the threaded share of every
# kernel is exercised; tests/wasm/test_schedule.py checks the product's defaults explicitly
os.environ.setdefault("WEBDNN_WASM_SPLIT_ALL", "1")


@pytest.fixture(scope="session")
def generated_models(tmp_path_factory) -> Path:
    """ResNet-50 v1.5, MobileNetV2 and the tiny CNN from examples/models/generate.py (random weights)."""
    out = tmp_path_factory.mktemp("models")
    subprocess.run([sys.executable, str(ROOT / "examples/models/generate.py"), "--out", str(out), "--no-verify",
                    "resnet50", "mobilenetv2", "tiny_cnn"], check=True, capture_output=True)
    return out

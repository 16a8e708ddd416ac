"""Session-wide fixtures."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import import_or_require

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


@pytest.fixture(scope="session")
def bert_dynamic(tmp_path_factory):
    """A BERT encoder (transformers' BertModel from a config, seeded random weights; hidden 32, 2 layers) exported by
    torch's ONNX exporter with a dynamic sequence axis "seq" (tests/test_dynamic_shapes.py, tests/test_symshape.py)."""
    import_or_require("torch")
    import_or_require("transformers")
    if "model_suite" not in sys.modules:  # (registered before it runs: its dataclasses look their module up)
        spec = importlib.util.spec_from_file_location("model_suite", ROOT / "tools/model_suite.py")
        sys.modules["model_suite"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["model_suite"])
    suite = sys.modules["model_suite"]
    return suite.export_bert_dynamic(tmp_path_factory.mktemp("bert") / "bert_dyn.onnx", vocab=100, hidden=32, layers=2,
                                     heads=2, intermediate=64)

"""Session-wide fixtures."""

from __future__ import annotations

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
    torch = import_or_require("torch")
    transformers = import_or_require("transformers")
    cfg = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=512)
    torch.manual_seed(0)
    bert = transformers.BertModel(cfg).eval()

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, ids, mask):
            return self.bert(input_ids=ids, attention_mask=mask).last_hidden_state

    path = tmp_path_factory.mktemp("bert") / "bert_dyn.onnx"
    ids, mask = torch.randint(0, 100, (1, 9)), torch.ones(1, 9, dtype=torch.int64)
    torch.onnx.export(Encoder(), (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
                      output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                      dynamic_axes={"input_ids": {1: "seq"}, "attention_mask": {1: "seq"},
                                    "last_hidden_state": {1: "seq"}})
    return path

#!/usr/bin/env python3
"""Generate the model-family suite: real architectures, seeded random weights, no downloads.

Each family is built from the `transformers` package's model classes (from config objects) or plain
torch modules, with weights drawn from a fixed seed, and exported with torch's ONNX exporters the way
users export them:

- ``<family>.dynamo.onnx``: ``torch.onnx.export(..., dynamo=True)`` (torch 2.x's default exporter);
- ``<family>.legacy.onnx``: the TorchScript-based exporter (``dynamo=False``), which many published
  ONNX files still come from.

Next to each model: one ``<family>.<input>.npy`` per input (valid token ids, a padded attention
mask, a seeded image), which the suite test and ``webdnn-build verify --input`` feed. Input shapes
are fixed (dynamic shapes are a separate issue).

    python tools/model_suite.py --out build/model-suite            # every family
    python tools/model_suite.py --out build/model-suite bert vit   # some
    python tools/model_suite.py --list

Needs torch, transformers and onnxscript (requirements-dev.txt pins them).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

SEED = 0
SEQ = 16            # sequence length of the text models
PAD_FROM = 12       # attention_mask is 0 from this position on (padded batch entry)
VOCAB = 1000


@dataclass
class Family:
    name: str
    description: str
    #: builds (module in eval mode, {input name: numpy array}, [output names])
    build: Callable[[], tuple[object, dict[str, np.ndarray], list[str]]]


def _text_inputs(with_types: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    ids = rng.integers(1, VOCAB, size=(1, SEQ), dtype=np.int64)
    mask = np.ones((1, SEQ), np.int64)
    mask[0, PAD_FROM:] = 0
    ids[0, PAD_FROM:] = 0  # the pad token
    feeds = {"input_ids": ids, "attention_mask": mask}
    if with_types:
        feeds["token_type_ids"] = (np.arange(SEQ) >= SEQ // 2).astype(np.int64)[None]
    return feeds


def _image_input(size: int = 32, channels: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    return {"pixel_values": rng.standard_normal((1, channels, size, size)).astype(np.float32)}


def _wrap(model, output: str, names: list[str]):
    """A module whose forward takes the inputs positionally, in ``names`` order, and returns one tensor."""
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args):
            out = self.model(**dict(zip(names, args)))
            return getattr(out, output)

    return Wrapped().eval()


def _bert():
    """MiniLM-L6-style sentence encoder (BERT architecture, 384 hidden, 12 heads), 2 layers."""
    from transformers import BertConfig, BertModel
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=384, num_hidden_layers=2, num_attention_heads=12,
                     intermediate_size=1536, max_position_embeddings=512)
    feeds = _text_inputs(with_types=True)
    return _wrap(BertModel(cfg), "last_hidden_state", list(feeds)), feeds, ["last_hidden_state"]


def _distilbert():
    from transformers import DistilBertConfig, DistilBertModel
    cfg = DistilBertConfig(vocab_size=VOCAB, dim=256, n_layers=2, n_heads=8, hidden_dim=1024,
                           max_position_embeddings=512)
    feeds = _text_inputs()
    return _wrap(DistilBertModel(cfg), "last_hidden_state", list(feeds)), feeds, ["last_hidden_state"]


def _vit():
    """ViT/DeiT-style image encoder: patch conv, class token, position embeddings, pre-LN blocks."""
    from transformers import ViTConfig, ViTModel
    cfg = ViTConfig(image_size=32, patch_size=8, hidden_size=192, num_hidden_layers=2, num_attention_heads=3,
                    intermediate_size=768)
    feeds = _image_input(32)
    return _wrap(ViTModel(cfg, add_pooling_layer=False), "last_hidden_state", list(feeds)), feeds, ["last_hidden_state"]


FAMILIES = {f.name: f for f in [
    Family("bert", "MiniLM-style BERT encoder, padded attention mask, token types", _bert),
    Family("distilbert", "DistilBERT encoder, padded attention mask", _distilbert),
    Family("vit", "ViT/DeiT-style image encoder (patch conv, class token)", _vit),
]}

#: export variants: file suffix -> torch.onnx.export keywords
EXPORTS = {
    "dynamo": {"dynamo": True},
    "legacy": {"dynamo": False},
}


def export(family: Family, out: Path, variants: list[str], log: Callable[[str], None]) -> list[Path]:
    import torch
    torch.manual_seed(SEED)
    module, feeds, outputs = family.build()
    args = tuple(torch.from_numpy(a) for a in feeds.values())
    written = []
    for variant in variants:
        path = out / f"{family.name}.{variant}.onnx"
        quiet = io.StringIO()
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, str(path), input_names=list(feeds), output_names=outputs,
                              opset_version=17, external_data=False, **EXPORTS[variant])
        written.append(path)
        log(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB")
    for name, array in feeds.items():
        np.save(out / f"{family.name}.{name}.npy", array)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("families", nargs="*", help="families to generate (default: all)")
    ap.add_argument("--out", type=Path, default=Path("build/model-suite"))
    ap.add_argument("--variants", default=",".join(EXPORTS), help="comma-separated export variants")
    ap.add_argument("--list", action="store_true", help="list the families and exit")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.list:
        for f in FAMILIES.values():
            print(f"{f.name:12s} {f.description}")
        return 0
    unknown = [n for n in a.families if n not in FAMILIES]
    variants = [v for v in a.variants.split(",") if v]
    bad = [v for v in variants if v not in EXPORTS]
    if unknown or bad:
        ap.error(f"unknown families {unknown} or variants {bad}; families: {', '.join(FAMILIES)}; "
                 f"variants: {', '.join(EXPORTS)}")
    a.out.mkdir(parents=True, exist_ok=True)
    log = (lambda m: None) if a.quiet else (lambda m: print(m, file=sys.stderr))
    for name in a.families or list(FAMILIES):
        export(FAMILIES[name], a.out, variants, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())

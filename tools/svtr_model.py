#!/usr/bin/env python3
"""An SVTR-family text recognizer (PP-OCR rec) with seeded random weights, exported to ONNX.

The architecture is PaddleOCR's PP-OCRv4/v5 mobile recognizer as ``transformers`` ships it
(``PPOCRV5MobileRecForTextRecognition``): a PP-LCNetV3 conv stem with rec strides ((2, 1), (1, 2)
stages, so a 48 × 320 line becomes 40 time steps), an SVTR neck (conv, transformer blocks with
LayerNorm and multi-head attention, conv) and a CTC head (Linear + softmax over the charset). The
trained model of the family that ``rapidocr-onnxruntime`` ships, ``ch_PP-OCRv4_rec_infer.onnx``,
has the same structure (paddle2onnx export, opset 12).

``svtr_rec()`` follows tools/model_suite.py's ``Family.build`` contract (module, feeds, output
names), so it can become a family there.

    python tools/svtr_model.py --out build/svtr                # svtr_rec.dynamo.onnx, svtr_rec.legacy.onnx
    python tools/svtr_model.py --out build/svtr --variants legacy
    webdnn-build verify build/svtr/svtr_rec.legacy.onnx --backend webgpu \\
        --input pixel_values=build/svtr/svtr_rec.pixel_values.npy

Needs torch, transformers (5.x) and onnxscript (for the dynamo exporter). The dynamo exporter writes
opset 18 and cannot convert this model down to 17 (it logs a traceback and keeps 18); the legacy
exporter writes opset 17.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import warnings
from pathlib import Path

import numpy as np

SEED = 0
OPSET = 17
HEIGHT, WIDTH = 48, 320
CHARSET = 97  # CTC blank + 96 symbols (the trained Chinese model has 6625)
EXPORTS = {"dynamo": {"dynamo": True}, "legacy": {"dynamo": False}}

# PaddleOCR's NET_CONFIG_rec for PP-LCNetV3, shortened (stage 4: 2 blocks instead of 5):
# (kernel, in, out, stride, squeeze-excitation); tuple strides keep the height/width shape of text lines
_BLOCKS = [
    [[3, 16, 32, 1, False]],
    [[3, 32, 64, 1, False], [3, 64, 64, 1, False]],
    [[3, 64, 128, [2, 1], False], [3, 128, 128, 1, False]],
    [[3, 128, 256, [1, 2], False], [5, 256, 256, 1, False]],
    [[5, 256, 512, [2, 1], True], [5, 512, 512, 1, True], [5, 512, 512, [2, 1], False], [5, 512, 512, 1, False]],
]


def _image(seed: int = SEED) -> np.ndarray:
    """A synthetic text-line image, normalized as PP-OCR does ((x / 255 - 0.5) / 0.5): dark strokes on light
    paper with seeded noise, so activations look like a real input's rather than pure noise."""
    rng = np.random.default_rng(seed)
    img = np.full((HEIGHT, WIDTH), 0.9, np.float32)
    for x0 in range(8, WIDTH - 16, 18):  # glyph-like bars and strokes
        w = int(rng.integers(2, 5))
        img[int(rng.integers(8, 16)):int(rng.integers(30, 42)), x0:x0 + w] = 0.1
        img[int(rng.integers(10, 38)), x0:x0 + int(rng.integers(6, 14))] = 0.15
    img = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1).astype(np.float32)
    return np.broadcast_to((img - 0.5) / 0.5, (1, 3, HEIGHT, WIDTH)).copy()


def svtr_rec():
    """(module in eval mode, {"pixel_values": image}, ["probs"]): PP-OCR mobile rec, random weights."""
    import torch
    from transformers import PPOCRV5MobileRecConfig, PPOCRV5MobileRecForTextRecognition

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from model_suite import _calibrate, _wrap  # BatchNorm statistics measured on the input, positional forward

    torch.manual_seed(SEED)
    backbone = {"model_type": "pp_lcnet_v3", "scale": 0.5, "block_configs": _BLOCKS, "divisor": 16,
                "out_features": ["stage2", "stage3", "stage4", "stage5"], "out_indices": [2, 3, 4, 5]}
    config = PPOCRV5MobileRecConfig(backbone_config=backbone, hidden_size=64, num_attention_heads=4, depth=2,
                                    head_out_channels=CHARSET)
    model = PPOCRV5MobileRecForTextRecognition(config).eval()
    # transformers initializes Linear weights with std 0.02 and biases with zeros: attention would be
    # uniform, the CTC softmax flat, and bias terms (e.g. of the squeeze-excitation convs, into which
    # HardSigmoid is fused) would test nothing. Fan-in scaling, random biases and a sharper head give
    # the value ranges a trained model has.
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, torch.nn.Linear):
                layer.weight.normal_(0.0, layer.in_features ** -0.5)
            if isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d)) and layer.bias is not None:
                layer.bias.normal_(0.0, 0.1)
        model.head.head.weight.mul_(4.0)
    feeds = {"pixel_values": _image()}
    module = _wrap(model, "last_hidden_state", list(feeds))  # the CTC head's softmax: [1, 40, CHARSET]
    return _calibrate(module, feeds), feeds, ["probs"]


def export(out: Path, variants: list[str], log=print) -> list[Path]:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    module, feeds, outputs = svtr_rec()
    args = tuple(torch.from_numpy(a) for a in feeds.values())
    written = []
    for variant in variants:
        path = out / f"svtr_rec.{variant}.onnx"
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, str(path), input_names=list(feeds), output_names=outputs,
                              opset_version=OPSET, external_data=False, **EXPORTS[variant])
        written.append(path)
        log(f"{path}: {path.stat().st_size / 1e6:.1f} MB")
    for name, array in feeds.items():
        np.save(out / f"svtr_rec.{name}.npy", array)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("build/svtr"))
    ap.add_argument("--variants", default=",".join(EXPORTS), help="comma-separated: dynamo, legacy")
    a = ap.parse_args(argv)
    variants = [v for v in a.variants.split(",") if v]
    if any(v not in EXPORTS for v in variants):
        ap.error(f"variants: {', '.join(EXPORTS)}")
    export(a.out, variants)
    return 0


if __name__ == "__main__":
    sys.exit(main())

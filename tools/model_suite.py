#!/usr/bin/env python3
"""Generate the model-family suite: real architectures, seeded random weights, no downloads.

Each family is built from the `transformers` package's model classes (from config objects) or plain
torch modules written here (MobileNetV3-, YOLOv8-, U-Net-style nets, a conv + LSTM/GRU speech model),
with weights drawn from a fixed seed (BatchNorm statistics measured on seeded inputs, so that
activations keep a realistic scale through deep conv stacks), and exported with torch's ONNX
exporters the way users export them:

- ``<family>.dynamo.onnx``: ``torch.onnx.export(..., dynamo=True)`` (torch 2.x's default exporter);
- ``<family>.legacy.onnx``: the TorchScript-based exporter (``dynamo=False``), which many published
  ONNX files still come from.

- ``light_<arch>.zoo.onnx``: the nine "light" model-zoo graphs that ship in onnx's wheel (AlexNet,
  DenseNet-121, Inception v1/v2, ResNet-50, ShuffleNet, SqueezeNet, VGG-19, ZFNet-512), whose weights
  there are all ``ConstantOfShape(0.02)``, with seeded random weights and measured BatchNorm
  statistics instead (tools/light_models.py).

A family records the exports that fail (``Family.dropped``: variant -> reason); the others are written.
Next to each model: one ``<family>.<input>.npy`` per input (valid token ids, a padded attention
mask, a seeded image, log-mel or filterbank features), which the suite test and
``webdnn-build verify --input`` feed. Input shapes are fixed (dynamic shapes are a separate issue).

Post-export variants (``--derived``, tools/suite_variants.py), made with onnxruntime's own tools:
``<family>.<export>.fused.onnx`` (onnxruntime.transformers optimizer: com.microsoft ops),
``.int8.onnx`` (dynamic quantization), ``.qdq.onnx`` (static QDQ int8, calibrated on the suite's inputs),
``.int4.onnx`` (4-bit MatMulNBits); fused and int4 for the transformer families only.

    python tools/model_suite.py --out build/model-suite            # every family
    python tools/model_suite.py --out build/model-suite bert vit   # some
    python tools/model_suite.py --out build/model-suite --derived all bert
    python tools/model_suite.py --list

Needs torch, transformers and onnxscript (requirements-dev.txt pins them).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

SEED = 0
SEQ = 16            # sequence length of the text models
PAD_FROM = 12       # attention_mask is 0 from this position on (padded batch entry)
VOCAB = 1000
OPSET = 17          # asked of both exporters; the dynamo exporter writes 18 and converts down (where it can)


@dataclass
class Family:
    name: str
    description: str
    #: builds (module in eval mode, {input name: numpy array}, [output names]); None for a family that
    #: is not exported from torch (``write``)
    build: Optional[Callable[[], tuple[object, dict[str, np.ndarray], list[str]]]]
    #: export variants this family does not get, with the reason (the exporter fails on it)
    dropped: dict[str, str] = field(default_factory=dict)
    #: opset per export variant where the default (17) does not do, with the reason in the family's comment
    opset: dict[str, int] = field(default_factory=dict)
    #: the export variants it has: torch's two exporters, or "zoo" (a model-zoo graph re-weighted by ``write``)
    exports: tuple[str, ...] = ("dynamo", "legacy")
    #: writes the model to the path given and returns its inputs (families not exported from torch)
    write: Optional[Callable[[Path], dict[str, np.ndarray]]] = None

    @property
    def variants(self) -> list[str]:
        return [v for v in self.exports if v not in self.dropped]


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


def _wrap(model, outputs: str | list[str], names: list[str]):
    """A module whose forward takes the inputs positionally, in ``names`` order, and returns the named
    output attribute(s): one tensor, or a tuple for a list of names."""
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args):
            out = self.model(**dict(zip(names, args)))
            if isinstance(outputs, str):
                return getattr(out, outputs)
            return tuple(getattr(out, o) for o in outputs)

    return Wrapped().eval()


def _calibrate(module, feeds: dict[str, np.ndarray], batch: int = 8):
    """Random affine BatchNorm parameters, and running statistics measured on seeded inputs.

    Random conv weights with BatchNorm's default statistics (mean 0, var 1) let activations vanish or
    blow up over a deep conv stack, and the comparison then checks almost nothing. Here each norm's
    statistics are those of its own input in eval mode (set by a pre-hook, in execution order, so
    every norm sees its upstream already calibrated), over a batch of the suite's input and
    ``batch - 1`` other seeded draws: the net then normalizes as a trained one does, without channels
    whose variance degenerates on one small feature map."""
    import torch
    g = torch.Generator().manual_seed(SEED)
    rng = np.random.default_rng(SEED + 1)
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]

    def measure(norm, args):
        x = args[0]
        dims = [d for d in range(x.dim()) if d != 1]
        norm.running_mean.copy_(x.mean(dims))
        norm.running_var.copy_(x.var(dims, unbiased=False))

    module.eval()
    with torch.no_grad():
        for m in norms:
            if m.affine:
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
        hooks = [m.register_forward_pre_hook(measure) for m in norms]
        draws = [np.concatenate([a, rng.standard_normal((batch - 1, *a.shape[1:])).astype(a.dtype)])
                 for a in feeds.values()]
        module(*(torch.from_numpy(a) for a in draws))
        for h in hooks:
            h.remove()
    return module


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


def _clip_text():
    """CLIP text tower: causal + padding mask, pooled output taken at the first EOS token (ArgMax)."""
    from transformers import CLIPTextConfig, CLIPTextModel
    eos = VOCAB - 1
    cfg = CLIPTextConfig(vocab_size=VOCAB, hidden_size=128, intermediate_size=512, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=SEQ * 2, pad_token_id=0, bos_token_id=VOCAB - 2,
                         eos_token_id=eos)
    feeds = _text_inputs()
    ids = feeds["input_ids"]
    ids[ids >= VOCAB - 2] = 1
    ids[0, 0], ids[0, PAD_FROM - 1] = VOCAB - 2, eos  # BOS ... EOS, then padding
    outputs = ["last_hidden_state", "pooler_output"]
    return _wrap(CLIPTextModel(cfg), outputs, list(feeds)), feeds, outputs


def _clip_vision():
    """CLIP vision tower: patch conv, class token, pre-LayerNorm, quick-GELU, pooled class token."""
    from transformers import CLIPVisionConfig, CLIPVisionModel
    cfg = CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=128, intermediate_size=512, num_hidden_layers=2,
                           num_attention_heads=4)
    feeds = _image_input(32)
    outputs = ["last_hidden_state", "pooler_output"]
    return _wrap(CLIPVisionModel(cfg), outputs, list(feeds)), feeds, outputs


def _whisper_encoder():
    """Whisper-tiny-shaped encoder (two Conv1d + GELU, sinusoidal positions, pre-LN blocks), shrunk:
    80 mel bins over 2 * 32 frames instead of 3000."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder
    cfg = WhisperConfig(num_mel_bins=80, d_model=128, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=512,
                        decoder_layers=1, decoder_attention_heads=4, decoder_ffn_dim=512, max_source_positions=32,
                        max_target_positions=32, vocab_size=VOCAB)
    rng = np.random.default_rng(SEED)
    feeds = {"input_features": rng.standard_normal((1, 80, 2 * cfg.max_source_positions)).astype(np.float32)}
    return _wrap(WhisperEncoder(cfg), "last_hidden_state", list(feeds)), feeds, ["last_hidden_state"]


def _convnext():
    """ConvNeXt-tiny-shaped, shrunk: patchify stem, 7x7 depthwise convs, channels-first LayerNorm,
    layer scale (1.0 rather than 1e-6, so the blocks count in the comparison)."""
    from transformers import ConvNextConfig, ConvNextModel
    cfg = ConvNextConfig(num_channels=3, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], image_size=64,
                         layer_scale_init_value=1.0)
    feeds = _image_input(64)
    outputs = ["last_hidden_state", "pooler_output"]
    return _wrap(ConvNextModel(cfg), outputs, list(feeds)), feeds, outputs


def _efficientnet():
    """EfficientNet-B0-shaped, shrunk (4 stages, half width): MBConv blocks, SE, SiLU, asymmetric
    ZeroPad2d before strided depthwise convs, the top conv and AvgPool2d pooler."""
    from transformers import EfficientNetConfig, EfficientNetModel
    cfg = EfficientNetConfig(image_size=64, width_coefficient=0.5, depth_coefficient=1.0, kernel_sizes=[3, 3, 5, 3],
                             in_channels=[32, 16, 24, 40], out_channels=[16, 24, 40, 80], strides=[1, 2, 2, 2],
                             num_block_repeats=[1, 2, 1, 1], expand_ratios=[1, 6, 6, 6], hidden_dim=640)
    feeds = _image_input(64)
    outputs = ["last_hidden_state", "pooler_output"]
    return _calibrate(_wrap(EfficientNetModel(cfg), outputs, list(feeds)), feeds), feeds, outputs


def _conv_bn(nn, c1: int, c2: int, k: int = 1, s: int = 1, groups: int = 1, act=None):
    layers = [nn.Conv2d(c1, c2, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c2)]
    return nn.Sequential(*layers, act) if act is not None else nn.Sequential(*layers)


def _mobilenetv3():
    """MobileNetV3-small-style classifier (torchvision's layout, written out: transformers has no V3):
    inverted residuals, depthwise convs, squeeze-excitation with Hardsigmoid, Hardswish and ReLU."""
    import torch
    from torch import nn

    class SqueezeExcite(nn.Module):
        def __init__(self, c: int, squeeze: int) -> None:
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc1, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)
            self.relu, self.gate = nn.ReLU(), nn.Hardsigmoid()

        def forward(self, x):
            return x * self.gate(self.fc2(self.relu(self.fc1(self.pool(x)))))

    class InvertedResidual(nn.Module):
        def __init__(self, c1: int, exp: int, c2: int, k: int, s: int, se: bool, act) -> None:
            super().__init__()
            layers = [] if exp == c1 else [_conv_bn(nn, c1, exp, 1, act=act())]
            layers.append(_conv_bn(nn, exp, exp, k, s, groups=exp, act=act()))
            if se:
                layers.append(SqueezeExcite(exp, max(8, exp // 4)))
            layers.append(_conv_bn(nn, exp, c2, 1))
            self.block = nn.Sequential(*layers)
            self.residual = s == 1 and c1 == c2

        def forward(self, x):
            y = self.block(x)
            return x + y if self.residual else y

    class MobileNetV3(nn.Module):
        def __init__(self, classes: int = 10) -> None:
            super().__init__()
            HS, RE = nn.Hardswish, nn.ReLU
            # (in, expanded, out, kernel, stride, SE, activation)
            spec = [(16, 16, 16, 3, 2, True, RE), (16, 72, 24, 3, 2, False, RE), (24, 88, 24, 3, 1, False, RE),
                    (24, 96, 40, 5, 2, True, HS), (40, 120, 40, 5, 1, True, HS)]
            self.features = nn.Sequential(_conv_bn(nn, 3, 16, 3, 2, act=HS()),
                                          *(InvertedResidual(*row) for row in spec),
                                          _conv_bn(nn, 40, 240, 1, act=HS()))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Linear(240, 256), HS(), nn.Dropout(0.2), nn.Linear(256, classes))

        def forward(self, pixel_values):
            return self.classifier(torch.flatten(self.pool(self.features(pixel_values)), 1))

    feeds = _image_input(64)
    return _calibrate(MobileNetV3(), feeds), feeds, ["logits"]


def _yolov8():
    """YOLOv8-style detector (ultralytics' layout, written out, shrunk): Conv-BN-SiLU, C2f blocks
    (Split, Concat), SPPF (MaxPool), nearest Upsample + Concat neck (FPN + PAN), and the decode head:
    DFL (Softmax over the box bins, a 1x1 conv with the bin indices), sigmoid scores, box decode
    against fixed anchors. Output [1, 4 + classes, anchors]: xywh in pixels, then class scores."""
    import torch
    from torch import nn

    SiLU = nn.SiLU
    REG_MAX, CLASSES, STRIDES, IMAGE = 8, 4, (8, 16, 32), 64

    def conv(c1, c2, k=1, s=1):
        return _conv_bn(nn, c1, c2, k, s, act=SiLU())

    class Bottleneck(nn.Module):
        def __init__(self, c: int, shortcut: bool) -> None:
            super().__init__()
            self.cv1, self.cv2, self.add = conv(c, c, 3), conv(c, c, 3), shortcut

        def forward(self, x):
            y = self.cv2(self.cv1(x))
            return x + y if self.add else y

    class C2f(nn.Module):
        def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True) -> None:
            super().__init__()
            self.c = c2 // 2
            self.cv1, self.cv2 = conv(c1, 2 * self.c, 1), conv((2 + n) * self.c, c2, 1)
            self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

        def forward(self, x):
            y = list(self.cv1(x).split((self.c, self.c), 1))
            y.extend(m(y[-1]) for m in self.m)
            return self.cv2(torch.cat(y, 1))

    class SPPF(nn.Module):
        def __init__(self, c1: int, c2: int) -> None:
            super().__init__()
            self.cv1, self.cv2 = conv(c1, c1 // 2), conv(c1 // 2 * 4, c2)
            self.pool = nn.MaxPool2d(5, 1, 2)

        def forward(self, x):
            y = [self.cv1(x)]
            y.extend(self.pool(y[-1]) for _ in range(3))
            return self.cv2(torch.cat(y, 1))

    def anchors():
        points, strides = [], []
        for s in STRIDES:
            n = IMAGE // s
            ys, xs = torch.meshgrid(torch.arange(n) + 0.5, torch.arange(n) + 0.5, indexing="ij")
            points.append(torch.stack((xs, ys), -1).reshape(-1, 2))
            strides.append(torch.full((n * n, 1), float(s)))
        return torch.cat(points).T[None], torch.cat(strides).T[None]  # [1, 2, A], [1, 1, A]

    class Detect(nn.Module):
        def __init__(self, channels) -> None:
            super().__init__()
            c2, c3 = max(16, 4 * REG_MAX), max(channels[0], CLASSES)
            self.box = nn.ModuleList(nn.Sequential(conv(c, c2, 3), conv(c2, c2, 3), nn.Conv2d(c2, 4 * REG_MAX, 1))
                                     for c in channels)
            self.cls = nn.ModuleList(nn.Sequential(conv(c, c3, 3), conv(c3, c3, 3), nn.Conv2d(c3, CLASSES, 1))
                                     for c in channels)
            self.dfl = nn.Conv2d(REG_MAX, 1, 1, bias=False).requires_grad_(False)
            self.dfl.weight.data[:] = torch.arange(REG_MAX, dtype=torch.float32).view(1, REG_MAX, 1, 1)
            points, strides = anchors()
            self.register_buffer("points", points)
            self.register_buffer("strides", strides)

        def forward(self, feats):
            x = torch.cat([torch.cat((b(f), c(f)), 1).flatten(2) for f, b, c in zip(feats, self.box, self.cls)], 2)
            box, cls = x.split((4 * REG_MAX, CLASSES), 1)
            b, a = box.shape[0], box.shape[-1]
            dist = self.dfl(box.view(b, 4, REG_MAX, a).transpose(2, 1).softmax(1)).view(b, 4, a)
            lt, rb = dist.chunk(2, 1)
            x1y1, x2y2 = self.points - lt, self.points + rb
            xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * self.strides
            return torch.cat((xywh, cls.sigmoid()), 1)

    class YOLOv8(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(conv(3, 8, 3, 2), conv(8, 16, 3, 2), C2f(16, 16))  # stride 4
            self.p3 = nn.Sequential(conv(16, 32, 3, 2), C2f(32, 32, 2))                  # stride 8
            self.p4 = nn.Sequential(conv(32, 64, 3, 2), C2f(64, 64))                     # stride 16
            self.p5 = nn.Sequential(conv(64, 64, 3, 2), C2f(64, 64), SPPF(64, 64))       # stride 32
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.top4, self.top3 = C2f(128, 32, shortcut=False), C2f(64, 32, shortcut=False)
            self.down3, self.bottom4 = conv(32, 32, 3, 2), C2f(64, 64, shortcut=False)
            self.down4, self.bottom5 = conv(64, 64, 3, 2), C2f(128, 64, shortcut=False)
            self.detect = Detect((32, 64, 64))

        def forward(self, images):
            p3 = self.p3(self.stem(images))
            p4 = self.p4(p3)
            p5 = self.p5(p4)
            t4 = self.top4(torch.cat((self.up(p5), p4), 1))
            n3 = self.top3(torch.cat((self.up(t4), p3), 1))
            n4 = self.bottom4(torch.cat((self.down3(n3), t4), 1))
            n5 = self.bottom5(torch.cat((self.down4(n4), p5), 1))
            return self.detect((n3, n4, n5))

    feeds = {"images": _image_input(64)["pixel_values"]}
    return _calibrate(YOLOv8(), feeds), feeds, ["detections"]


def _unet():
    """U-Net-style segmenter: GroupNorm and InstanceNorm conv blocks, MaxPool and strided-conv
    downsampling, a ConvTranspose2d and a bilinear Upsample (align_corners False and True) in the
    decoder, skip Concats, per-pixel class logits."""
    import torch
    from torch import nn

    def block(c1, c2, norm):
        return nn.Sequential(nn.Conv2d(c1, c2, 3, padding=1), norm(c2), nn.ReLU(),
                             nn.Conv2d(c2, c2, 3, padding=1), norm(c2), nn.ReLU())

    def group(c):
        return nn.GroupNorm(4, c)

    def instance(c):
        return nn.InstanceNorm2d(c, affine=True)

    class UNet(nn.Module):
        def __init__(self, classes: int = 3) -> None:
            super().__init__()
            self.enc1, self.enc2, self.enc3 = block(3, 8, group), block(8, 16, instance), block(16, 32, group)
            self.pool = nn.MaxPool2d(2)
            self.down = nn.Conv2d(16, 16, 3, 2, 1)
            self.mid = block(32, 32, instance)
            self.up3 = nn.ConvTranspose2d(32, 32, 2, 2)
            self.dec3 = block(64, 16, group)
            self.up2 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.dec2 = block(32, 8, instance)
            self.up1 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.dec1 = block(16, 8, group)
            self.head = nn.Conv2d(8, classes, 1)

        def forward(self, pixel_values):
            e1 = self.enc1(pixel_values)          # 32x32
            e2 = self.enc2(self.pool(e1))         # 16x16
            e3 = self.enc3(self.down(e2))         # 8x8
            m = self.mid(self.pool(e3))           # 4x4
            d3 = self.dec3(torch.cat((self.up3(m), e3), 1))
            d2 = self.dec2(torch.cat((self.up2(d3), e2), 1))
            d1 = self.dec1(torch.cat((self.up1(d2), e1), 1))
            return self.head(d1)

    feeds = _image_input(32)
    model = UNet()
    with torch.no_grad():  # non-trivial norm affines (the defaults are 1 and 0)
        g = torch.Generator().manual_seed(SEED)
        for m in model.modules():
            if isinstance(m, (nn.GroupNorm, nn.InstanceNorm2d)):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    return model.eval(), feeds, ["logits"]


def _svtr_rec():
    """The SVTR-family recognizer of tools/svtr_model.py (the webgpu HardSigmoid-epilogue bug's model)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from svtr_model import svtr_rec
    return svtr_rec()


def _speech():
    """Conv + RNN speech recognizer (DeepSpeech2-style, shrunk): Conv1d front end over 40 filterbank
    channels, a bidirectional LSTM, a GRU, a linear CTC head with LogSoftmax over 29 symbols."""
    import torch
    from torch import nn

    class Speech(nn.Module):
        def __init__(self, features: int = 40, hidden: int = 32, symbols: int = 29) -> None:
            super().__init__()
            self.front = nn.Sequential(nn.Conv1d(features, 48, 5, stride=2, padding=2), nn.BatchNorm1d(48), nn.ReLU(),
                                       nn.Conv1d(48, 48, 3, padding=1), nn.BatchNorm1d(48), nn.ReLU())
            self.lstm = nn.LSTM(48, hidden, batch_first=True, bidirectional=True)
            self.gru = nn.GRU(2 * hidden, hidden, batch_first=True)
            self.head = nn.Linear(hidden, symbols)

        def forward(self, features):
            x = self.front(features).transpose(1, 2)  # [1, T/2, 48]
            x, _ = self.lstm(x)
            x, _ = self.gru(x)
            return torch.log_softmax(self.head(x), -1)

    rng = np.random.default_rng(SEED)
    feeds = {"features": rng.standard_normal((1, 40, 48)).astype(np.float32)}
    return _calibrate(Speech(), feeds), feeds, ["log_probs"]


FAMILIES = {f.name: f for f in [
    Family("bert", "MiniLM-style BERT encoder, padded attention mask, token types", _bert),
    Family("distilbert", "DistilBERT encoder, padded attention mask", _distilbert),
    Family("vit", "ViT/DeiT-style image encoder (patch conv, class token)", _vit),
    Family("clip_text", "CLIP text tower: causal + padding mask, EOS-pooled output", _clip_text),
    Family("clip_vision", "CLIP vision tower: patch conv, class token, quick-GELU", _clip_vision),
    Family("whisper_encoder", "Whisper-tiny-shaped encoder over log-mel features (shrunk)", _whisper_encoder),
    Family("convnext", "ConvNeXt-tiny-shaped (shrunk): depthwise 7x7, channels-first LayerNorm", _convnext),
    Family("efficientnet", "EfficientNet-B0-shaped (shrunk): MBConv, SE, SiLU", _efficientnet),
    Family("mobilenetv3", "MobileNetV3-small-style: depthwise, SE with Hardsigmoid, Hardswish", _mobilenetv3),
    # dynamo writes Split-18 (num_outputs); its conversion to 17 keeps that attribute, and the ONNX
    # checker rejects the file: export at 18, as the exporter would by default
    Family("yolov8", "YOLOv8-style detector: C2f, SPPF, Upsample + Concat neck, DFL decode head", _yolov8,
           opset={"dynamo": 18}),
    Family("unet", "U-Net-style segmenter: GroupNorm/InstanceNorm, ConvTranspose, bilinear Resize", _unet),
    Family("speech", "Conv1d + bidirectional LSTM + GRU speech model, CTC LogSoftmax head", _speech),
    # dynamo cannot convert this model down to 17 (it keeps 18)
    Family("svtr_rec", "SVTR-family text recognizer (PP-OCR mobile rec): PP-LCNetV3 stem with SE/HardSigmoid, "
           "SVTR neck, CTC head", _svtr_rec, opset={"dynamo": 18}),
]}

def _light(arch: str, description: str) -> Family:
    """One of the nine light model-zoo architectures with seeded random weights (tools/light_models.py)."""
    def write(path: Path) -> dict[str, np.ndarray]:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import light_models
        return light_models.write(arch, path)
    return Family(f"light_{arch}", description, None, exports=("zoo",), write=write)


LIGHT = [
    _light("bvlc_alexnet", "AlexNet (the zoo's BVLC graph: LRN, 11x11 stem, three fully-connected layers) with random weights"),
    _light("densenet121", "DenseNet-121 (the zoo graph: BN + Caffe scale layers, 58 Concats) with random weights"),
    _light("inception_v1", "Inception v1 / GoogLeNet (the zoo graph: LRN, inception Concats) with random weights"),
    _light("inception_v2", "Inception v2 / BN-Inception (the zoo graph) with random weights"),
    _light("resnet50", "ResNet-50 (the zoo's Caffe2 graph: Sum residuals) with random weights"),
    _light("shufflenet", "ShuffleNet v1 (the zoo graph: grouped conv, channel shuffle by Reshape/Transpose)"),
    _light("squeezenet", "SqueezeNet 1.0 (the zoo graph: fire modules, GlobalAveragePool head)"),
    _light("vgg19", "VGG-19 (the zoo graph, 575 MB of weights) with random weights"),
    _light("zfnet512", "ZFNet-512 (the zoo graph: LRN, 7x7 stem) with random weights"),
]
FAMILIES.update((f.name, f) for f in LIGHT)

#: the families the transformer-specific post-export variants (fused, int4) apply to
TRANSFORMERS = ("bert", "distilbert", "vit", "clip_text", "clip_vision", "whisper_encoder")


#: (family, kind) -> why that post-export variant is not made
DERIVED_DROPPED = {
    ("speech", "int8"): "quantize_dynamic writes com.microsoft.DynamicQuantizeLSTM, which no backend implements yet",
}


def derived_kinds(family: str) -> list[str]:
    """Post-export variants (tools/suite_variants.py) made of each export of ``family``: fused and int4 for the
    transformer families (onnxruntime's optimizer and MatMulNBits quantizer target them), int8 and qdq for all
    (less DERIVED_DROPPED)."""
    kinds = ["fused", "int8", "qdq", "int4"] if family in TRANSFORMERS else ["int8", "qdq"]
    return [k for k in kinds if (family, k) not in DERIVED_DROPPED]

#: export variants: file suffix -> torch.onnx.export keywords
EXPORTS = {
    "dynamo": {"dynamo": True},
    "legacy": {"dynamo": False},
    "zoo": {},  # not a torch export: the light families' re-weighted model-zoo graphs (Family.write)
}


def derive(family: Family, out: Path, variant: str, kinds: list[str], log: Callable[[str], None]) -> list[Path]:
    """``<family>.<variant>.<kind>.onnx`` for each kind (tools/suite_variants.py), from the exported model."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from suite_variants import VARIANTS
    src = out / f"{family.name}.{variant}.onnx"
    feeds = {p.name[len(family.name) + 1:-4]: np.load(p) for p in out.glob(f"{family.name}.*.npy")}
    written = []
    for kind in kinds:
        dst = out / f"{family.name}.{variant}.{kind}.onnx"
        VARIANTS[kind](src, dst, family.name, feeds)
        written.append(dst)
        log(f"{dst.name}: {dst.stat().st_size / 1e6:.1f} MB")
    return written


def export(family: Family, out: Path, variants: list[str], log: Callable[[str], None]) -> list[Path]:
    if family.write is not None:
        written = []
        for variant in (v for v in variants if v in family.variants):
            path = out / f"{family.name}.{variant}.onnx"
            feeds = family.write(path)
            written.append(path)
            log(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB")
            for name, array in feeds.items():
                np.save(out / f"{family.name}.{name}.npy", array)
        return written
    import torch
    torch.manual_seed(SEED)
    module, feeds, outputs = family.build()
    args = tuple(torch.from_numpy(a) for a in feeds.values())
    written = []
    for variant in (v for v in variants if v in family.exports):
        if variant in family.dropped:
            log(f"{family.name}.{variant}: not exported ({family.dropped[variant]})")
            continue
        path = out / f"{family.name}.{variant}.onnx"
        quiet = io.StringIO()
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, str(path), input_names=list(feeds), output_names=outputs,
                              opset_version=family.opset.get(variant, OPSET), external_data=False, **EXPORTS[variant])
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
    ap.add_argument("--derived", default="", help="also write post-export variants of each export: comma-separated "
                    "fused,int8,qdq,int4, or 'all' (each family gets the ones that apply: derived_kinds)")
    ap.add_argument("--list", action="store_true", help="list the families and exit")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.list:
        for f in FAMILIES.values():
            dropped = "".join(f"; no {v}: {why}" for v, why in f.dropped.items())
            print(f"{f.name:20s} {f.description} [{', '.join(f.variants)}{dropped}]")
        return 0
    unknown = [n for n in a.families if n not in FAMILIES]
    variants = [v for v in a.variants.split(",") if v]
    bad = [v for v in variants if v not in EXPORTS]
    if unknown or bad:
        ap.error(f"unknown families {unknown} or variants {bad}; families: {', '.join(FAMILIES)}; "
                 f"variants: {', '.join(EXPORTS)}")
    a.out.mkdir(parents=True, exist_ok=True)
    log = (lambda m: None) if a.quiet else (lambda m: print(m, file=sys.stderr))
    wanted = [k for k in a.derived.split(",") if k]
    for name in a.families or list(FAMILIES):
        written = export(FAMILIES[name], a.out, variants, log)
        kinds = [k for k in derived_kinds(name) if "all" in wanted or k in wanted]
        for path in written if kinds else []:
            derive(FAMILIES[name], a.out, path.name.split(".")[1], kinds, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def export_bert_dynamic(path: Path, *, vocab: int, hidden: int, layers: int, heads: int, intermediate: int,
                        seed: int = 0) -> Path:
    """A BERT encoder (transformers BertModel from a config, seeded random weights) exported by the TorchScript
    exporter with a dynamic sequence axis "seq": inputs input_ids and attention_mask [1, seq], output
    last_hidden_state [1, seq, hidden] (tests/conftest.py's bert_dynamic, bench/dynamic_bench.py)."""
    import torch
    import transformers

    cfg = transformers.BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                                  num_attention_heads=heads, intermediate_size=intermediate, max_position_embeddings=512)
    torch.manual_seed(seed)
    bert = transformers.BertModel(cfg).eval()

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, ids, mask):
            return self.bert(input_ids=ids, attention_mask=mask).last_hidden_state

    ids, mask = torch.randint(0, vocab, (1, 9)), torch.ones(1, 9, dtype=torch.int64)
    torch.onnx.export(Encoder(), (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
                      output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                      dynamic_axes={n: {1: "seq"} for n in ("input_ids", "attention_mask", "last_hidden_state")})
    return path

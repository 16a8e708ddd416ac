"""Post-export variants of a suite model, made with onnxruntime's own tools the way users make them:

- ``fused``: ``onnxruntime.transformers.optimizer.optimize_model`` (the Optimum / transformers.js path):
  com.microsoft SkipLayerNormalization, (Bias)Gelu, Attention where its patterns match. ``opt_level=2``:
  with 0 or 1 onnxruntime 1.32 cannot load its own output for the legacy exports (it fails while
  initializing the session with "Attempt to replace the existing tensor").
- ``int8``: ``quantize_dynamic`` (int8 weights, uint8 activations quantized at run time:
  DynamicQuantizeLinear + MatMulInteger);
- ``qdq``: ``quantize_static`` in the QDQ format (int8 weights and activations), calibrated on the
  suite's own inputs;
- ``int4``: ``MatMulNBitsQuantizer`` (4-bit blocks of 32, symmetric): com.microsoft MatMulNBits.

Used by tools/model_suite.py (``--variants``); each function writes ``dst`` from ``src``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

#: transformers model_type per family for the optimizer (its fusion patterns are per architecture)
OPTIMIZER_MODEL_TYPE = {"bert": "bert", "distilbert": "bert", "vit": "vit", "clip_text": "clip",
                        "clip_vision": "vit", "whisper_encoder": "bert"}


@contextlib.contextmanager
def _quiet():
    level = logging.root.level
    logging.disable(logging.WARNING)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)
            logging.root.setLevel(level)


def fused(src: Path, dst: Path, family: str, feeds: dict[str, np.ndarray]) -> None:
    from onnxruntime.transformers import optimizer
    with _quiet():
        opt = optimizer.optimize_model(str(src), model_type=OPTIMIZER_MODEL_TYPE.get(family, "bert"),
                                       num_heads=0, hidden_size=0, opt_level=2)
        opt.save_model_to_file(str(dst))


def int8(src: Path, dst: Path, family: str, feeds: dict[str, np.ndarray]) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    with _quiet():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)


def qdq(src: Path, dst: Path, family: str, feeds: dict[str, np.ndarray]) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.left = [dict(feeds)]

        def get_next(self):
            return self.left.pop() if self.left else None

    with _quiet():
        quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)


def int4(src: Path, dst: Path, family: str, feeds: dict[str, np.ndarray]) -> None:
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    with _quiet():
        q = MatMulNBitsQuantizer(onnx.load(str(src)), block_size=32, is_symmetric=True)
        q.process()
        q.model.save_model_to_file(str(dst), use_external_data_format=False)


#: variant name -> maker(src, dst, family, feeds)
VARIANTS: dict[str, Callable[[Path, Path, str, dict[str, np.ndarray]], None]] = {
    "fused": fused, "int8": int8, "qdq": qdq, "int4": int4,
}

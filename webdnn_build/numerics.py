"""Float arithmetic that the backends share with onnxruntime, step by step.

Quantized models re-quantize activations inside the graph, so one float rounding that differs from
onnxruntime's moves a value across a rounding boundary and the difference grows layer by layer (on the
suite's int8 DenseNet-121, a last-bit difference in BatchNormalization ends as 3% of the logits). Where
an op has a closed form with a choice of rounding order, the backends follow onnxruntime's CPU kernel,
in float32, and compute any per-channel constants here, once.
"""

from __future__ import annotations

import numpy as np


def batchnorm_affine(gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray,
                     eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Inference BatchNormalization as ``y = x * scale + shift`` per channel, float32 like onnxruntime.

    onnxruntime computes ``inv_std = 1 / sqrt(var + eps)``, ``scale = inv_std * gamma`` and
    ``shift = beta - mean * scale`` in float32 (each step rounded), then ``y = x * scale + shift`` (two
    roundings, no fused multiply-add); the js kernel does the same with Math.fround.
    """
    f32 = np.float32
    g, b, m, v = (np.asarray(a, f32).reshape(-1) for a in (gamma, beta, mean, var))
    inv_std = f32(1) / np.sqrt(v + f32(eps))
    scale = (inv_std * g).astype(f32)
    shift = (b - m * scale).astype(f32)
    return scale, shift


def avgpool_column_first(kernel: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """Whether onnxruntime's CPU AveragePool sums each window column by column.

    Measured against onnxruntime 1.32 on x86-64 (float32, 2-D): with a horizontal stride of 1 or 2
    (its vector kernel) it sums each window column top to bottom, then the column sums left to right;
    otherwise row by row. The sum is divided by the count of taps. The js kernel (pool.js
    avgpoolColumnFirst) and the wasm kernel (pool.c, ``column_first``) follow the same rule.
    """
    return len(kernel) == 2 and strides[1] <= 2

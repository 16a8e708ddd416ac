"""Float ops that quantized models re-quantize after are bit-exact with onnxruntime's CPU kernels.

A model that re-quantizes activations at every layer (int8 dynamic: DynamicQuantizeLinear → ConvInteger
→ float BatchNormalization / AveragePool → DynamicQuantizeLinear ...) turns a last-bit difference into a
quantization step, and the step grows layer by layer: on the suite's int8 DenseNet-121 a BatchNormalization
rounded in float64 ended as 0.23 at a logit scale of 6.7. BatchNormalization, AveragePool and
GlobalAveragePool therefore round as onnxruntime does (webdnn_build/numerics.py); these tests hold every
backend to exactly onnxruntime's output (tolerance 0), at basic optimizations (the graph's own ops, as
the quantized suite variants are compared).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from tests.templates.native_op import BACKENDS, check_native_op

EXACT = {"rtol": 0.0, "atol": 0.0, "reference_level": "basic"}


def _x(shape, seed=0, scale=10.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_batchnorm_rounds_as_onnxruntime(tmp_path, backend):
    rng = np.random.default_rng(1)
    c = 24
    params = {"gamma": rng.standard_normal(c).astype(np.float32), "beta": rng.standard_normal(c).astype(np.float32),
              "mean": rng.standard_normal(c).astype(np.float32), "var": rng.uniform(0.1, 3, c).astype(np.float32)}
    node = helper.make_node("BatchNormalization", ["x", "gamma", "beta", "mean", "var"], ["y"], epsilon=1e-5)
    check_native_op(tmp_path, [node], {"x": _x((2, c, 9, 11), scale=3.0)}, backend, initializers=params, **EXACT)


# (kernel, strides, pads, count_include_pad): both summation orders (horizontal stride <= 2 sums column by
# column, larger strides row by row), the wasm vector and scalar paths (windows wider than 8 columns), padding
AVGPOOL_CASES = [
    ((2, 2), (2, 2), (0, 0, 0, 0), 0),
    ((3, 3), (1, 1), (1, 1, 1, 1), 0),
    ((3, 3), (1, 1), (1, 1, 1, 1), 1),
    ((3, 3), (2, 2), (1, 1, 1, 1), 0),
    ((3, 3), (3, 3), (0, 0, 0, 0), 0),
    ((3, 3), (1, 3), (0, 0, 0, 0), 0),
    ((5, 5), (1, 1), (2, 2, 2, 2), 0),
    ((9, 9), (1, 1), (0, 0, 0, 0), 0),
    ((2, 3), (1, 2), (0, 1, 0, 1), 0),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel,strides,pads,include_pad", AVGPOOL_CASES,
                         ids=[f"k{k[0]}x{k[1]}-s{s[0]}x{s[1]}-p{max(p)}-c{c}" for k, s, p, c in AVGPOOL_CASES])
def test_average_pool_sums_as_onnxruntime(tmp_path, backend, kernel, strides, pads, include_pad):
    node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=list(kernel), strides=list(strides),
                            pads=list(pads), count_include_pad=include_pad)
    check_native_op(tmp_path, [node], {"x": _x((1, 8, 20, 23))}, backend, **EXACT)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(1, 16, 7, 7), (2, 8, 5, 3), (1, 4, 32, 32)], ids=lambda s: "x".join(map(str, s)))
def test_global_average_pool_sums_as_onnxruntime(tmp_path, backend, shape):
    node = helper.make_node("GlobalAveragePool", ["x"], ["y"])
    check_native_op(tmp_path, [node], {"x": _x(shape)}, backend, **EXACT)

"""LpPool sums |x|^p over each window, also for p = 1 (the js kernel once summed x itself there, which only
inputs with negative values show): js, wasm and webgpu against onnxruntime on signed inputs, through the
native-op template (tests/templates/native_op.py; js is the reference backend, the others must run it
natively)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from tests.templates.native_op import BACKENDS, check_native_op


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("p", [1, 2, 3])
def test_lppool_of_signed_values_matches_onnxruntime(tmp_path, backend, p):
    x = np.random.default_rng(p).standard_normal((1, 3, 6, 7)).astype(np.float32)
    nodes = [helper.make_node("LpPool", ["x"], ["y"], kernel_shape=[2, 3], strides=[2, 2], p=p)]
    check_native_op(tmp_path, nodes, {"x": x}, backend)

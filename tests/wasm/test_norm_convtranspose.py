"""InstanceNormalization and ConvTranspose run in wasm and match onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from .verify_helper import verify_on_wasm

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("threads", [1, 2])
def test_instance_norm(tmp_path, threads):
    feeds = {"a": RNG.standard_normal((2, 5, 7, 9)).astype(np.float32) * 3 + 1,
             "b": RNG.standard_normal((1, 4, 33)).astype(np.float32)}
    inits = []
    nodes = []
    for name, c in (("a", 5), ("b", 4)):
        inits += [numpy_helper.from_array(RNG.uniform(0.5, 1.5, c).astype(np.float32), f"s_{name}"),
                  numpy_helper.from_array(RNG.standard_normal(c).astype(np.float32), f"b_{name}")]
        nodes.append(helper.make_node("InstanceNormalization", [name, f"s_{name}", f"b_{name}"], [f"y_{name}"],
                                      epsilon=1e-5))
    outputs = {"y_a": (np.float32, (2, 5, 7, 9)), "y_b": (np.float32, (1, 4, 33))}
    verify_on_wasm(tmp_path, nodes, feeds, outputs, inits, threads=threads)


# (x shape, cout per group, kernel, attrs)
CONVT = [
    ((1, 8, 6, 7), 4, (2, 2), {"strides": [2, 2]}),                                   # unet upsampling
    ((2, 3, 5, 5), 4, (3, 3), {"pads": [1, 1, 1, 1]}),                               # stride 1
    ((1, 4, 5, 6), 3, (3, 3), {"strides": [2, 2], "pads": [1, 0, 1, 1], "output_padding": [1, 1]}),
    ((1, 4, 6, 5), 2, (3, 2), {"strides": [3, 2], "dilations": [2, 1], "group": 2, "pads": [0, 1, 2, 0]}),
    ((1, 6, 9), 2, (4,), {"strides": [2], "pads": [1, 1], "group": 3}),              # 1-D
    ((1, 2, 4, 9), 3, (2, 2), {"strides": [2, 2], "pads": [0, 1, 0, 1]}),            # 2x2/2, cropped columns
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", range(len(CONVT)))
def test_conv_transpose(tmp_path, case, threads):
    xs, cout_g, k, attrs = CONVT[case]
    group = attrs.get("group", 1)
    sp = len(k)
    w = RNG.standard_normal((xs[1], cout_g) + k).astype(np.float32)
    bias = RNG.standard_normal(cout_g * group).astype(np.float32)
    s, d = attrs.get("strides", [1] * sp), attrs.get("dilations", [1] * sp)
    p, op = attrs.get("pads", [0] * 2 * sp), attrs.get("output_padding", [0] * sp)
    out = [s[i] * (xs[2 + i] - 1) + op[i] + (k[i] - 1) * d[i] + 1 - p[i] - p[i + sp] for i in range(sp)]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(bias, "bias")]
    ins = ["x", "w", "bias"] if case % 2 == 0 else ["x", "w"]
    node = helper.make_node("ConvTranspose", ins, ["y"], **attrs)
    x = RNG.standard_normal(xs).astype(np.float32)
    verify_on_wasm(tmp_path, [node], {"x": x}, {"y": (np.float32, [xs[0], cout_g * group] + out)}, inits,
                   threads=threads)

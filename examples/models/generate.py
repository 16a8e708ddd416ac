#!/usr/bin/env python3
"""Generate the example ONNX models used by the webdnn-build examples and tests.

The models are built from scratch with ``onnx.helper`` and ``numpy`` (no torch,
no downloads) and filled with seeded random weights, so every run produces the
same files::

    python examples/models/generate.py                      # all models
    python examples/models/generate.py tiny_cnn             # just one
    python examples/models/generate.py --out /tmp/m resnet50 mobilenetv2

Each model is checked with ``onnx.checker.check_model`` (full check, including
shape inference), saved, its multiply-accumulate count is printed, and it is run
once under onnxruntime on a random N(0, 1) input to make sure the outputs are
finite and of a sane scale.

Weights are random (He-normal) but the models keep the structure of the
originals: BatchNormalization is *not* folded into the convolutions, because
folding is the compiler's job.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

OPSET = 17
IR_VERSION = 8
DEFAULT_OUT = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SEED = 0


# --------------------------------------------------------------------------
# Graph builder
# --------------------------------------------------------------------------


class GraphBuilder:
    """Tiny helper that accumulates nodes + initializers with readable names.

    Every layer method takes the input tensor name and returns the output
    tensor name, so networks read like a forward() function. The builder also
    tracks the channel count of each tensor it produces, so callers need not
    pass ``in_channels`` around.
    """

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: List[onnx.NodeProto] = []
        self.initializers: List[onnx.TensorProto] = []
        self.inputs: List[onnx.ValueInfoProto] = []
        self.outputs: List[onnx.ValueInfoProto] = []
        self.channels: Dict[str, int] = {}
        self._consts: Dict[Tuple[str, float], str] = {}

    # ---- plumbing ---------------------------------------------------------

    def add_input(self, name: str, shape: Sequence[int]) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
        self.channels[name] = shape[1]
        return name

    def add_output(self, name: str, shape: Sequence[int]) -> None:
        self.outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))

    def initializer(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    def scalar_const(self, value: float) -> str:
        """A shared float32 scalar initializer (e.g. Clip min/max)."""
        key = ("f32", float(value))
        if key not in self._consts:
            name = f"const_{value:g}".replace(".", "_").replace("-", "m")
            self._consts[key] = self.initializer(name, np.array(value, dtype=np.float32))
        return self._consts[key]

    def node(self, op: str, inputs: Sequence[str], name: str, output: Optional[str] = None,
             channels: Optional[int] = None, **attrs) -> str:
        output = output or name
        self.nodes.append(helper.make_node(op, list(inputs), [output], name=name, **attrs))
        if channels is None:
            channels = self.channels.get(inputs[0]) if inputs else None
        if channels is not None:
            self.channels[output] = channels
        return output

    # ---- layers -----------------------------------------------------------

    def conv(self, x: str, out_ch: int, kernel: int, name: str, stride: int = 1,
             group: int = 1, bias: bool = False, gain: float = 2.0) -> str:
        """Conv with He-normal weights (std = sqrt(gain / fan_in)), 'same'-style padding."""
        in_ch = self.channels[x]
        assert in_ch % group == 0 and out_ch % group == 0, (name, in_ch, out_ch, group)
        fan_in = (in_ch // group) * kernel * kernel
        w = self.rng.standard_normal((out_ch, in_ch // group, kernel, kernel)) * np.sqrt(gain / fan_in)
        inputs = [x, self.initializer(f"{name}.weight", w)]
        if bias:
            inputs.append(self.initializer(f"{name}.bias", np.zeros(out_ch)))
        pad = kernel // 2
        return self.node("Conv", inputs, name, channels=out_ch,
                         kernel_shape=[kernel, kernel], strides=[stride, stride],
                         pads=[pad, pad, pad, pad], dilations=[1, 1], group=group)

    def batchnorm(self, x: str, name: str, gamma_scale: float = 1.0) -> str:
        """Inference-mode BN with random but well-conditioned statistics.

        gamma ~ gamma_scale * U(0.8, 1.2), beta ~ N(0, 0.05), running mean ~ N(0, 0.1),
        running var ~ U(0.5, 1.5). ``gamma_scale`` < 1 is used on the last BN
        of residual branches so the residual stream grows slowly with depth.
        """
        c = self.channels[x]
        r = self.rng
        params = [
            self.initializer(f"{name}.weight", gamma_scale * r.uniform(0.8, 1.2, c)),
            self.initializer(f"{name}.bias", r.normal(0.0, 0.05, c)),
            self.initializer(f"{name}.running_mean", r.normal(0.0, 0.1, c)),
            self.initializer(f"{name}.running_var", r.uniform(0.5, 1.5, c)),
        ]
        return self.node("BatchNormalization", [x, *params], name, epsilon=1e-5, momentum=0.9)

    def relu(self, x: str, name: str) -> str:
        return self.node("Relu", [x], name)

    def relu6(self, x: str, name: str) -> str:
        # Opset >= 11 Clip: min/max are (optional) inputs, not attributes.
        return self.node("Clip", [x, self.scalar_const(0.0), self.scalar_const(6.0)], name)

    def conv_bn(self, x: str, out_ch: int, kernel: int, name: str, stride: int = 1,
                group: int = 1, act: Optional[str] = "relu", gamma_scale: float = 1.0) -> str:
        """Conv (no bias) -> BatchNormalization -> optional activation ('relu' | 'relu6' | None)."""
        y = self.conv(x, out_ch, kernel, f"{name}.conv", stride=stride, group=group)
        y = self.batchnorm(y, f"{name}.bn", gamma_scale=gamma_scale)
        if act == "relu":
            y = self.relu(y, f"{name}.relu")
        elif act == "relu6":
            y = self.relu6(y, f"{name}.relu6")
        else:
            assert act is None, act
        return y

    def add(self, a: str, b: str, name: str) -> str:
        return self.node("Add", [a, b], name)

    def maxpool(self, x: str, kernel: int, stride: int, pad: int, name: str) -> str:
        return self.node("MaxPool", [x], name, kernel_shape=[kernel, kernel],
                         strides=[stride, stride], pads=[pad, pad, pad, pad])

    def global_avgpool_flatten(self, x: str, name: str) -> str:
        y = self.node("GlobalAveragePool", [x], f"{name}.gap")
        return self.node("Flatten", [y], f"{name}.flatten", axis=1)

    def gemm(self, x: str, out_features: int, name: str, output: Optional[str] = None) -> str:
        """Fully-connected layer, weight stored [out, in] with transB=1 (as exported by torch)."""
        in_features = self.channels[x]
        w = self.rng.standard_normal((out_features, in_features)) * np.sqrt(1.0 / in_features)
        b = self.rng.normal(0.0, 0.01, out_features)
        return self.node("Gemm", [x, self.initializer(f"{name}.weight", w),
                                  self.initializer(f"{name}.bias", b)],
                         name, output=output, channels=out_features,
                         alpha=1.0, beta=1.0, transB=1)

    # ---- finish -----------------------------------------------------------

    def build(self, doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs,
                                  initializer=self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="webdnn-build examples/models/generate.py",
                                  doc_string=doc)
        model.ir_version = IR_VERSION
        return model


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------


def build_resnet50(seed: int = DEFAULT_SEED) -> onnx.ModelProto:
    """ResNet-50 v1.5 (torchvision layout: stride on the 3x3 conv of the bottleneck)."""
    g = GraphBuilder("resnet50", seed)
    x = g.add_input("input", [1, 3, 224, 224])

    x = g.conv_bn(x, 64, 7, "stem", stride=2)
    x = g.maxpool(x, 3, 2, 1, "stem.maxpool")

    expansion = 4
    stages = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]  # (width, blocks, first stride)
    for si, (width, blocks, first_stride) in enumerate(stages, start=1):
        for bi in range(blocks):
            stride = first_stride if bi == 0 else 1
            x = _bottleneck(g, x, width, width * expansion, stride, f"layer{si}.{bi}")

    x = g.global_avgpool_flatten(x, "head")
    g.gemm(x, 1000, "fc", output="logits")
    g.add_output("logits", [1, 1000])
    return g.build("ResNet-50 v1.5 with random weights (webdnn-build example)")


def _bottleneck(g: GraphBuilder, x: str, width: int, out_ch: int, stride: int, name: str) -> str:
    """1x1 reduce -> 3x3 (stride here, v1.5) -> 1x1 expand, + identity/projection, then ReLU."""
    identity = x
    y = g.conv_bn(x, width, 1, f"{name}.1")
    y = g.conv_bn(y, width, 3, f"{name}.2", stride=stride)
    # Small gamma on the last BN keeps the residual stream O(1) across 16 blocks
    # (the "zero-init residual" trick, softened so the branch still matters).
    y = g.conv_bn(y, out_ch, 1, f"{name}.3", act=None, gamma_scale=0.2)
    if stride != 1 or g.channels[x] != out_ch:
        identity = g.conv_bn(x, out_ch, 1, f"{name}.downsample", stride=stride, act=None)
    y = g.add(y, identity, f"{name}.add")
    return g.relu(y, f"{name}.relu")


def build_mobilenetv2(seed: int = DEFAULT_SEED) -> onnx.ModelProto:
    """MobileNetV2, width multiplier 1.0, 224x224 (torchvision layout, dropout omitted)."""
    g = GraphBuilder("mobilenetv2", seed)
    x = g.add_input("input", [1, 3, 224, 224])

    x = g.conv_bn(x, 32, 3, "features.0", stride=2, act="relu6")
    # (expansion t, out channels c, repeats n, first stride s) from the paper.
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    idx = 1
    for t, c, n, s in settings:
        for i in range(n):
            x = _inverted_residual(g, x, c, s if i == 0 else 1, t, f"features.{idx}")
            idx += 1
    x = g.conv_bn(x, 1280, 1, f"features.{idx}", act="relu6")

    x = g.global_avgpool_flatten(x, "head")
    g.gemm(x, 1000, "classifier", output="logits")
    g.add_output("logits", [1, 1000])
    return g.build("MobileNetV2 (width 1.0) with random weights (webdnn-build example)")


def _inverted_residual(g: GraphBuilder, x: str, out_ch: int, stride: int, expand: int,
                       name: str) -> str:
    """[1x1 expand + ReLU6] -> 3x3 depthwise + ReLU6 -> 1x1 linear projection (+ residual)."""
    in_ch = g.channels[x]
    hidden = in_ch * expand
    use_residual = stride == 1 and in_ch == out_ch
    y = x
    if expand != 1:
        y = g.conv_bn(y, hidden, 1, f"{name}.expand", act="relu6")
    y = g.conv_bn(y, hidden, 3, f"{name}.dw", stride=stride, group=hidden, act="relu6")
    y = g.conv_bn(y, out_ch, 1, f"{name}.project", act=None,
                  gamma_scale=0.3 if use_residual else 1.0)
    if use_residual:
        y = g.add(y, x, f"{name}.add")
    return y


def build_tiny_cnn(seed: int = DEFAULT_SEED) -> onnx.ModelProto:
    """A few-hundred-parameter CNN for the quick start and fast tests."""
    g = GraphBuilder("tiny_cnn", seed)
    x = g.add_input("input", [1, 1, 8, 8])
    x = g.conv_bn(x, 8, 3, "block1")                     # [1, 8, 8, 8]
    x = g.maxpool(x, 2, 2, 0, "pool1")                   # [1, 8, 4, 4]
    x = g.conv(x, 16, 3, "conv2", bias=True)             # [1, 16, 4, 4]
    x = g.relu(x, "relu2")
    x = g.global_avgpool_flatten(x, "head")              # [1, 16]
    x = g.gemm(x, 10, "fc")                              # [1, 10]
    g.node("Softmax", [x], "softmax", output="probabilities", axis=-1)
    g.add_output("probabilities", [1, 10])
    return g.build("Tiny CNN with random weights (webdnn-build example)")


MODELS: Dict[str, Callable[[int], onnx.ModelProto]] = {
    "resnet50": build_resnet50,
    "mobilenetv2": build_mobilenetv2,
    "tiny_cnn": build_tiny_cnn,
}


# --------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------


def _static_shapes(model: onnx.ModelProto) -> Dict[str, List[int]]:
    inferred = shape_inference.infer_shapes(model)
    shapes: Dict[str, List[int]] = {}
    for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in dims]
    for init in inferred.graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def count_macs(model: onnx.ModelProto) -> Dict[str, int]:
    """Multiply-accumulate count per op type (Conv, Gemm, MatMul) for batch-size-1 static shapes.

    Conv: out_elements * (C_in / group) * kH * kW.  Gemm/MatMul: M * K * N.
    Elementwise ops, BN, pooling and softmax are not counted (the usual
    convention, which gives ~4.09 G for ResNet-50 and ~0.30 G for MobileNetV2).
    """
    shapes = _static_shapes(model)
    macs: Dict[str, int] = {}
    for n in model.graph.node:
        if n.op_type == "Conv":
            w = shapes[n.input[1]]                     # [C_out, C_in/group, kH, kW]
            out = shapes[n.output[0]]
            count = int(np.prod(out)) * int(np.prod(w[1:]))
        elif n.op_type == "Gemm":
            trans_a = next((a.i for a in n.attribute if a.name == "transA"), 0)
            trans_b = next((a.i for a in n.attribute if a.name == "transB"), 0)
            a, b = shapes[n.input[0]], shapes[n.input[1]]
            m, k = (a[1], a[0]) if trans_a else (a[0], a[1])
            nn = b[0] if trans_b else b[1]
            count = m * k * nn
        elif n.op_type == "MatMul":
            k = shapes[n.input[0]][-1]
            count = int(np.prod(shapes[n.output[0]])) * k
        else:
            continue
        macs[n.op_type] = macs.get(n.op_type, 0) + count
    macs["total"] = sum(macs.values())
    return macs


def count_params(model: onnx.ModelProto) -> int:
    return sum(int(np.prod(t.dims)) for t in model.graph.initializer)


def run_onnxruntime(path: str, seed: int) -> Dict[str, np.ndarray]:
    """Run the saved model once on a N(0, 1) input; assert every output is finite."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed + 1)
    feeds = {i.name: rng.standard_normal([d if isinstance(d, int) else 1 for d in i.shape])
             .astype(np.float32) for i in sess.get_inputs()}
    names = [o.name for o in sess.get_outputs()]
    results = dict(zip(names, sess.run(names, feeds)))
    for name, value in results.items():
        assert np.all(np.isfinite(value)), f"{path}: output {name!r} has non-finite values"
    return results


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def _si(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3f} {unit}"
    return str(n)


def generate(name: str, out_dir: str, seed: int, verify: bool = True) -> str:
    t0 = time.perf_counter()
    model = MODELS[name](seed)
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(out_dir, f"{name}.onnx")
    onnx.save(model, path)
    t_build = time.perf_counter() - t0

    macs = count_macs(model)
    size = os.path.getsize(path)
    size_str = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"
    print(f"[{name}] wrote {path} ({size_str}, {count_params(model):,} params, "
          f"{len(model.graph.node)} nodes) in {t_build:.2f}s")
    detail = ", ".join(f"{k} {_si(v)}" for k, v in macs.items() if k != "total")
    print(f"[{name}] MACs: {_si(macs['total'])} ({macs['total']:,}; {detail})")

    if verify:
        t1 = time.perf_counter()
        for out_name, y in run_onnxruntime(path, seed).items():
            print(f"[{name}] onnxruntime {out_name} {list(y.shape)}: mean {y.mean():+.4f} "
                  f"std {y.std():.4f} min {y.min():+.4f} max {y.max():+.4f} "
                  f"sum {y.sum():.4f} ({time.perf_counter() - t1:.2f}s)")
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", metavar="name",
                        help=f"models to generate (default: all of {', '.join(MODELS)})")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="weight seed (default: %(default)s)")
    parser.add_argument("--no-verify", action="store_true", help="skip the onnxruntime check")
    args = parser.parse_args(argv)

    names = args.models or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    os.makedirs(args.out, exist_ok=True)
    for name in names:
        generate(name, args.out, args.seed, verify=not args.no_verify)
    return 0


if __name__ == "__main__":
    sys.exit(main())

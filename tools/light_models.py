"""Random-weight versions of the nine "light" model-zoo architectures that ship in the onnx wheel.

onnx's backend suite carries AlexNet, DenseNet-121, Inception v1/v2, ResNet-50, ShuffleNet,
SqueezeNet, VGG-19 and ZFNet-512 as graphs whose every weight is ``ConstantOfShape(0.02)`` (or a
constant initializer): each of them outputs exactly 0.001 per class for any input, so a backend
passes them with almost any conv kernel. Here the same graphs (same ops, attributes and opsets)
get seeded random weights instead:

- conv and fully-connected weights He-normal (std sqrt(2 / fan_in)), biases N(0, 0.05);
- BatchNormalization scale 1 + 0.2·N, bias 0.1·N, and running mean/variance *measured*: each norm
  gets the statistics of its own input on the suite's image (onnxruntime, one run per depth of
  norms, each norm calibrated after every norm upstream of it), so activations keep a trained
  net's scale through 50-120 layers instead of vanishing or overflowing;
- the Caffe-style scale layers (Unsqueeze → Mul / Add after a norm) 1 + 0.2·N and 0.1·N;
- the classifier's last layer rescaled so that the logits have standard deviation 2: the Softmax
  output is then neither uniform nor one-hot, and its error says something about every layer
  (DenseNet-121 has no Softmax: its output is the logits).

The image input is renamed ``data`` (zoo names such as ``gpu_0/data_0`` are not file-name safe);
nothing else in the graph changes.

    python tools/light_models.py --out build/model-suite        # all nine
    python tools/light_models.py --out build/model-suite squeezenet resnet50
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

SEED = 0
#: the light architectures, by the file name in onnx's wheel (light_<name>.onnx)
ARCHS = ("bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet", "squeezenet",
         "vgg19", "zfnet512")
IMAGE = (1, 3, 224, 224)
LOGIT_STD = 2.0


def source(arch: str) -> Path:
    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / f"light_{arch}.onnx"


def image() -> np.ndarray:
    return np.random.default_rng(SEED).standard_normal(IMAGE).astype(np.float32)


def _consumers(graph: onnx.GraphProto) -> dict[str, list[tuple[onnx.NodeProto, int]]]:
    uses: dict[str, list[tuple[onnx.NodeProto, int]]] = defaultdict(list)
    for n in graph.node:
        for i, name in enumerate(n.input):
            uses[name].append((n, i))
    return uses


def _fill(name: str, shape: tuple[int, ...], uses, rng: np.random.Generator) -> np.ndarray:
    """Seeded values for one weight, by what reads it."""
    node, index = uses[name][0] if uses[name] else (None, -1)
    op = node.op_type if node is not None else ""
    if op == "Unsqueeze" and uses[node.output[0]]:  # Caffe's Scale layer: Unsqueeze -> Mul (scale) / Add (shift)
        op, index = uses[node.output[0]][0][0].op_type, 1
        return ((1 + 0.2 * rng.standard_normal(shape)) if op == "Mul" else 0.1 * rng.standard_normal(shape)).astype(np.float32)
    if op in ("Conv", "Gemm") and index == 1:
        if op == "Conv":
            fan_in = int(np.prod(shape[1:]))
        else:
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            fan_in = shape[1] if trans_b else shape[0]
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    if op == "BatchNormalization":
        base = {1: 1 + 0.2 * rng.standard_normal(shape), 2: 0.1 * rng.standard_normal(shape),
                3: np.zeros(shape), 4: np.ones(shape)}
        return base[index].astype(np.float32)
    return (0.05 * rng.standard_normal(shape)).astype(np.float32)


def _randomize_weights(model: onnx.ModelProto, rng: np.random.Generator) -> None:
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    uses = _consumers(g)
    weights: dict[str, tuple[int, ...]] = {}
    dropped_nodes = []
    for n in g.node:
        if n.op_type == "ConstantOfShape" and n.input[0] in inits:
            weights[n.output[0]] = tuple(int(d) for d in numpy_helper.to_array(inits[n.input[0]]))
            dropped_nodes.append(n)
    for t in g.initializer:
        if t.data_type == onnx.TensorProto.FLOAT:
            weights[t.name] = tuple(t.dims)
    for n in dropped_nodes:
        g.node.remove(n)
    still_read = {i for n in g.node for i in n.input}
    kept = [t for t in g.initializer if t.name not in weights and t.name in still_read]
    del g.initializer[:]
    g.initializer.extend(kept)
    for name in sorted(n for n in weights if n in still_read):  # sorted: the draw does not depend on the file's order
        g.initializer.append(numpy_helper.from_array(_fill(name, weights[name], uses, rng), name))
    init_names = {t.name for t in g.initializer}
    graph_inputs = [i for i in g.input if i.name not in init_names and i.name in still_read]
    del g.input[:]
    g.input.extend(graph_inputs)
    model.ir_version = max(model.ir_version, 4)  # initializers need not be graph inputs from IR 4 on


def _rename_input(model: onnx.ModelProto, new: str) -> None:
    g = model.graph
    (inp,) = g.input
    old = inp.name
    inp.name = new
    for n in g.node:
        for i, name in enumerate(n.input):
            if name == old:
                n.input[i] = new


def _session(model: onnx.ModelProto):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _calibrate_norms(model: onnx.ModelProto, x: np.ndarray) -> None:
    """Running mean/var of every BatchNormalization := the statistics of its input, depth by depth."""
    g = model.graph
    norms = [n for n in g.node if n.op_type == "BatchNormalization"]
    if not norms:
        return
    depth: dict[str, int] = defaultdict(int)   # value -> norms on the longest path to it
    level: dict[str, int] = {}                 # norm output -> round it is calibrated in
    for n in g.node:
        d = max((depth[i] for i in n.input), default=0)
        if n.op_type == "BatchNormalization":
            level[n.output[0]] = d
            d += 1
        for o in n.output:
            depth[o] = d
    probe = onnx.ModelProto.FromString(model.SerializeToString())
    pg = probe.graph
    stats = {name for n in norms for name in n.input[3:5]}
    pg.ClearField("initializer")
    pg.initializer.extend(t for t in g.initializer if t.name not in stats)
    feeds = {}
    for n in norms:
        for name in n.input[3:5]:
            init = next(t for t in g.initializer if t.name == name)
            feeds[name] = numpy_helper.to_array(init).copy()
            pg.input.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, list(init.dims)))
    for n in norms:
        pg.output.append(helper.make_empty_tensor_value_info(n.input[0]))
    session = _session(probe)
    input_name = g.input[0].name
    names = [o.name for o in session.get_outputs()]
    for round_ in range(max(level.values()) + 1):
        got = dict(zip(names, session.run(None, {input_name: x, **feeds})))
        for n in norms:
            if level[n.output[0]] == round_:
                a = got[n.input[0]]
                axes = tuple(i for i in range(a.ndim) if i != 1)
                feeds[n.input[3]] = a.mean(axes).astype(np.float32)
                feeds[n.input[4]] = a.var(axes).astype(np.float32)
    for t in g.initializer:
        if t.name in feeds:
            t.CopyFrom(numpy_helper.from_array(feeds[t.name], t.name))


def _scale_classifier(model: onnx.ModelProto, x: np.ndarray) -> None:
    """Rescale the last Conv/Gemm before the Softmax so that the logits have std LOGIT_STD (Relu, pooling,
    Reshape and Dropout between them are positively homogeneous, so the logits scale by the same factor)."""
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    softmax = [n for n in g.node if n.op_type == "Softmax"]
    logits = softmax[0].input[0] if softmax else g.output[0].name  # DenseNet-121 ends at its classifier
    layer = producer[logits]
    while layer.op_type not in ("Conv", "Gemm"):
        layer = producer[layer.input[0]]
    probe = onnx.ModelProto.FromString(model.SerializeToString())
    probe.graph.output.append(helper.make_empty_tensor_value_info(logits))
    out = _session(probe).run([logits], {g.input[0].name: x})[0]
    factor = LOGIT_STD / max(float(out.std()), 1e-12)
    inits = {t.name: t for t in g.initializer}
    for name in layer.input[1:3]:
        if name in inits:
            inits[name].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(inits[name]) * np.float32(factor), name))


def write(arch: str, path: Path) -> dict[str, np.ndarray]:
    """Write the random-weight ``arch`` to ``path``; returns its input ({"data": image})."""
    model = onnx.load(str(source(arch)))
    rng = np.random.default_rng(SEED)
    _randomize_weights(model, rng)
    _rename_input(model, "data")
    x = image()
    _calibrate_norms(model, x)
    _scale_classifier(model, x)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return {"data": x}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("archs", nargs="*", help=f"architectures (default: all): {', '.join(ARCHS)}")
    ap.add_argument("--out", type=Path, default=Path("build/model-suite"))
    a = ap.parse_args(argv)
    unknown = [n for n in a.archs if n not in ARCHS]
    if unknown:
        ap.error(f"unknown architectures {unknown}; known: {', '.join(ARCHS)}")
    a.out.mkdir(parents=True, exist_ok=True)
    for arch in a.archs or ARCHS:
        path = a.out / f"light_{arch}.zoo.onnx"
        feeds = write(arch, path)
        for name, array in feeds.items():
            np.save(a.out / f"light_{arch}.{name}.npy", array)
        print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

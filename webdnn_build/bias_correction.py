"""Bias correction for int8 weights (issue 11, ``--quantize``).

Rounding a Conv or Gemm weight to 8 bits per output channel leaves an error ``dW = Q(W) - W`` whose product with the
layer's input does not average to zero: each output channel is shifted by about ``dW · E[x]``, and a network whose
layers have no activation between them (MobileNet-style projection convs) carries those shifts on. Subtracting
``dW · E[x]`` from the layer's bias removes the mean shift; the bias stays float32, so the bundle's bytes do not
change. ``E[x]`` is the per-channel mean of the layer's input in the float32 source model, run in onnxruntime on the
calibration inputs (the build's ``--sample-input`` data, else seeded random inputs).

On EfficientNet-Lite0 (tools/compression_report.py) a scratch experiment moved top-1 agreement with float32 from 95%
to 97.5% of 160 inputs; the figures in docs/compression.md are measured on the bundle.

Only layers whose input is a tensor of the source model (same name: the passes keep a Conv's input name) and whose
bias is a float32 vector read by that layer alone are corrected; the others keep their bias, and the build log says
how many were corrected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .ir import Graph, Node

#: seeded random inputs averaged when the build has no --sample-input
CALIBRATION_RUNS = 8


def _corrections(graph: Graph, originals: dict[str, np.ndarray], encodings: dict[str, Any]) -> list[tuple[Node, str]]:
    """(node, name of its input) for the Conv / Gemm nodes whose int8 per-channel weight can be corrected."""
    readers: dict[str, int] = {}
    for n in graph.nodes:
        for name in n.reads():
            readers[name] = readers.get(name, 0) + 1
    found = []
    for node in graph.nodes:
        if node.domain not in ("", "ai.onnx") or node.op_type not in ("Conv", "Gemm") or len(node.inputs) < 3:
            continue
        w, b = node.inputs[1], node.inputs[2]
        enc = encodings.get(w)
        bias = graph.values.get(b)
        if enc is None or enc.descriptor.get("encoding") != "int8" or enc.descriptor.get("axis") is None:
            continue
        if w not in originals or bias is None or bias.const is None or bias.dtype != "float32" or readers.get(b) != 1:
            continue
        if node.op_type == "Gemm" and (node.attrs.get("transA") or np.size(bias.const) != np.shape(originals[w])[
                0 if node.attrs.get("transB") else 1]):
            continue
        found.append((node, node.inputs[0]))
    return found


def _shift(node: Node, dw: np.ndarray, mean_x: np.ndarray) -> Optional[np.ndarray]:
    """Per output channel: dW · E[x] (None when the shapes do not fit)."""
    if node.op_type == "Conv":
        groups = int(node.attrs.get("group", 1) or 1)
        out_ch, in_per_group = dw.shape[0], dw.shape[1]
        if mean_x.size != in_per_group * groups or out_ch % groups:
            return None
        per_in = dw.reshape(out_ch, in_per_group, -1).sum(axis=2, dtype=np.float64)  # kernel taps summed
        x = mean_x.reshape(groups, in_per_group)[np.arange(out_ch) // (out_ch // groups)]
        return (per_in * x).sum(axis=1)
    w = dw.T if node.attrs.get("transB") else dw  # [K, N]
    return mean_x.astype(np.float64) @ w if mean_x.size == w.shape[0] else None


def correct_biases(graph: Graph, model: Path, originals: dict[str, np.ndarray], encodings: dict[str, Any],
                   feeds: list[dict[str, np.ndarray]], log: Callable[[str], None]) -> int:
    """Correct the biases of the int8 Conv / Gemm layers of ``graph`` (their weights already round-tripped;
    ``originals``: the float32 weights before) with input means from ``model`` run on ``feeds``. Returns how many
    layers were corrected; any failure of the calibration run leaves every bias as it was (logged)."""
    todo = _corrections(graph, originals, encodings)
    if not todo or model.suffix.lower() != ".onnx":
        return 0
    try:
        import onnx
        import onnxruntime as ort

        source = onnx.load(str(model), load_external_data=False)
        if any(t.data_location == onnx.TensorProto.EXTERNAL for t in source.graph.initializer):
            log("bias correction skipped: the model keeps its weights in external data")
            return 0
        names = {o for n in source.graph.node for o in n.output} | {i.name for i in source.graph.input}
        todo = [(n, x) for n, x in todo if x in names]
        wanted = sorted({x for _, x in todo} - {o.name for o in source.graph.output})
        source.graph.output.extend(onnx.ValueInfoProto(name=x) for x in wanted)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        sess = ort.InferenceSession(source.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        sums: dict[str, np.ndarray] = {}
        for feed in feeds:
            outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feed)))
            for node, x in todo:
                a = np.asarray(outs[x], np.float64)
                axis = 1 if node.op_type == "Conv" else a.ndim - 1
                m = a.mean(axis=tuple(i for i in range(a.ndim) if i != axis))
                sums[x] = sums.get(x, 0) + m
    except Exception as exc:  # noqa: BLE001 - calibration is an improvement, never a reason to fail the build
        log(f"bias correction skipped: the float32 model did not run for calibration ({str(exc).splitlines()[0][:200]})")
        return 0
    done = 0
    for node, x in todo:
        w = node.inputs[1]
        dw = np.asarray(graph.values[w].const, np.float64) - np.asarray(originals[w], np.float64)
        shift = _shift(node, dw, sums[x] / len(feeds))
        bias = graph.values[node.inputs[2]]
        if shift is None or shift.size != np.size(bias.const):
            continue
        bias.const = (np.asarray(bias.const, np.float64) - shift.reshape(np.shape(bias.const))).astype(np.float32)
        done += 1
    return done

#!/usr/bin/env python3
"""Train a small digit classifier on scikit-learn's bundled 8x8 digits and export it to ONNX.

    .venv/bin/python examples/models/train_digits.py [--out DIR] [--seed N] [--epochs N] [--samples N]

No download: ``sklearn.datasets.load_digits`` ships with scikit-learn (1,797 images of 8x8
pixels, values 0..16). The model is an MLP 64 -> 64 (ReLU) -> 10 (Softmax), trained with Adam
on the cross-entropy in plain numpy (seeded, a few seconds on 2 cores) on a stratified 80/20
split; the held-out accuracy is printed (and must be >= 95%).

Writes into DIR (default: this folder):

  digits.onnx          input ``pixels`` [1,1,8,8] float32 (raw pixel value / 16, i.e. in [0, 1]),
                       output ``probabilities`` [1,10] float32 (Flatten -> Gemm -> Relu -> Gemm ->
                       Softmax), opset 17, IR version 8
  digits_samples.json  a few held-out test digits with their true label and onnxruntime's
                       probabilities: {"pixels": [[64 floats], ...], "labels": [...],
                       "probabilities": [[10 floats], ...], "predicted": [...], "accuracy": ...}

The exported model is run under onnxruntime on the whole test split and compared with the numpy
forward pass (max abs difference of the probabilities <= 1e-5, same predicted classes).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(os.path.dirname(os.path.abspath(__file__)))
HIDDEN = 64


def load_data(seed: int):
    """(x_train, y_train, x_test, y_test): x float32 [N, 64] in [0, 1], stratified 80/20 split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        test[idx[: round(len(idx) * 0.2)]] = True
    return x[~test], y[~test], x[test], y[test]


def forward(params, x):
    """numpy forward pass: returns (probabilities, cache for backprop)."""
    w1, b1, w2, b2 = params
    h_pre = x @ w1.T + b1
    h = np.maximum(h_pre, 0)
    logits = h @ w2.T + b2
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True), (x, h_pre, h)


def train(x, y, *, seed: int, epochs: int, batch: int = 32, lr: float = 2e-3, wd: float = 1e-4):
    rng = np.random.default_rng(seed)
    # He-normal for the ReLU layer, Glorot-ish for the output layer; weights as [out, in] (Gemm transB=1)
    params = [
        (rng.standard_normal((HIDDEN, 64)) * np.sqrt(2 / 64)).astype(np.float32),
        np.zeros(HIDDEN, np.float32),
        (rng.standard_normal((10, HIDDEN)) * np.sqrt(1 / HIDDEN)).astype(np.float32),
        np.zeros(10, np.float32),
    ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1_, b2_, eps = 0.9, 0.999, 1e-8
    step = 0
    onehot = np.eye(10, dtype=np.float32)[y]
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        loss = 0.0
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            xb, tb = x[idx], onehot[idx]
            probs, (xin, h_pre, h) = forward(params, xb)
            loss += float(-np.log(np.maximum((probs * tb).sum(1), 1e-12)).sum())
            d_logits = (probs - tb) / len(idx)
            g_w2 = d_logits.T @ h
            g_b2 = d_logits.sum(0)
            d_h = (d_logits @ params[2]) * (h_pre > 0)
            g_w1 = d_h.T @ xin
            g_b1 = d_h.sum(0)
            grads = [g_w1 + wd * params[0], g_b1, g_w2 + wd * params[2], g_b2]
            step += 1
            for k, g in enumerate(grads):
                m[k] = b1_ * m[k] + (1 - b1_) * g
                v[k] = b2_ * v[k] + (1 - b2_) * g * g
                mh = m[k] / (1 - b1_**step)
                vh = v[k] / (1 - b2_**step)
                params[k] = (params[k] - lr * mh / (np.sqrt(vh) + eps)).astype(np.float32)
        if (epoch + 1) % 10 == 0 or epoch == 0:
            print(f"  epoch {epoch + 1:3d}: train loss {loss / len(x):.4f}")
    return params


def to_onnx(params) -> onnx.ModelProto:
    w1, b1, w2, b2 = params
    nodes = [
        helper.make_node("Flatten", ["pixels"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["hidden_pre"], name="fc1", transB=1),
        helper.make_node("Relu", ["hidden_pre"], ["hidden"], name="relu"),
        helper.make_node("Gemm", ["hidden", "fc2.weight", "fc2.bias"], ["logits"], name="fc2", transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_mlp",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 10])],
        initializer=[
            numpy_helper.from_array(w1, "fc1.weight"),
            numpy_helper.from_array(b1, "fc1.bias"),
            numpy_helper.from_array(w2, "fc2.weight"),
            numpy_helper.from_array(b2, "fc2.bias"),
        ],
        doc_string="MLP 64-64-10 trained on sklearn's 8x8 digits; input = pixel value / 16",
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="train_digits.py")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(HERE), help="output folder (default: examples/models)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--samples", type=int, default=10, help="held-out digits written to digits_samples.json")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    x_train, y_train, x_test, y_test = load_data(args.seed)
    print(f"digits: {len(x_train)} train / {len(x_test)} test images of 8x8")
    params = train(x_train, y_train, seed=args.seed, epochs=args.epochs)
    probs, _ = forward(params, x_test)
    pred = probs.argmax(1)
    accuracy = float((pred == y_test).mean())
    print(f"held-out accuracy: {accuracy * 100:.2f}% ({int((pred == y_test).sum())}/{len(y_test)}), "
          f"trained in {time.perf_counter() - t0:.1f} s")
    if accuracy < 0.95:
        raise SystemExit(f"accuracy {accuracy:.4f} is below 0.95")

    model = to_onnx(params)
    onnx.save(model, str(out / "digits.onnx"))

    # onnxruntime vs the numpy forward pass, on every test image
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ort_probs = np.concatenate([sess.run(None, {"pixels": xi.reshape(1, 1, 8, 8)})[0] for xi in x_test])
    diff = float(np.abs(ort_probs - probs).max())
    assert diff <= 1e-5, f"onnxruntime and numpy differ by {diff}"
    assert (ort_probs.argmax(1) == pred).all(), "onnxruntime and numpy predict different classes"
    print(f"onnxruntime matches numpy on {len(x_test)} test images (max |diff| {diff:.2e})")

    # one held-out sample of each class first, in order 0..9, then more if asked
    picks: list[int] = []
    for c in range(10):
        picks.append(int(np.flatnonzero(y_test == c)[0]))
    rest = [i for i in range(len(y_test)) if i not in picks]
    picks = (picks + rest)[: args.samples]
    samples = {
        "description": "held-out digits (sklearn load_digits, pixel / 16) with onnxruntime's probabilities",
        "accuracy": round(accuracy, 6),
        "pixels": [x_test[i].tolist() for i in picks],
        "labels": [int(y_test[i]) for i in picks],
        "probabilities": [ort_probs[i].tolist() for i in picks],
        "predicted": [int(ort_probs[i].argmax()) for i in picks],
    }
    (out / "digits_samples.json").write_text(json.dumps(samples) + "\n")
    size = (out / "digits.onnx").stat().st_size
    print(f"wrote {out / 'digits.onnx'} ({size} bytes) and {out / 'digits_samples.json'} ({len(picks)} samples)")


if __name__ == "__main__":
    main()

"""Export a GPT-2-style decoder step with a KV cache to ONNX, for examples/decoder-lm/generate.mjs.

    python examples/decoder-lm/make_model.py OUT_DIR [--layers 2] [--seed 0]

Writes OUT_DIR/decoder_step.onnx: a `transformers` GPT2LMHeadModel built from a config (random weights,
seeded; no download), wrapped so that the cache is plain tensors. Inputs: `input_ids` [1, seq],
`attention_mask` [1, total] and, per layer i, `past_key_i` / `past_value_i` [1, heads, past, head_dim];
outputs: `logits` [1, seq, vocab] and `present_key_i` / `present_value_i` [1, heads, total, head_dim]
(total = past + seq). The first step feeds an empty cache (past = 0). Build it with the dims left open:

    webdnn-build build OUT_DIR/decoder_step.onnx -o OUT_DIR/bundle --backends js \\
      $(python examples/decoder-lm/make_model.py --print-shapes)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: the model's size: small enough to export and run in seconds
VOCAB, POSITIONS, EMBED, HEADS = 96, 128, 64, 4


def input_shapes(layers: int, max_total: int = POSITIONS, heads: int = HEADS, embed: int = EMBED) -> list[str]:
    """The --input-shape arguments that leave seq, past and total open (past may be 0)."""
    head_dim = embed // heads
    args = ["--input-shape", f"input_ids=1,seq:1..{max_total}",
            "--input-shape", f"attention_mask=1,total:1..{max_total}"]
    for i in range(layers):
        for kind in ("key", "value"):
            args += ["--input-shape", f"past_{kind}_{i}=1,{heads},past:0..{max_total - 1},{head_dim}"]
    return args


def export(out: Path, layers: int = 2, seed: int = 0, init_range: float = 0.2, model=None) -> Path:
    """Write out/decoder_step.onnx and return its path: ``model`` (a GPT2LMHeadModel, e.g. trained by
    examples/char-lm/train.py), else one with seeded random weights. ``init_range``: those weights' std (GPT-2's
    0.02 makes near-uniform logits, whose argmax a last-bit difference can flip; 0.2 makes clear choices)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.cache_utils import DynamicCache

    if model is None:
        torch.manual_seed(seed)
        config = GPT2Config(vocab_size=VOCAB, n_positions=POSITIONS, n_embd=EMBED, n_layer=layers, n_head=HEADS,
                            initializer_range=init_range, bos_token_id=0, eos_token_id=0)  # (ids within the vocabulary)
        model = GPT2LMHeadModel(config)
    model = model.eval()
    layers, heads, embed = model.config.n_layer, model.config.n_head, model.config.n_embd

    class Step(torch.nn.Module):
        """One decoding step with the cache as flat tensors (transformers' Cache objects do not export)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, *past):
            cache = DynamicCache()
            for i in range(layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, past_key_values=cache, use_cache=True)
            present = []
            for layer in out.past_key_values.layers[:layers]:
                present += [layer.keys, layer.values]
            return (out.logits, *present)

    head_dim = embed // heads
    past_len = 3  # traced with a non-empty cache; every size axis is exported as dynamic
    ids = torch.tensor([[5]])
    mask = torch.ones(1, past_len + 1, dtype=torch.int64)
    past = [torch.randn(1, heads, past_len, head_dim) for _ in range(2 * layers)]
    names_in = ["input_ids", "attention_mask"] + [f"past_{k}_{i}" for i in range(layers) for k in ("key", "value")]
    names_out = ["logits"] + [f"present_{k}_{i}" for i in range(layers) for k in ("key", "value")]
    dynamic = {"input_ids": {1: "seq"}, "attention_mask": {1: "total"}, "logits": {1: "seq"}}
    dynamic.update({n: {2: "past"} for n in names_in[2:]})
    dynamic.update({n: {2: "total"} for n in names_out[1:]})
    out.mkdir(parents=True, exist_ok=True)
    path = out / "decoder_step.onnx"
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Step(), (ids, mask, *past), str(path), input_names=names_in, output_names=names_out,
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)
    return path


def reference_tokens(model: Path, prompt: list[int], steps: int) -> tuple[list[int], list]:
    """Greedy decoding with onnxruntime on the same file: the tokens, and each step's last-position logits."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return greedy_onnxruntime(session, prompt, steps, lambda ids, past: {
        "input_ids": ids, "attention_mask": np.ones((1, past + ids.shape[1]), np.int64)})


def greedy_onnxruntime(session, prompt: list[int], steps: int, feeds_for) -> tuple[list[int], list]:
    """Greedy decoding of a decoder step session whose cache inputs are past_X (empty at first) and whose outputs
    are logits then present_X in the same order: the tokens and each step's last-position logits.
    ``feeds_for(ids, past)``: the step's other feeds for its ids ([1, n] int64) and the cache length so far."""
    import numpy as np

    names = [i.name for i in session.get_inputs() if i.name.startswith("past_")]
    specs = {i.name: i.shape for i in session.get_inputs()}
    past = [np.zeros((1, specs[n][1], 0, specs[n][3]), np.float32) for n in names]
    ids = np.array([prompt], np.int64)
    tokens, logits = [], []
    for _ in range(steps):
        out = session.run(None, {**feeds_for(ids, past[0].shape[2] if past else 0), **dict(zip(names, past))})
        last = out[0][0, -1]
        tokens.append(int(last.argmax()))
        logits.append(last)
        past = out[1:]
        ids = np.array([[tokens[-1]]], np.int64)
    return tokens, logits


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", type=Path)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--print-shapes", action="store_true", help="print the --input-shape arguments and exit")
    a = ap.parse_args(argv)
    if a.print_shapes:
        print(" ".join(input_shapes(a.layers)))
        return 0
    if a.out is None:
        ap.error("OUT_DIR is required")
    print(export(a.out, a.layers, a.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())

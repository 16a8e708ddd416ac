"""Export a Whisper-style encoder and decoder step (with a self-attention KV cache) to ONNX, for
examples/whisper/transcribe.mjs.

    python examples/whisper/make_model.py OUT_DIR [--seed 0]

Writes OUT_DIR/encoder.onnx, OUT_DIR/decoder_step.onnx and OUT_DIR/features.f32 (a seeded test input): a `transformers` WhisperForConditionalGeneration built
from a small config (Whisper-tiny's layout at a fraction of the width, seeded random weights; no download).

- encoder.onnx: `input_features` [1, MELS, FRAMES] (a log-mel spectrogram) -> `encoder_hidden_states` [1, FRAMES/2, D].
- decoder_step.onnx: `input_ids` [1, seq], `encoder_hidden_states` and, per layer i, `past_key_i` / `past_value_i`
  [1, heads, past, head_dim] -> `logits` [1, seq, vocab] and `present_key_i` / `present_value_i`
  [1, heads, past + seq, head_dim]. The cross-attention keys and values are computed from the encoder states in
  each step (one scheme for both runtimes). The first step feeds an empty cache (past = 0).

Build them (the decoder with its dims left open):

    webdnn-build build OUT_DIR/encoder.onnx -o OUT_DIR/encoder
    webdnn-build build OUT_DIR/decoder_step.onnx -o OUT_DIR/decoder $(python examples/whisper/make_model.py --print-shapes)
    node examples/whisper/transcribe.mjs OUT_DIR --backends wasm
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: Whisper-tiny's layout (80 mel bins, conv front end with stride 2, pre-LN transformer) at a small width
MELS, FRAMES, D_MODEL, HEADS, LAYERS, VOCAB, MAX_TARGET = 80, 200, 64, 4, 2, 96, 128
START = [1, 2, 3]  # the decoder prompt (start-of-transcript, language, task tokens)


def input_shapes(max_total: int = MAX_TARGET) -> list[str]:
    """The decoder's --input-shape arguments: seq and past open (past may be 0)."""
    head_dim = D_MODEL // HEADS
    args = ["--input-shape", f"input_ids=1,seq:1..{max_total}",
            "--input-shape", f"encoder_hidden_states=1,{FRAMES // 2},{D_MODEL}"]
    for i in range(LAYERS):
        for kind in ("key", "value"):
            args += ["--input-shape", f"past_{kind}_{i}=1,{HEADS},past:0..{max_total - 1},{head_dim}"]
    return args


def _model(seed: int):
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(seed)
    config = WhisperConfig(vocab_size=VOCAB, num_mel_bins=MELS, d_model=D_MODEL, encoder_layers=LAYERS,
                           decoder_layers=LAYERS, encoder_attention_heads=HEADS, decoder_attention_heads=HEADS,
                           encoder_ffn_dim=4 * D_MODEL, decoder_ffn_dim=4 * D_MODEL,
                           max_source_positions=FRAMES // 2, max_target_positions=MAX_TARGET,
                           decoder_start_token_id=START[0], pad_token_id=0, bos_token_id=START[0], eos_token_id=0,
                           init_std=0.2)  # (0.02 makes near-uniform logits, whose argmax a last bit can flip)
    return WhisperForConditionalGeneration(config).eval()


def export(out: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write out/encoder.onnx and out/decoder_step.onnx; return their paths."""
    import warnings

    import torch
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    model = _model(seed)

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = model.model.encoder

        def forward(self, input_features):
            return self.encoder(input_features).last_hidden_state

    class Step(torch.nn.Module):
        """One decoding step with the self-attention cache as flat tensors (Cache objects do not export)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, encoder_hidden_states, *past):
            self_cache = DynamicCache()
            for i in range(LAYERS):
                self_cache.update(past[2 * i], past[2 * i + 1], i)
            cache = EncoderDecoderCache(self_cache, DynamicCache())
            out = self.model(decoder_input_ids=input_ids, encoder_outputs=(encoder_hidden_states,),
                             past_key_values=cache, use_cache=True)
            present = []
            for layer in out.past_key_values.self_attention_cache.layers[:LAYERS]:
                present += [layer.keys, layer.values]
            return (out.logits, *present)

    out.mkdir(parents=True, exist_ok=True)
    enc_path, dec_path = out / "encoder.onnx", out / "decoder_step.onnx"
    features = torch.randn(1, MELS, FRAMES)
    head_dim = D_MODEL // HEADS
    states = torch.randn(1, FRAMES // 2, D_MODEL)
    past_len = 3  # traced with a non-empty cache; the size axes are exported as dynamic
    past = [torch.randn(1, HEADS, past_len, head_dim) for _ in range(2 * LAYERS)]
    names_in = ["input_ids", "encoder_hidden_states"] + [f"past_{k}_{i}" for i in range(LAYERS) for k in ("key", "value")]
    names_out = ["logits"] + [f"present_{k}_{i}" for i in range(LAYERS) for k in ("key", "value")]
    dynamic = {"input_ids": {1: "seq"}, "logits": {1: "seq"}}
    dynamic.update({n: {2: "past"} for n in names_in[2:]})
    dynamic.update({n: {2: "total"} for n in names_out[1:]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Encoder(), (features,), str(enc_path), input_names=["input_features"],
                          output_names=["encoder_hidden_states"], opset_version=17, dynamo=False)
        torch.onnx.export(Step(), (torch.tensor([[5]]), states, *past), str(dec_path), input_names=names_in,
                          output_names=names_out, dynamic_axes=dynamic, opset_version=17, dynamo=False)
    return enc_path, dec_path


def features(seed: int = 1):
    """A log-mel-like input (seeded noise shaped like one): [1, MELS, FRAMES] float32."""
    import numpy as np

    return np.random.default_rng(seed).standard_normal((1, MELS, FRAMES)).astype(np.float32)


def reference_tokens(encoder: Path, decoder: Path, steps: int) -> tuple[list[int], list]:
    """Greedy decoding with onnxruntime on the same files: the tokens after START, and each step's logits."""
    import onnxruntime as ort

    import importlib.util  # examples/decoder-lm/make_model.py's loop (a module of the same name: loaded by path)
    spec = importlib.util.spec_from_file_location("decoder_lm_make_model",
                                                  Path(__file__).resolve().parent.parent / "decoder-lm" / "make_model.py")
    decoder_lm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(decoder_lm)

    enc = ort.InferenceSession(str(encoder), providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(decoder), providers=["CPUExecutionProvider"])
    states = enc.run(None, {"input_features": features()})[0]
    return decoder_lm.greedy_onnxruntime(dec, START, steps, lambda ids, past: {"input_ids": ids, "encoder_hidden_states": states})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--print-shapes", action="store_true", help="print the decoder's --input-shape arguments and exit")
    a = ap.parse_args(argv)
    if a.print_shapes:
        print(" ".join(input_shapes()))
        return 0
    if a.out is None:
        ap.error("OUT_DIR is required")
    for path in export(a.out, a.seed):
        print(path)
    features().tofile(a.out / "features.f32")  # the test input, raw float32 [1, MELS, FRAMES], for transcribe.mjs
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Conformance cases we do not run, each with the reason.

Keys are regular expressions searched in the test names of onnx's backend
suite (``test_<case>_cpu``). ``COMMON`` applies to every backend (limits of the
compiler or the bundle format); ``PER_BACKEND`` lists what one backend lacks.
tools/conformance_report.py prints these reasons with the counts in
docs/conformance.md, and tools/check_exclusions.py fails when an entry matches
a case that passes (so entries are removed as support lands).
"""

from __future__ import annotations

COMMON: dict[str, str] = {
    # ---- data types the bundle format and runtime do not represent yet
    r"FLOAT8|FLOAT4E2M1|_e4m3fn|_e5m2|float4e2m1": "float8 / float4 element types are not supported yet (no bundle or JS representation)",
    r"(?<![A-Z])U?INT[24]_|_U?INT[24](_|$)|_u?int[24]_cpu": "int4 / int2 element types (packed sub-byte) are not supported yet",
    # ---- the suite's own limits
    r"^test_loop16_seq_none_cpu": "onnx's runner cannot compare a sequence output holding a 0-d tensor "
        "(assert_similar_outputs takes len() of it); our output matches the expected one",
    # ---- randomness: no fixed expected output to compare with
    r"^test_bernoulli|^test_training_dropout(_default)?(_mask)?_cpu": "random outputs (Bernoulli, Dropout in training mode with ratio > 0)",
    # ---- training-only and non-default domains
    r"^test_(adagrad|adam|momentum|nesterov_momentum)": "ai.onnx.preview.training ops (optimizer updates) are out of scope for inference bundles",
    r"^test_ai_onnx_ml_": "ai.onnx.ml domain (classical ML: LabelEncoder, TreeEnsemble, ...) is not supported yet",
    r"^test_flexattention(?!.*_expanded)": "ai.onnx.preview FlexAttention (preview domain, subgraph score functions) is not supported (its expanded forms pass)",
    r"^test_image_decoder": "ImageDecoder (JPEG/PNG/... decoding) is out of scope: decode images in the application",
}

PER_BACKEND: dict[str, dict[str, str]] = {
    "js": {
        r"^test_dft_inverse(_opset19)?_cpu": "js: expected values carry numpy's float32 FFT round-off (1.9e-7 where the exact result is 0), above the suite's atol of 1e-7",
    },
    # webgpu inherits the js entries (ops without a WGSL kernel run on the js kernels); its own go here
    "webgpu": {},
}


#: backends that run the ops they have no kernel for on another backend's kernels inherit its entries
FALLS_BACK_TO = {"wasm": "js", "webgpu": "js"}


def exclusions_for(backend: str) -> dict[str, str]:
    inherited = exclusions_for(FALLS_BACK_TO[backend]) if backend in FALLS_BACK_TO else dict(COMMON)
    return {**inherited, **PER_BACKEND.get(backend, {})}

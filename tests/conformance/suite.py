"""Builds the unittest classes of onnx's backend suite for one webdnn-build backend.

Only the 1,884 node tests and the 9 "light" model-zoo architectures shipped in
the onnx wheel are collected (categories NodeModel and RealModel).
"""

from __future__ import annotations

import os
import re
import warnings

import onnx.backend.test

from webdnn_build.onnx_backend import make_backend

from .exclusions import exclusions_for

CATEGORIES = ("OnnxBackendNodeModelTest", "OnnxBackendRealModelTest")


def build_suite(backend: str, module_name: str, default_filter: str | None = None) -> dict[str, type]:
    warnings.simplefilter("ignore", RuntimeWarning)  # the suite's generators overflow on purpose
    test = onnx.backend.test.BackendTest(make_backend(backend), module_name)
    # WEBDNN_CONFORMANCE_NO_EXCLUSIONS=1 runs everything (tools/check_exclusions.py audits the list)
    if not os.environ.get("WEBDNN_CONFORMANCE_NO_EXCLUSIONS"):
        for pattern in exclusions_for(backend):
            test.exclude(pattern)
    # WEBDNN_CONFORMANCE_FILTER: a regex to run a subset (e.g. in CI or while developing)
    subset = os.environ.get("WEBDNN_CONFORMANCE_FILTER", default_filter)
    if subset:
        test.include(subset)
    cases = {name: cls for name, cls in test.test_cases.items() if name in CATEGORIES}
    # the suite generates a CUDA variant of every case; bundles run on the CPU (or WebGPU) only,
    # so drop those instead of reporting ~1,900 "device not supported" skips per backend; cases
    # outside the subset are dropped too (not reported as "no matched include pattern" skips), so
    # that the skips left are the documented exclusions (counted by tests/skips.py)
    for cls in cases.values():
        for attr in list(vars(cls)):
            if attr.startswith("test_") and (attr.endswith("_cuda") or (subset and not re.search(subset, attr))):
                delattr(cls, attr)
    return cases


def reason_for(backend: str, test_name: str) -> str | None:
    for pattern, reason in exclusions_for(backend).items():
        if re.search(pattern, test_name):
            return reason
    return None

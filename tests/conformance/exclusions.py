"""Conformance cases we do not run, each with the reason.

Keys are regular expressions over the test names of onnx's backend suite
(``test_<case>_cpu``). ``COMMON`` applies to every backend; ``PER_BACKEND``
adds backend-specific entries. tools/conformance_report.py prints these
reasons next to the counts in docs/conformance.md.
"""

from __future__ import annotations

COMMON: dict[str, str] = {
}

PER_BACKEND: dict[str, dict[str, str]] = {
    "js": {},
}


def exclusions_for(backend: str) -> dict[str, str]:
    return {**COMMON, **PER_BACKEND.get(backend, {})}

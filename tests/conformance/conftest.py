"""Where each conformance case's ops ran: with WEBDNN_CONFORMANCE_PLACEMENT=FILE, one JSON line per
case ({"suite", "case", "outcome", "placement"}) is appended to FILE; tools/conformance_report.py counts the
cases that pass with every op native, partly native, or only on the js kernels."""

from __future__ import annotations

import json
import os

from webdnn_build import onnx_backend

_FILE = os.environ.get("WEBDNN_CONFORMANCE_PLACEMENT")


def pytest_runtest_setup(item) -> None:
    onnx_backend.last_placement = None


def pytest_runtest_logreport(report) -> None:
    if not _FILE or report.when != "call":
        return
    parts = report.nodeid.split("::")
    record = {"suite": parts[-2] if len(parts) > 2 else "", "case": parts[-1], "outcome": report.outcome,
              "placement": onnx_backend.last_placement}
    with open(_FILE, "a") as f:
        f.write(json.dumps(record) + "\n")

"""The skips a test run may report, and the pytest hooks that hold a run to them (docs/testing.md).

Loaded for every pytest run by the repository's conftest.py (``pytest_plugins``). A skipped case is
one of:

- a documented exclusion: it matches an entry of ``ALLOWED`` (reason regex and test path), and
  each entry allows at most ``max`` cases: one more fails the run ("skip budget exceeded");
- a missing component (WebGPU adapter, Chromium, zig, a Python package): the test called
  ``tests.helpers.require_or_skip`` (or has a ``requires(...)`` mark). Outside CI these are
  reported but not counted; under ``CI=true`` they are failures, not skips;
- anything else: an undocumented skip, which fails the run.

The session ends with one line ``skips: N (by reason: ...)``.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from dataclasses import dataclass

import pytest

from tests.helpers import MISSING, in_ci, require_or_skip


@dataclass(frozen=True)
class Allowed:
    label: str     #: the name in the summary line
    reason: str    #: regular expression searched in the skip reason
    path: str      #: fnmatch pattern of the test's node id
    max: int       #: at most this many skipped cases
    why: str       #: where the reasons are documented


#: onnx's backend suite (pinned in requirements-dev.txt) skips the cases matched by
#: tests/conformance/exclusions.py with 'matched exclude pattern "..."': 212 per CPU backend
#: (onnx 1.23.2); the webgpu CI subset (tests/conformance/test_webgpu.py) matches none of them.
ALLOWED: tuple[Allowed, ...] = (
    Allowed("conformance exclusions (js)", r"^matched exclude pattern ", "tests/conformance/test_js.py::*", 212,
            "tests/conformance/exclusions.py (COMMON + js), reasons listed in docs/conformance.md"),
    Allowed("conformance exclusions (wasm)", r"^matched exclude pattern ", "tests/conformance/test_wasm.py::*", 212,
            "tests/conformance/exclusions.py (COMMON + wasm, inherits js)"),
    Allowed("conformance exclusions (webgpu)", r"^matched exclude pattern ", "tests/conformance/test_webgpu.py::*", 212,
            "tests/conformance/exclusions.py (COMMON + webgpu, inherits js); the CI subset hits none, "
            "WEBDNN_CONFORMANCE_WEBGPU=full hits the same 212 as js"),
)


def classify(nodeid: str, reason: str) -> tuple[str, Allowed | None]:
    """(summary label, the ALLOWED entry or None) of one skipped case."""
    if reason.startswith(MISSING):
        return reason, None
    for entry in ALLOWED:
        if re.search(entry.reason, reason) and fnmatch.fnmatchcase(nodeid, entry.path):
            return entry.label, entry
    return reason, None


def check(skipped: list[tuple[str, str]]) -> tuple[Counter, list[str]]:
    """Counts per label, and the problems (budget exceeded, undocumented skips) of a run's skips."""
    counts: Counter = Counter()
    per_entry: Counter = Counter()
    undocumented: Counter = Counter()
    for nodeid, reason in skipped:
        label, entry = classify(nodeid, reason)
        counts[label] += 1
        if entry is not None:
            per_entry[entry] += 1
        elif not reason.startswith(MISSING) or in_ci():
            undocumented[reason] += 1
    problems = [f"skip budget exceeded: {n} cases skipped as {e.label!r}, at most {e.max} allowed ({e.why})"
                for e, n in per_entry.items() if n > e.max]
    problems += [f"undocumented skip ({n} cases): {reason} (document it in tests/skips.py and docs/testing.md, "
                 f"or make the test run)" for reason, n in undocumented.items()]
    return counts, problems


def _reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
    else:
        text = str(longrepr)
    return text[len("Skipped: "):] if text.startswith("Skipped: ") else text


_skipped: list[tuple[str, str]] = []
_problems: list[str] = []
_counts: Counter = Counter()
#: (test folder, outcome) -> cases, printed at the end so a CI log shows which suites ran
_outcomes: Counter = Counter()


def _folder(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return path.rsplit("/", 1)[0] if "/" in path else path


def pytest_configure(config) -> None:
    _skipped.clear()
    _outcomes.clear()


def pytest_runtest_setup(item) -> None:
    for mark in item.iter_markers("requires_component"):
        if mark.args and mark.args[0]:
            require_or_skip(mark.args[0])


def pytest_runtest_logreport(report) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append((report.nodeid, _reason(report)))
        _outcomes[_folder(report.nodeid), "skipped"] += 1
    elif report.failed:
        _outcomes[_folder(report.nodeid), "failed"] += 1
    elif report.when == "call" and report.passed:
        _outcomes[_folder(report.nodeid), "passed"] += 1


def pytest_collectreport(report) -> None:
    if report.skipped:
        _skipped.append((report.nodeid, _reason(report)))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus) -> None:
    counts, problems = check(_skipped)
    _counts.clear()
    _counts.update(counts)
    _problems[:] = problems
    if problems and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    tr = terminalreporter
    for p in _problems:
        tr.write_line(f"SKIPS FAILED: {p}", red=True, bold=True)
    missing = sum(n for label, n in _counts.items() if label.startswith(MISSING))
    if missing and not in_ci():
        tr.write_line(f"{missing} cases skipped for a missing component (they fail under CI=true)", yellow=True)
    for folder in sorted({f for f, _ in _outcomes}):
        counts = ", ".join(f"{_outcomes[folder, o]} {o}" for o in ("passed", "failed", "skipped") if _outcomes[folder, o])
        tr.write_line(f"ran {folder}: {counts}")
    by_reason = ", ".join(f"{label}: {n}" for label, n in _counts.most_common())
    tr.write_line(f"skips: {sum(_counts.values())} (by reason: {by_reason or 'none'})")

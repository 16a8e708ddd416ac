"""tests/skips.py: which skips a run may report (docs/testing.md)."""

from __future__ import annotations

import pytest

from tests import skips
from tests.helpers import MISSING


def test_documented_exclusions_within_their_budget_pass():
    runs = [(f"tests/conformance/test_js.py::OnnxBackendNodeModelTest::test_{i}_cpu", 'matched exclude pattern "x"')
            for i in range(212)]
    counts, problems = skips.check(runs)
    assert problems == [] and counts == {"conformance exclusions (js)": 212}


def test_one_more_than_the_budget_fails():
    runs = [(f"tests/conformance/test_wasm.py::C::test_{i}_cpu", 'matched exclude pattern "x"') for i in range(213)]
    _, problems = skips.check(runs)
    assert len(problems) == 1 and "skip budget exceeded: 213" in problems[0]


def test_an_exclusion_reason_elsewhere_is_undocumented():
    _, problems = skips.check([("tests/test_errors.py::test_x", 'matched exclude pattern "x"')])
    assert len(problems) == 1 and problems[0].startswith("undocumented skip (1 cases)")


def test_missing_components_are_reported_not_counted_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    counts, problems = skips.check([("tests/webgpu/test_kernels.py::test_gemm", MISSING + "no adapter")] * 3)
    assert problems == [] and counts == {MISSING + "no adapter": 3}
    monkeypatch.setenv("CI", "true")
    _, problems = skips.check([("tests/webgpu/test_kernels.py::test_gemm", MISSING + "no adapter")])
    assert len(problems) == 1


def test_require_or_skip_fails_under_ci(monkeypatch):
    from tests.helpers import require_or_skip
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and a required component is missing: zig"):
        require_or_skip("zig")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match=MISSING + "zig"):
        require_or_skip("zig")

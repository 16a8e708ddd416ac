"""Issue 8, item 4 (Python side): a few hundred mutated models, fixed seed, js backend.

Every case must build into a valid bundle or be refused with a ``WebDNNError``; never another
exception, a signal, a hang over 10 s or a half-written bundle. ``tools/fuzz.py`` is the harness
(``--cases 10000`` for docs/reliability.md); this is the short run CI does every time.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from .helpers import ROOT, requires

pytestmark = requires(None if importlib.util.find_spec("hypothesis") else
                      "hypothesis is not installed (it is in requirements-dev.txt)")

CASES = 300
SEED = 8


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("webdnn_fuzz", ROOT / "tools" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["webdnn_fuzz"] = module
    spec.loader.exec_module(module)
    return module


def test_fuzz_js_backend_fixed_seed():
    fuzz = _fuzz_module()
    summary = fuzz.fuzz(CASES, SEED, ["js"], wasm_every=0, jobs=2, timeout=10.0, mem_mb=4096)
    assert summary["cases"] == CASES
    assert summary["ok"] + summary["rejected"] + summary["crashes"] + summary["hangs"] == CASES
    # the mutations reach past the parser: some cases still build, some of every kind are refused
    assert summary["ok"] > 0 and summary["rejected"] > 0
    assert len(summary["by_mutation"]) >= 12
    failures = "\n".join(f"case {f['index']} ({f['mutation']} on {f['seed']}): {f['outcome']} "
                         f"{f.get('signature', '')} {f.get('error', '')} {f.get('half_written', '')}"
                         for f in summary["failures"][:20])
    assert summary["crashes"] == 0, failures
    assert summary["hangs"] == 0, failures
    assert summary["half_written"] == 0, failures


def test_harness_counts_a_foreign_exception_as_a_crash(tmp_path, monkeypatch):
    """The harness itself: an exception that is not a WebDNNError is a crash, not a rejection."""
    fuzz = _fuzz_module()
    import webdnn_build.compiler as compiler

    def boom(*args, **kwargs):
        raise KeyError("internal")

    monkeypatch.setattr(compiler, "compile_model", boom)
    seeds = fuzz.seed_models()
    case = {"index": 0, "seed": "relu", "mutation": "none", "steps": [], "model": seeds["relu"][0].SerializeToString(),
            "files": {}, "backend": "js", "preexisting": False}
    result = fuzz.run_case(case, tmp_path, None)
    assert result["outcome"] == "crash" and "KeyError" in result["signature"]


def test_invalid_utf8_string_field_is_an_import_error(tmp_path):
    """Found by the fuzzer: protobuf does not check proto2 strings; a flipped byte in a name gave a
    UnicodeDecodeError (or bytes attribute names reaching json.dumps)."""
    from webdnn_build.compiler import BuildOptions, compile_model
    from webdnn_build.errors import ImportError_

    fuzz = _fuzz_module()
    blob = fuzz.seed_models()["relu"][0].SerializeToString().replace(b"fuzz", b"f\xffzz")  # producer_name
    (tmp_path / "m.onnx").write_bytes(blob)
    with pytest.raises(ImportError_, match="producer_name is not valid UTF-8"):
        compile_model(tmp_path / "m.onnx", tmp_path / "out", BuildOptions(backends=["js"]), log=lambda m: None)
    assert not (tmp_path / "out").exists()


def test_shapes_that_do_not_broadcast_are_a_shape_error():
    """Found by the fuzzer: a value_info contradicting an Add's inputs reached the wasm emitter (IndexError)."""
    from webdnn_build.codegen import broadcast_strides
    from webdnn_build.errors import ShapeError

    assert broadcast_strides((16,), (2, 16)) == [0, 1]
    with pytest.raises(ShapeError):
        broadcast_strides((2, 16), ())
    with pytest.raises(ShapeError):
        broadcast_strides((3,), (2, 16))

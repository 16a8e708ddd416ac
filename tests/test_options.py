"""Every build option is honoured or refused with a clear error, and output-changing options are
part of the config-mode build key (issue 8, item 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from onnx import helper

from webdnn_build import cli
from webdnn_build.codegen import option_flag, parse_bool
from webdnn_build.compiler import BuildOptions, compile_model
from webdnn_build.config import ModelConfig, load_config
from webdnn_build.errors import ConfigError

from .helpers import float_input, run_cli, save_model


def relu_model(path: Path) -> Path:
    return save_model([helper.make_node("Relu", ["x"], ["y"])], [float_input("x", [1, 4])], [float_input("y", [1, 4])], path)


def identity_model(path: Path) -> Path:
    """Identity → Relu: the default pipeline (eliminate_identity) removes the Identity."""
    return save_model([helper.make_node("Identity", ["x"], ["t"]), helper.make_node("Relu", ["t"], ["y"])],
                      [float_input("x", [1, 4])], [float_input("y", [1, 4])], path)


def js_ops(bundle: Path) -> list[str]:
    return [op["op"] for op in json.loads((bundle / "js" / "program.json").read_text())["ops"]]


def quiet(msg: str) -> None:
    pass


# ---- config: backend-options, explicit empty lists


def _config_refused(tmp_path, text: str, match: str) -> None:
    """webdnn.toml with ``text`` is refused with a ConfigError matching ``match``."""
    (tmp_path / "webdnn.toml").write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(tmp_path / "webdnn.toml")


def test_config_backend_options_parsed_merged_and_normalised(tmp_path):
    (tmp_path / "webdnn.toml").write_text(
        'backend-options = { wasm = { threads = false, segment_per_op = 1 }, webgpu = { precision = "f16" } }\n'
        '[[models]]\npath = "a.onnx"\nbackend-options = { wasm = { threads = true, emit_c = "yes" } }\n'
        '[[models]]\npath = "b.onnx"\n')
    cfg = load_config(tmp_path / "webdnn.toml")
    a, b = cfg.models
    assert a.backend_options == {"wasm": {"threads": "true", "segment_per_op": "1", "emit_c": "yes"},
                                 "webgpu": {"precision": "f16"}}
    assert b.backend_options == {"wasm": {"threads": "false", "segment_per_op": "1"}, "webgpu": {"precision": "f16"}}


def test_config_backend_option_of_bad_type_refused(tmp_path):
    _config_refused(tmp_path, 'backend-options = { wasm = { threads = 0.5 } }\n',
                    r"backend-options\.wasm\.threads must be a boolean, an integer or a string")
    _config_refused(tmp_path, 'backend-options = { wasm = 1 }\n', r"backend-options\.wasm must be a table")


def test_config_empty_passes_means_none_and_empty_backends_refused(tmp_path):
    (tmp_path / "webdnn.toml").write_text(
        'passes = ["fold_constants"]\nbackends = ["js"]\n'
        '[[models]]\npath = "a.onnx"\npasses = []\n[[models]]\npath = "b.onnx"\n')
    a, b = load_config(tmp_path / "webdnn.toml").models
    assert a.passes == [] and b.passes == ["fold_constants"]
    assert a.backends == b.backends == ["js"]
    _config_refused(tmp_path, '[[models]]\npath = "a.onnx"\nbackends = []\n',
                    r"models\[0\]: backends is empty; name at least one backend")
    _config_refused(tmp_path, 'backends = []\n', r"backends is empty")


def test_config_passes_empty_builds_without_passes(tmp_path):
    identity_model(tmp_path / "a.onnx")
    (tmp_path / "webdnn.toml").write_text(
        'backends = ["js"]\npasses = ["eliminate_identity"]\n[[models]]\npath = "a.onnx"\npasses = []\n')
    proc = run_cli("build", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert js_ops(tmp_path / "webdnn-bundles" / "a") == ["Identity", "Relu"]


# ---- config mode honours backend options and keys on them


def test_config_mode_backend_options_reach_the_backend_cli_wins(tmp_path, monkeypatch):
    relu_model(tmp_path / "a.onnx")
    (tmp_path / "webdnn.toml").write_text(
        'backends = ["wasm"]\nbackend-options = { wasm = { threads = false, emit_c = true } }\n'
        '[[models]]\npath = "a.onnx"\nbackend-options = { wasm = { segment_per_op = true } }\n')
    seen = []

    def fake_compile(path, out, opts, log, extra_manifest=None):
        seen.append(opts)
        raise ConfigError("stop here")

    monkeypatch.setattr(cli, "compile_model", fake_compile)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["build", "-q", "--backend-option", "wasm.emit_c=false", "--passes", "fuse_activation"]) == 1
    opts, = seen
    assert opts.backend_options == {"wasm": {"threads": "false", "emit_c": "false", "segment_per_op": "true"}}
    assert opts.passes == ["fuse_activation"] and opts.backends == ["wasm"]


def test_config_mode_backend_option_changes_the_output_and_the_key(tmp_path):
    relu_model(tmp_path / "a.onnx")
    toml = tmp_path / "webdnn.toml"
    toml.write_text('backends = ["webgpu"]\nbackend-options = { webgpu = { precision = "f16" } }\n'
                    '[[models]]\npath = "a.onnx"\n')
    plan = tmp_path / "webdnn-bundles" / "a" / "webgpu" / "plan.json"
    first = run_cli("build", "--json", "-q", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "enable f16" in plan.read_text()
    again = run_cli("build", "--json", "-q", cwd=tmp_path)
    assert [r["status"] for r in json.loads(again.stdout)["results"]] == ["up-to-date"]
    # the CLI flag overrides the config in config mode, and is part of the key: rebuilt, in f32
    cli_flag = run_cli("build", "--json", "-q", "--backend-option", "webgpu.precision=f32", cwd=tmp_path)
    assert [r["status"] for r in json.loads(cli_flag.stdout)["results"]] == ["built"], cli_flag.stderr
    assert "enable f16" not in plan.read_text()
    # and back: the config's value again is a different key from the f32 build
    back = run_cli("build", "--json", "-q", cwd=tmp_path)
    assert [r["status"] for r in json.loads(back.stdout)["results"]] == ["built"]
    assert "enable f16" in plan.read_text()


def test_build_key_covers_every_output_changing_option(tmp_path):
    path = relu_model(tmp_path / "a.onnx")
    base = dict(path=path, out=tmp_path / "out")
    keys = {
        cli.build_key(ModelConfig(**base)),
        cli.build_key(ModelConfig(**base, backends=["js"])),
        cli.build_key(ModelConfig(**base, passes=[])),
        cli.build_key(ModelConfig(**base, passes=["fuse_activation"])),
        cli.build_key(ModelConfig(**base, input_shapes={"x": (1, 4)})),
        cli.build_key(ModelConfig(**base, backend_options={"wasm": {"threads": "false"}})),
        cli.build_key(ModelConfig(**base, backend_options={"wasm": {"threads": "true"}})),
    }
    assert len(keys) == 7
    # an empty table is no option at all; the out folder does not change the bundle
    assert cli.build_key(ModelConfig(**base, backend_options={"wasm": {}})) == cli.build_key(ModelConfig(**base))
    assert cli.build_key(ModelConfig(path=path, out=tmp_path / "elsewhere")) == cli.build_key(ModelConfig(**base))


# ---- backend option declarations: unknown keys and backends refused


def test_unknown_backend_option_key_refused_with_valid_keys(tmp_path):
    path = relu_model(tmp_path / "a.onnx")
    with pytest.raises(ConfigError, match=r"backend 'wasm' has no option 'thread'; valid keys: emit_c, segment_per_op, serial_below, thread_min_work, threads"):
        compile_model(path, tmp_path / "out", BuildOptions(backends=["wasm"], backend_options={"wasm": {"thread": "0"}}),
                      log=quiet)
    with pytest.raises(ConfigError, match=r"backend 'js' has no option 'fast'; valid keys: none"):
        compile_model(path, tmp_path / "out", BuildOptions(backends=["js"], backend_options={"js": {"fast": "1"}}), log=quiet)
    assert not (tmp_path / "out").exists()


def test_option_for_a_backend_not_built_refused(tmp_path):
    path = relu_model(tmp_path / "a.onnx")
    proc = run_cli("build", str(path), "-o", str(tmp_path / "out"), "--backends", "js",
                   "--backend-option", "wasm.threads=false")
    assert proc.returncode == 2
    assert "wasm.threads" in proc.stderr and "backend 'wasm' is not being built (backends: js)" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_bad_option_values_refused(tmp_path):
    path = relu_model(tmp_path / "a.onnx")
    with pytest.raises(ConfigError, match=r"backend option wasm\.threads: expected true/false .*not 'flase'"):
        compile_model(path, tmp_path / "out", BuildOptions(backends=["wasm"], backend_options={"wasm": {"threads": "flase"}}),
                      log=quiet)
    with pytest.raises(ConfigError, match=r"backend option webgpu\.precision: expected one of f32, f16, not 'f64'"):
        compile_model(path, tmp_path / "out",
                      BuildOptions(backends=["webgpu"], backend_options={"webgpu": {"precision": "f64"}}), log=quiet)


def test_option_flag_accepts_only_boolean_words():
    for word in ("true", "TRUE", "1", "yes", "On", " on "):
        assert option_flag({"k": word}, "k", False) is True
    for word in ("false", "False", "0", "no", "OFF"):
        assert option_flag({"k": word}, "k", True) is False
    assert option_flag({}, "k", True) is True
    for bad in ("", "2", "flase", "enabled", "nope"):
        with pytest.raises(ConfigError, match=r"backend option k: expected true/false"):
            option_flag({"k": bad}, "k", True)
    with pytest.raises(ConfigError, match=r"my option: expected true/false .*not 'maybe'"):
        parse_bool("maybe", "my option")


def test_plugins_lists_backend_options():
    proc = run_cli("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    wasm = {o["name"]: o for o in rows["wasm"]["backendOptions"]["wasm"]}
    assert wasm["threads"]["type"] == "bool" and wasm["threads"]["default"] == "true" and wasm["threads"]["description"]
    assert rows["webgpu"]["backendOptions"]["webgpu"][0]["choices"] == ["f32", "f16"]
    assert rows["js"]["backendOptions"] == {"js": []}
    assert "option wasm.threads (bool, default true)" in run_cli("plugins").stdout


# ---- --passes for one model


def test_passes_flag(tmp_path):
    path = identity_model(tmp_path / "a.onnx")
    for flags, ops in ((["--passes", ""], ["Identity", "Relu"]), (["--no-passes"], ["Identity", "Relu"]),
                       (["--passes", "eliminate_identity"], ["Relu"]), ([], ["Relu"])):
        out = tmp_path / f"out{len(flags)}{flags[-1] if flags else ''}"
        proc = run_cli("build", str(path), "-o", str(out), "--backends", "js", "-q", *flags)
        assert proc.returncode == 0, proc.stderr
        assert js_ops(out) == ops, flags
    bad = run_cli("build", str(path), "-o", str(tmp_path / "bad"), "--backends", "js", "--passes", "eliminate_identiy")
    assert bad.returncode == 2 and "unknown pass(es) eliminate_identiy; installed:" in bad.stderr
    both = run_cli("build", str(path), "--passes", "", "--no-passes")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_empty_backends_flag_and_output_in_config_mode_refused(tmp_path):
    path = relu_model(tmp_path / "a.onnx")
    proc = run_cli("build", str(path), "-o", str(tmp_path / "out"), "--backends", "")
    assert proc.returncode == 2 and "--backends is empty" in proc.stderr
    (tmp_path / "webdnn.toml").write_text('[[models]]\npath = "a.onnx"\n')
    proc = run_cli("build", "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 2 and "-o/--output needs a model" in proc.stderr

"""`webdnn-build build` with no model: every model of the config, skipping unchanged ones."""

from __future__ import annotations

import json

from onnx import helper

from .helpers import float_input, run_cli, save_model


def write_project(root, extra_model: bool = False):
    save_model([helper.make_node("Relu", ["x"], ["y"])], [float_input("x", [1, 4])], [float_input("y", [1, 4])],
               root / "a.onnx")
    save_model([helper.make_node("Sigmoid", ["x"], ["y"])], [float_input("x", ["n", 4])], [float_input("y", ["n", 4])],
               root / "b.onnx")
    models = '[[models]]\npath = "a.onnx"\n\n[[models]]\npath = "b.onnx"\ninput-shapes = { x = [2, 4] }\n'
    if extra_model:
        models += '\n[[models]]\npath = "missing.onnx"\n'
    (root / "webdnn.toml").write_text(f'out-dir = "bundles"\nbackends = ["js"]\n\n{models}')


def test_builds_all_then_skips_unchanged(tmp_path):
    write_project(tmp_path)
    first = run_cli("build", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    statuses = [r["status"] for r in json.loads(first.stdout)["results"]]
    assert statuses == ["built", "built"]
    manifest = json.loads((tmp_path / "bundles" / "b" / "manifest.json").read_text())
    assert manifest["inputs"] == [{"name": "x", "shape": [2, 4], "dtype": "float32"}]

    second = run_cli("build", "--json", cwd=tmp_path)
    assert [r["status"] for r in json.loads(second.stdout)["results"]] == ["up-to-date", "up-to-date"]

    # changing one model's bytes rebuilds only that one
    save_model([helper.make_node("Relu", ["x"], ["y"])], [float_input("x", [1, 5])], [float_input("y", [1, 5])],
               tmp_path / "a.onnx")
    third = run_cli("build", "--json", cwd=tmp_path)
    assert [r["status"] for r in json.loads(third.stdout)["results"]] == ["built", "up-to-date"]


def test_a_failing_model_makes_the_exit_code_non_zero(tmp_path):
    write_project(tmp_path, extra_model=True)
    proc = run_cli("build", "--json", cwd=tmp_path)
    assert proc.returncode == 1
    results = json.loads(proc.stdout)["results"]
    assert [r["status"] for r in results] == ["built", "built", "failed"]
    assert "missing.onnx" in results[2]["error"]


def test_unknown_config_key_is_an_error(tmp_path):
    (tmp_path / "webdnn.toml").write_text('out-dir = "x"\nbackend = ["js"]\n')
    proc = run_cli("build", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown key(s) backend" in proc.stderr


def test_pyproject_table_is_found(tmp_path):
    save_model([helper.make_node("Relu", ["x"], ["y"])], [float_input("x", [1, 4])], [float_input("y", [1, 4])],
               tmp_path / "m.onnx")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "app"\n\n[tool.webdnn-build]\nout-dir = "out"\n\n[[tool.webdnn-build.models]]\npath = "m.onnx"\n')
    proc = run_cli("build", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "m" / "manifest.json").is_file()

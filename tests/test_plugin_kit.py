"""The kit for plugin authors: the pytest plugin webdnn_build.testing, `webdnn-build new-plugin`, and what
`webdnn-build plugins` shows per plugin (hooks, ops per backend)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from onnx import helper

from webdnn_build import hookimpl, testing
from webdnn_build.cli import plugin_rows
from webdnn_build.plugins import PluginHost

from .helpers import ROOT, float_input, run_cli, save_model


def relu_model(tmp_path: Path) -> Path:
    return save_model([helper.make_node("Neg", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["y"])],
                      [float_input("x", [2, 3])], [float_input("y", [2, 3])], tmp_path / "negrelu.onnx")


FEEDS = {"x": np.array([[-1.5, 0.0, 2.0], [3.0, -0.25, 1.0]], np.float32)}


def test_the_pytest_plugin_is_registered_by_the_core_distribution(pytestconfig):
    eps = {ep.name: ep.value for ep in metadata.entry_points(group="pytest11")}
    assert eps.get("webdnn_build") == "webdnn_build.testing", "re-run `pip install -e .` (make setup) to register it"
    assert pytestconfig.pluginmanager.has_plugin("webdnn_build")


def test_build_run_and_compare_with_onnxruntime(tmp_path, webdnn_build_bundle, webdnn_run, assert_matches_onnxruntime):
    bundle = webdnn_build_bundle(relu_model(tmp_path), backends=["js"])
    assert bundle.backends == ["js"] and (bundle.path / "manifest.json").is_file()
    assert bundle.manifest["backends"]["js"]["placement"] == bundle.placement("js")
    assert [op["op"] for op in bundle.program("js")["ops"]] == ["Neg", "Relu"]

    result = webdnn_run(bundle, FEEDS, backend="js")
    assert result.backend == result.requested == "js"
    assert result.placement == {"native": 2, "fallback": 0} and result.fallback_ops == []
    np.testing.assert_array_equal(result.outputs["y"], np.maximum(-FEEDS["x"], 0))

    # a bundle (its backends), or a model built for the backends given
    assert set(assert_matches_onnxruntime(bundle, FEEDS)) == {"js"}
    ran = assert_matches_onnxruntime(relu_model(tmp_path), FEEDS, backends=["js"], passes=[])
    assert ran["js"].outputs["y"].dtype == np.float32


def test_a_mismatch_names_the_backend_output_and_error(tmp_path, webdnn_build_bundle, assert_matches_reference):
    bundle = webdnn_build_bundle(relu_model(tmp_path), backends=["js"])
    want = np.maximum(-FEEDS["x"], 0)
    assert_matches_reference(bundle, FEEDS, {"y": want})
    assert_matches_reference(bundle, FEEDS, lambda feeds: {"y": np.maximum(-feeds["x"], 0)})
    with pytest.raises(AssertionError) as info:
        assert_matches_reference(bundle, FEEDS, {"y": want + 0.5})
    msg = str(info.value)
    assert "negrelu.onnx on js does not match the reference" in msg and "js output 'y': max abs error 0.5" in msg
    with pytest.raises(AssertionError, match="shape"):
        assert_matches_reference(bundle, FEEDS, {"y": want[0]})


def test_a_build_error_fails_the_test_with_the_compilers_message(tmp_path, webdnn_build_bundle):
    with pytest.raises(pytest.fail.Exception, match="webdnn-build failed on negrelu.onnx: .*no_such_pass"):
        webdnn_build_bundle(relu_model(tmp_path), backends=["js"], passes=["no_such_pass"])


def test_a_missing_component_skips_and_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="^missing component: Node"):
        testing.require_or_skip("Node")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and a required component is missing: Node"):
        testing.require_or_skip("Node")
    # no node on PATH: the runner goes through the same rule
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("WEBDNN_NODE", raising=False)
    with pytest.raises(pytest.fail.Exception, match="Node.js"):
        testing.Runner().run(Path("nowhere"), {}, "js")


# ---- webdnn-build plugins: hooks and ops --------------------------------------------------------------------


class _CustomOps:
    """A plugin adding a JS custom op to js, a wasm kernel and a pass."""

    class Cube:
        ops, domain = ("Cube",), "example.kernels"

        def supports(self, node, graph):
            return True

        def emit(self, node, ctx):
            return []

    @staticmethod
    @hookimpl
    def webdnn_register_backends(registry):
        registry.backends["js"].add_custom_op("example.custom", "Twice")

    @staticmethod
    @hookimpl
    def webdnn_register_kernels(registry):
        registry.add_kernel("wasm", _CustomOps.Cube())
        registry.add_js_kernel("example.jsk", ["Square"], __file__)  # (any file: it is read at build time only)

    @staticmethod
    @hookimpl
    def webdnn_register_passes(registry):
        registry.add_pass("custom::nothing", lambda g, ctx: False, "does nothing")


def test_plugin_rows_show_hooks_and_ops_per_backend():
    host = PluginHost()
    host.load_entry_points()
    host.register(_CustomOps, "custom")
    host.build_registry()
    rows = {r["name"]: r for r in plugin_rows(host)}
    custom = rows["custom"]
    assert custom["hooks"] == ["webdnn_register_backends", "webdnn_register_kernels", "webdnn_register_passes"]
    assert custom["ops"] == {"js": ["example.custom.Twice"], "wasm": ["example.kernels.Cube"]}
    assert custom["registers"] == ["pass:custom::nothing", "kernel:wasm:example.kernels.Cube",
                                   "js-kernel:example.jsk.Square"]
    # a backend plugin: its own ops (all of them), options as before
    assert rows["js"]["hooks"] == ["webdnn_register_backends"]
    assert "Relu" in rows["js"]["ops"]["js"] and "example.custom.Twice" not in rows["js"]["ops"]["js"]
    assert rows["onnx"]["hooks"] == ["webdnn_register_importers"] and "ops" not in rows["onnx"]


def test_plugins_command_json_keeps_its_keys_and_adds_hooks():
    proc = run_cli("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    for r in rows.values():
        assert {"name", "distribution", "version", "module", "registers", "hooks"} <= set(r)
    assert rows["optimize"]["hooks"] == ["webdnn_register_passes"]
    assert "backendOptions" in rows["wasm"] and "Conv" in rows["wasm"]["ops"]["wasm"]
    text = run_cli("plugins")
    assert text.returncode == 0, text.stderr
    assert "    hooks: webdnn_register_importers" in text.stdout and "    ops on js: " in text.stdout


# ---- webdnn-build new-plugin ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bad name", "x;rm -rf ~", "-o", "../up", "a/b", "1abc", "class", "webdnn_build",
                                  "trailing-", "ünï"])
def test_new_plugin_refuses_a_name_that_is_not_a_distribution_name(tmp_path, name):
    proc = run_cli("new-plugin", name, "-o", str(tmp_path / "out"))
    assert proc.returncode != 0
    assert "new-plugin" in proc.stderr or "error" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_new_plugin_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    proc = run_cli("new-plugin", "webdnn-fine", "-o", str(tmp_path / "out"))
    assert proc.returncode == 2 and "refusing to overwrite" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["keep.txt"]
    (tmp_path / "empty").mkdir()
    assert run_cli("new-plugin", "webdnn-fine", "-o", str(tmp_path / "empty")).returncode == 0


def docs_example() -> str:
    """The test in docs/plugins.md, "Testing your plugin" (written for a skeleton named webdnn-myplugin)."""
    section = (ROOT / "docs" / "plugins.md").read_text().split("## Testing your plugin", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_new_plugin_skeleton_installs_lists_and_passes_its_own_test(tmp_path):
    out = tmp_path / "webdnn-myplugin"
    made = run_cli("new-plugin", "webdnn-myplugin", "-o", str(out))
    assert made.returncode == 0, made.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "README.md", "pyproject.toml", "tests/test_plugin.py", "webdnn_myplugin/__init__.py"]
    (out / "tests" / "test_docs_example.py").write_text(docs_example())  # the docs' example runs too

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(out)], check=True, cwd=tmp_path, capture_output=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)

    listed = run_cli("plugins", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["webdnn_myplugin"]["distribution"] == "webdnn-myplugin"
    assert rows["webdnn_myplugin"]["registers"] == ["pass:webdnn_myplugin::collapse_abs"]
    assert rows["webdnn_myplugin"]["hooks"] == ["webdnn_register_passes"]

    # its own test, unchanged, in its own folder (outside this repository's conftest)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"],
                          cwd=out, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-2000:]
    assert "PASSED tests/test_plugin.py::test_the_pass_collapses_abs_and_keeps_the_results" in proc.stdout

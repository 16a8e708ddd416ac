"""A third-party plugin distribution, pip-installed, is picked up through its entry point.

Written as a plugin author would, with the fixtures of the pytest plugin webdnn_build.testing."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import numpy as np
from onnx import helper

from .helpers import ROOT, float_input, run_cli, save_model

FIXTURE = ROOT / "tests" / "fixtures" / "thirdparty-plugin"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """pip-install the example plugin into a throw-away folder put on PYTHONPATH (the venv stays clean)."""
    target = tmp_path_factory.mktemp("site")
    build_dir = tmp_path_factory.mktemp("build")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(FIXTURE)],
        check=True, cwd=build_dir,
    )
    assert list(target.glob("webdnn_example_plugin-*.dist-info"))
    return target


def env_with(site: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def test_plugins_command_lists_the_third_party_plugin(plugin_site):
    proc = run_cli("plugins", "--json", env=env_with(plugin_site))
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["example"]["distribution"] == "webdnn-example-plugin"
    assert rows["example"]["version"] == "0.0.1"
    assert rows["example"]["registers"] == ["pass:example::eliminate_double_negation"]
    assert rows["example"]["hooks"] == ["webdnn_register_passes"]
    # the built-in plugins register the same way
    assert "importer:onnx" in rows["onnx"]["registers"]
    assert "backend:js" in rows["js"]["registers"]


def installed_module(site: Path):
    """The plugin's module as pip installed it, without putting the site on this process's sys.path."""
    spec = importlib.util.spec_from_file_location("webdnn_example_plugin", site / "webdnn_example_plugin" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_third_party_pass_runs_in_the_build(plugin_site, tmp_path, webdnn_build_bundle, webdnn_run,
                                                  assert_matches_onnxruntime):
    model = save_model(
        [helper.make_node("Neg", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["b"]),
         helper.make_node("Relu", ["b"], ["y"])],
        [float_input("x", [2, 3])], [float_input("y", [2, 3])], tmp_path / "negneg.onnx",
    )
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)}
    # installed: the command line finds it through its entry point
    out = tmp_path / "bundle"
    with_plugin = run_cli("build", str(model), "-o", str(out), "--backends", "js", env=env_with(plugin_site))
    assert with_plugin.returncode == 0, with_plugin.stderr
    ops = [op["op"] for op in json.loads((out / "js" / "program.json").read_text())["ops"]]
    assert ops == ["Relu"]
    ran = webdnn_run(out, feeds, backend="js")
    assert ran.backend == "js" and ran.placement == {"native": 1, "fallback": 0}
    np.testing.assert_array_equal(ran.outputs["y"], np.maximum(feeds["x"], 0))

    # the same module registered for one in-process build (a build error fails the test with its message)
    bundle = webdnn_build_bundle(model, backends=["js"], plugins={"example": installed_module(plugin_site)})
    assert [op["op"] for op in bundle.program("js")["ops"]] == ["Relu"]
    assert_matches_onnxruntime(bundle, feeds)

    without = webdnn_build_bundle(model, backends=["js"])
    ops = [op["op"] for op in without.program("js")["ops"]]
    assert ops == ["Neg", "Neg", "Relu"]
    assert_matches_onnxruntime(without, feeds)

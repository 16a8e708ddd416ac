"""Shared test helpers: tiny ONNX models, running the CLI, and tests that need a component."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Optional

import onnx
import pytest
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent

# MISSING (the prefix of the skip reasons of tests whose component is missing: tests/skips.py does not count these
# against the allowed skips), in_ci and require_or_skip are the plugin kit's (webdnn_build/testing.py), so the
# repository's tests and third-party plugins' tests follow one rule: a skip is not a pass under CI=true.
from webdnn_build.testing import MISSING, in_ci, require_or_skip  # noqa: E402,F401


def example_module(relpath: str):
    """An example's Python script as a module (examples/decoder-lm/make_model.py and examples/whisper/make_model.py
    share a file name: each is loaded under its own path-derived name)."""
    import importlib.util
    import sys
    name = "example_" + relpath.replace("/", "_").replace("-", "_").removesuffix(".py")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / relpath)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def import_or_require(module: str):
    """The module, or (missing) require_or_skip: a skip stating the reason, a failure under CI=true."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        require_or_skip(f"Python package {module} ({exc})")


def requires(reason: Optional[str]) -> pytest.MarkDecorator:
    """Mark (``pytestmark = requires(...)``) for tests that need a component: ``reason`` is None when it
    is there, else why not; the tests then go through require_or_skip (tests/skips.py applies it)."""
    return pytest.mark.requires_component(reason)


def save_model(nodes, inputs, outputs, path: Path, initializers=(), opset: int = 17) -> Path:
    graph = helper.make_graph(nodes, "test", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def custom_op_model(path: Path, op: str, domain: str, shape) -> Path:
    """y = Relu(op(x)), float32 of ``shape``, ``op`` a custom op of ``domain`` (plugin kernel tests). Its output is
    typed in value_info: onnx's shape inference cannot know a plugin op's."""
    nodes = [helper.make_node(op, ["x"], ["c"], domain=domain), helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(nodes, "g", [float_input("x", list(shape))], [float_input("y", list(shape))],
                              value_info=[float_input("c", list(shape))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(domain, 1)])
    onnx.save(model, str(path))
    return path


def float_input(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def run_cli(*args: str, env: Optional[dict] = None, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webdnn_build", *args], capture_output=True, text=True, env=env, cwd=cwd)

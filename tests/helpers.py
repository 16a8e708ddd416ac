"""Shared test helpers: tiny ONNX models and running the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Optional

import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent


def save_model(nodes, inputs, outputs, path: Path, initializers=(), opset: int = 17) -> Path:
    graph = helper.make_graph(nodes, "test", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def float_input(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def run_cli(*args: str, env: Optional[dict] = None, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webdnn_build", *args], capture_output=True, text=True, env=env, cwd=cwd)

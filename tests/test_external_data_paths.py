"""External-data locations stay inside the model's folder (issue 8, item 2): `..`, absolute paths
and symlinks that leave the folder are refused with an error naming the model and the tensor, and
nothing is written."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from webdnn_build.compiler import BuildOptions, compile_model
from webdnn_build.errors import WebDNNError


def external_model(folder: Path, location: str) -> Path:
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
    entry = t.external_data.add()
    entry.key, entry.value = "location", location
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [t])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture
def layout(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "outside.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    (tmp_path / "m" / "inside.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    os.symlink("../outside.bin", tmp_path / "m" / "link.bin")
    return tmp_path


def test_inside_location_builds(layout):
    model = external_model(layout / "m", "inside.bin")
    result = compile_model(model, layout / "out", BuildOptions(backends=["js"]), log=lambda s: None)
    assert (result.out_dir / "manifest.json").is_file()


@pytest.mark.parametrize("location", ["../outside.bin", "link.bin", "sub/../../outside.bin", "OUTSIDE_ABS"])
def test_locations_leaving_the_folder_are_refused(layout, location):
    if location == "OUTSIDE_ABS":
        location = str(layout / "outside.bin")
    model = external_model(layout / "m", location)
    with pytest.raises(WebDNNError) as info:
        compile_model(model, layout / "out", BuildOptions(backends=["js"]), log=lambda s: None)
    message = str(info.value)
    assert str(model) in message and "'w'" in message, message
    assert not (layout / "out").exists() and not list(layout.glob(".out.tmp-*")), "nothing half-written"

"""The plugin registers every pass under its stable id, in the documented default order."""

from __future__ import annotations

from importlib import metadata

import pytest

from webdnn_build.errors import PluginError
from webdnn_build.plugins import ENTRY_POINT_GROUP, PluginHost
from webdnn_build.registry import Registry
from tests.helpers import require_or_skip
from webdnn_build_optimize import plugin

DEFAULT_PIPELINE = [
    "lower_contrib_ops",
    "eliminate_identity",
    "fold_shapes_and_constants",
    "lower_global_pools",
    "expand_functions",
    "eliminate_dead_code",
    "fold_batchnorm",
    "fuse_gelu",
    "fuse_swish",
    "fuse_activation",
]
EXTRA_PASSES = {"fold_shape_ops", "fold_constants", "refine_shapes"}


def test_registers_passes_and_default_pipeline() -> None:
    reg = Registry()
    plugin.webdnn_register_passes(registry=reg)
    assert reg.default_pipeline() == DEFAULT_PIPELINE
    assert set(reg.passes) == set(DEFAULT_PIPELINE) | EXTRA_PASSES
    for p in reg.passes.values():
        assert p.description and p.run.__doc__, p.id
        assert p.id.split("_")[0] in ("eliminate", "fold", "fuse", "refine", "lower", "expand"), f"{p.id} is not verb-first"


def test_registering_twice_is_refused() -> None:
    reg = Registry()
    plugin.webdnn_register_passes(registry=reg)
    with pytest.raises(PluginError):
        plugin.webdnn_register_passes(registry=reg)


def test_loads_through_the_entry_point() -> None:
    eps = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == "optimize"]
    if not eps:
        require_or_skip("webdnn-build-optimize is not installed (pip install -e plugins/webdnn-build-optimize)")
    assert eps[0].value == "webdnn_build_optimize.plugin"
    host = PluginHost()
    host.load_entry_points(allow={"optimize"})
    reg = host.build_registry()
    assert reg.default_pipeline() == DEFAULT_PIPELINE
    assert all(p.plugin == "optimize" for p in reg.passes.values())
    assert host.infos["optimize"].distribution == "webdnn-build-optimize"

"""Clean seams between plugins (issue 12, item 5): no plugin distribution imports another one's private names
(what the wasm and webgpu backends share with the js backend is public: webdnn_build_js.backend.encode_js_op /
encode_attr), and no runtime backend calls another backend's private methods (JsExecutor.runStep is public)."""

from __future__ import annotations

import ast
import re

from tests.helpers import ROOT

PLUGINS = ROOT / "plugins"


def _packages() -> dict[str, str]:
    """Top-level package -> its distribution folder."""
    out = {}
    for dist in PLUGINS.iterdir():
        for pkg in dist.iterdir():
            if pkg.is_dir() and (pkg / "__init__.py").exists():
                out[pkg.name] = dist.name
    return out


def test_no_plugin_imports_another_plugins_private_names():
    packages = _packages()
    assert {"webdnn_build_js", "webdnn_build_wasm", "webdnn_build_webgpu"} <= set(packages)
    bad = []
    for pkg, dist in packages.items():
        for path in (PLUGINS / dist / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            aliases = {}
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module:
                    top = node.module.split(".")[0]
                    if top in packages and top != pkg:
                        bad += [f"{path.relative_to(ROOT)}:{node.lineno}: {a.name} from {node.module}"
                                for a in node.names if a.name.startswith("_")]
                        aliases.update({a.asname or a.name: top for a in node.names})
                elif isinstance(node, ast.Import):
                    for a in node.names:
                        top = a.name.split(".")[0]
                        if top in packages and top != pkg:
                            aliases[a.asname or top] = top
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                    base = node.value
                    while isinstance(base, ast.Attribute):
                        base = base.value
                    if isinstance(base, ast.Name) and base.id in aliases:
                        bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {base.id}...{node.attr}")
    assert not bad, "private names of another plugin:\n" + "\n".join(bad)


def test_no_runtime_backend_calls_another_objects_private_methods():
    """In the wasm and webgpu backends, a `_method(` call is on `this` or `super` only (overriding the js executor's
    `_placeOutput` is the documented hook)."""
    call = re.compile(r"(\w+)\s*\.\s*(_[A-Za-z]\w*)\s*\(")
    bad = []
    for folder in ("wasm", "webgpu"):
        for path in (ROOT / "js-runtime" / "src" / "backends" / folder).glob("*.js"):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                for m in call.finditer(line):
                    if m.group(1) not in ("this", "super"):
                        bad.append(f"{path.relative_to(ROOT)}:{i}: {m.group(0)}")
    assert not bad, "calls of another object's private methods:\n" + "\n".join(bad)

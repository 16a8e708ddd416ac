"""``webdnn-build new-plugin NAME``: a plugin skeleton from the templates in ``webdnn_build/plugin_template``.

The skeleton is a pip distribution: pyproject.toml with the ``webdnn_build`` entry point, a package with one
optimization pass, and a test using the fixtures of :mod:`webdnn_build.testing`.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from typing import Optional

from .errors import ConfigError

TEMPLATE_DIR = Path(__file__).resolve().parent / "plugin_template"

#: a distribution name as PEP 508 allows it (letters, digits, '.', '-', '_'; starts and ends alphanumeric)
_DIST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")
_RESERVED = {"webdnn_build", "webdnn", "test", "tests", "pytest", "onnx", "onnxruntime", "numpy", "pluggy"}


def names_for(name: str) -> dict[str, str]:
    """The names of a skeleton for the distribution name ``name``; ConfigError when it is not one."""
    if not isinstance(name, str) or not _DIST_RE.match(name):
        raise ConfigError(f"new-plugin: {name!r} is not a valid distribution name: use letters, digits, '-', '_' "
                          "and '.', starting and ending with a letter or digit (e.g. webdnn-myplugin)")
    package = re.sub(r"[-_.]+", "_", name).lower()
    if not package.isidentifier() or keyword.iskeyword(package) or not package[0].isalpha():
        raise ConfigError(f"new-plugin: {name!r} gives the package name {package!r}, which is not a Python "
                          "identifier starting with a letter (e.g. webdnn-myplugin -> webdnn_myplugin)")
    if package in _RESERVED or package.startswith("webdnn_build_") and package[13:] in ("js", "wasm", "webgpu",
                                                                                          "onnx", "optimize"):
        raise ConfigError(f"new-plugin: {name!r} is taken (package {package!r}); choose another name")
    return {"dist": name, "package": package, "entry": package, "pass_id": f"{package}::collapse_abs"}


def render(text: str, names: dict[str, str]) -> str:
    for key, value in names.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def new_plugin(name: str, out: Optional[Path] = None) -> Path:
    """Write the skeleton of plugin ``name`` to ``out`` (default ./NAME), which must be absent or empty."""
    names = names_for(name)
    out = Path(out) if out is not None else Path.cwd() / name
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"new-plugin: {out} exists and is not an empty directory; refusing to overwrite it")
    templates = sorted(p for p in TEMPLATE_DIR.rglob("*.tmpl") if p.is_file())
    if not templates:
        raise ConfigError(f"new-plugin: no templates in {TEMPLATE_DIR} (a broken installation of webdnn-build)")
    files = {}
    for t in templates:
        rel = t.relative_to(TEMPLATE_DIR).with_suffix("")  # drop .tmpl
        parts = [names["package"] if p == "package" else p for p in rel.parts]
        files[Path(*parts)] = render(t.read_text(encoding="utf-8"), names)
    out.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text, encoding="utf-8")
    return out

"""Project configuration: ``[tool.webdnn-build]`` in pyproject.toml, or a webdnn.toml.

    [tool.webdnn-build]            # in webdnn.toml the table is the top level
    out-dir = "build/models"       # where bundles go (default: "webdnn-bundles")
    backends = ["js"]              # default: every installed backend
    passes = [...]                 # default: the default pipeline; [] = no passes
    backend-options = { wasm = { threads = false } }   # as --backend-option wasm.threads=false
    quantize = "int8"              # or { "*" = "int8", "*embeddings*" = "fp16", "*attn*" = "int4:128", "*classifier*" = "none" }
    shard-size = "4MiB"            # bytes per weight shard (an integer, or KiB / MiB / GiB)
    deflate = true                 # store weight shards deflated (default: only with eightbit weights)

    [[tool.webdnn-build.models]]
    path = "models/resnet50.onnx"  # relative to the config file
    out = "build/resnet50"         # default: <out-dir>/<model file stem>
    backends = ["wasm", "js"]
    input-shapes = { input = [1, 3, 224, 224] }
    backend-options = { wasm = { emit_c = true } }     # merged per key over the top-level table

A model's ``backends``/``passes`` replace the top-level ones when present (an explicit ``[]``
included: ``passes = []`` means no passes; ``backends = []`` is an error). CLI flags override
these values (``--backend-option`` per key).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import tomli

from .errors import ConfigError
from .symdim import DimSpec, parse_shape

ALLOWED_TOP = {"out-dir", "backends", "passes", "models", "input-shapes", "backend-options", "quantize", "shard-size",
               "deflate"}
ALLOWED_MODEL = {"path", "out", "backends", "passes", "input-shapes", "backend-options", "quantize", "shard-size",
                 "deflate"}

#: backend name -> {option key: value as a string, as ``--backend-option`` gives it}
BackendOptions = dict[str, dict[str, str]]


@dataclass
class ModelConfig:
    path: Path
    out: Path
    backends: Optional[list[str]] = None
    passes: Optional[list[str]] = None
    input_shapes: dict[str, tuple[DimSpec, ...]] = field(default_factory=dict)
    backend_options: BackendOptions = field(default_factory=dict)
    #: ``--quantize`` arguments (MODE, PATTERN=MODE), from the ``quantize`` key
    quantize: list[str] = field(default_factory=list)
    #: ``shard-size`` (bytes) and ``deflate``; None: the compiler's default
    shard_size: Optional[int] = None
    deflate: Optional[bool] = None


@dataclass
class ProjectConfig:
    file: Optional[Path]
    root: Path
    out_dir: Path
    backends: Optional[list[str]] = None
    passes: Optional[list[str]] = None
    input_shapes: dict[str, tuple[DimSpec, ...]] = field(default_factory=dict)
    backend_options: BackendOptions = field(default_factory=dict)
    quantize: list[str] = field(default_factory=list)
    shard_size: Optional[int] = None
    deflate: Optional[bool] = None
    models: list[ModelConfig] = field(default_factory=list)


def find_config(start: Path) -> Optional[Path]:
    """The nearest webdnn.toml, or pyproject.toml with a [tool.webdnn-build] table, at or above ``start``."""
    for folder in [start, *start.parents]:
        candidate = folder / "webdnn.toml"
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomli.loads(pyproject.read_text())
            except tomli.TOMLDecodeError:
                continue
            if "webdnn-build" in data.get("tool", {}):
                return pyproject
    return None


def parse_shape_table(value: Any, where: str) -> dict[str, tuple[DimSpec, ...]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: input-shapes must be a table of name = [dims]")
    shapes = {}
    for name, dims in value.items():
        if not isinstance(dims, list):
            raise ConfigError(f"{where}: input-shapes.{name} must be a list of dims (positive integers, or strings "
                              "such as \"?\" or \"1..512\" for dims left open)")
        shapes[name] = parse_shape(dims, f"{where}: input-shapes.{name}")
    return shapes


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _str_list(value: Any, where: str) -> Optional[list[str]]:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ConfigError(f"{where} must be a list of strings")
    return list(value)


def _backends(value: Any, where: str) -> Optional[list[str]]:
    backends = _str_list(value, where)
    if backends is not None and not backends:
        raise ConfigError(f"{where} is empty; name at least one backend, or leave the key out to build every installed one")
    return backends


def option_value(value: Any, where: str) -> str:
    """A TOML option value as the CLI would give it: true/false, an integer, or a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    raise ConfigError(f"{where} must be a boolean, an integer or a string, not {type(value).__name__}")


def parse_backend_options(value: Any, where: str) -> BackendOptions:
    """``{ wasm = { threads = false } }`` -> {"wasm": {"threads": "false"}}"""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: backend-options must be a table of backend = {{ key = value }}")
    result: BackendOptions = {}
    for backend, table in value.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: backend-options.{backend} must be a table of key = value")
        result[backend] = {k: option_value(v, f"{where}: backend-options.{backend}.{k}") for k, v in table.items()}
    return result


def merge_backend_options(*layers: BackendOptions) -> BackendOptions:
    """Later layers win, per backend and key."""
    out: BackendOptions = {}
    for layer in layers:
        for backend, table in layer.items():
            out.setdefault(backend, {}).update(table)
    return out


def parse_quantize_key(value: Any, where: str) -> list[str]:
    """The ``quantize`` key as ``--quantize`` arguments: a mode (``"int8"``), a list of CLI arguments, or a table of
    pattern = mode (``"*"``: the default)."""
    if value is None:
        return []
    if isinstance(value, str):
        return _checked_modes([value], where)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return _checked_modes(list(value), where)
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return _checked_modes([v if k == "*" else f"{k}={v}" for k, v in value.items()], where)
    raise ConfigError(f"{where}: quantize must be a mode (\"int8\"), a list of MODE / PATTERN=MODE strings, or a "
                      "table of pattern = mode")


_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30}


def parse_shard_size(value: Any, where: str) -> Optional[int]:
    """A weight shard size: bytes as an integer, or a string such as ``"4MiB"`` / ``"512KiB"``; a multiple of 16
    from 1 KiB to 1 GiB (weights.py MIN_SHARD_SIZE / MAX_SHARD_SIZE)."""
    from .weights import ALIGN, MAX_SHARD_SIZE, MIN_SHARD_SIZE

    if value is None:
        return None
    size: Optional[int] = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = text[len(digits):]
        if digits.isdigit() and unit in _SIZE_UNITS:
            size = int(digits) * _SIZE_UNITS[unit]
    if size is None:
        raise ConfigError(f"{where}: shard size must be a number of bytes or a size such as \"4MiB\", got {value!r}")
    if not MIN_SHARD_SIZE <= size <= MAX_SHARD_SIZE or size % ALIGN:
        raise ConfigError(f"{where}: shard size {size} must be a multiple of {ALIGN} from {MIN_SHARD_SIZE} "
                          f"(1 KiB) to {MAX_SHARD_SIZE} (1 GiB) bytes")
    return size


def _bool(value: Any, where: str) -> Optional[bool]:
    if value is None or isinstance(value, bool):
        return value
    raise ConfigError(f"{where} must be true or false, got {value!r}")


def _checked_modes(args: list[str], where: str) -> list[str]:
    """``--quantize`` arguments whose modes are known (compress.check_mode): a bad one is refused naming the config
    key, when the config is read, not when the build gets to it."""
    from .compress import check_mode  # (here: compress pulls in numpy and the IR, which reading a config needs not)
    for arg in args:
        try:
            check_mode(arg.rpartition("=")[2])
        except ValueError as exc:
            raise ConfigError(f"{where}: {arg!r}: {exc}") from None
    return args


def load_config(path: Optional[Path]) -> ProjectConfig:
    if path is None:
        return ProjectConfig(file=None, root=Path.cwd(), out_dir=Path.cwd() / "webdnn-bundles")
    try:
        data = tomli.loads(path.read_text())
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    table = data.get("tool", {}).get("webdnn-build", {}) if path.name == "pyproject.toml" else data
    where = f"{path} [tool.webdnn-build]" if path.name == "pyproject.toml" else str(path)
    _check_keys(table, ALLOWED_TOP, where)
    root = path.parent
    cfg = ProjectConfig(
        file=path,
        root=root,
        out_dir=root / table.get("out-dir", "webdnn-bundles"),
        backends=_backends(table.get("backends"), f"{where}: backends"),
        passes=_str_list(table.get("passes"), f"{where}: passes"),
        input_shapes=parse_shape_table(table.get("input-shapes", {}), where),
        backend_options=parse_backend_options(table.get("backend-options", {}), where),
        quantize=parse_quantize_key(table.get("quantize"), f"{where}: quantize"),
        shard_size=parse_shard_size(table.get("shard-size"), f"{where}: shard-size"),
        deflate=_bool(table.get("deflate"), f"{where}: deflate"),
    )
    models = table.get("models", [])
    if not isinstance(models, list):
        raise ConfigError(f"{where}: models must be an array of tables ([[...models]])")
    for i, m in enumerate(models):
        mw = f"{where}: models[{i}]"
        if not isinstance(m, dict) or "path" not in m:
            raise ConfigError(f"{mw}: each model needs a path")
        _check_keys(m, ALLOWED_MODEL, mw)
        mpath = root / m["path"]
        # present keys replace the top-level value, an empty list included (passes = [] means none)
        backends = _backends(m.get("backends"), f"{mw}: backends")
        passes = _str_list(m.get("passes"), f"{mw}: passes")
        cfg.models.append(ModelConfig(
            path=mpath,
            out=root / m["out"] if "out" in m else cfg.out_dir / mpath.stem,
            backends=cfg.backends if backends is None else backends,
            passes=cfg.passes if passes is None else passes,
            input_shapes={**cfg.input_shapes, **parse_shape_table(m.get("input-shapes", {}), mw)},
            backend_options=merge_backend_options(cfg.backend_options,
                                                  parse_backend_options(m.get("backend-options", {}), mw)),
            quantize=parse_quantize_key(m["quantize"], f"{mw}: quantize") if "quantize" in m else list(cfg.quantize),
            shard_size=parse_shard_size(m["shard-size"], f"{mw}: shard-size") if "shard-size" in m else cfg.shard_size,
            deflate=_bool(m["deflate"], f"{mw}: deflate") if "deflate" in m else cfg.deflate,
        ))
    return cfg

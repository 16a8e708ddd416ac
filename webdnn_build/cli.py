"""The ``webdnn-build`` command line: build, inspect, plugins, verify."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from . import __version__
from .compiler import (BuildOptions, backend_option_specs, compile_model, describe_graph, import_model, run_passes,
                       stderr_log, unsupported_nodes)
from .compress import parse_quantize
from .config import ModelConfig, find_config, load_config, merge_backend_options, parse_shard_size
from .errors import ConfigError, WebDNNError
from .plugins import get_host
from .registry import PassContext
from .symdim import DimSpec, parse_shape
from .verify import REFERENCE_LEVELS


def parse_input_shape(specs: Sequence[str]) -> dict[str, tuple[DimSpec, ...]]:
    """``NAME=D1,D2,...``: each dim a positive size, or left open (``?``, ``LO..HI``, ``dimname:?``,
    ``dimname:LO..HI``; webdnn_build.symdim)."""
    shapes = {}
    for spec in specs:
        name, sep, dims = spec.rpartition("=")
        if not sep or not name or not dims:
            raise ConfigError(f"--input-shape '{spec}': expected NAME=D1,D2,... (sizes, or ? / LO..HI for dims "
                              "left open)")
        shapes[name] = parse_shape(dims.split(","), f"--input-shape '{spec}'")
    return shapes


def parse_dim_sizes(specs: Sequence[str]) -> dict[str, int]:
    """``--dim seq=128`` -> {"seq": 128}"""
    sizes = {}
    for spec in specs:
        name, sep, size = spec.partition("=")
        if not sep or not name or not size.isdigit() or int(size) <= 0:
            raise ConfigError(f"--dim '{spec}': expected NAME=N with a positive size")
        sizes[name] = int(size)
    return sizes


def parse_backend_options(specs: Sequence[str]) -> dict[str, dict[str, str]]:
    """``wasm.threads=false`` -> {"wasm": {"threads": "false"}}"""
    result: dict[str, dict[str, str]] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        backend, dot, name = key.partition(".")
        if not sep or not dot or not backend or not name:
            raise ConfigError(f"--backend-option '{spec}': expected BACKEND.KEY=VALUE (e.g. wasm.threads=false)")
        result.setdefault(backend, {})[name] = value
    return result


def _backends_arg(value: Optional[str]) -> Optional[list[str]]:
    if value is None:
        return None
    backends = [b.strip() for b in value.split(",") if b.strip()]
    if not backends:
        raise ConfigError("--backends is empty; name at least one backend (e.g. --backends wasm,js)")
    return backends


def _passes_arg(args: argparse.Namespace) -> Optional[list[str]]:
    """--passes a,b (``''`` for none) or --no-passes; None when neither is given (the default pipeline)."""
    if args.no_passes:
        return []
    if args.passes is None:
        return None
    return [p.strip() for p in args.passes.split(",") if p.strip()]


def build_key(model: ModelConfig) -> str:
    """What decides whether a bundle is up to date: model bytes, options, compiler and plugin versions."""
    h = hashlib.sha256()
    h.update(model.path.read_bytes())
    h.update(json.dumps({
        "backends": model.backends, "passes": model.passes,
        "shapes": {k: [d if isinstance(d, int) else str(d) for d in v] for k, v in sorted(model.input_shapes.items())},
        "backendOptions": {b: dict(sorted(t.items())) for b, t in sorted(model.backend_options.items()) if t},
        **({"quantize": model.quantize} if model.quantize else {}),
        **({"shardSize": model.shard_size} if model.shard_size is not None else {}),
        **({"deflate": model.deflate} if model.deflate is not None else {}),
        "compiler": __version__,
        "plugins": sorted((i.distribution, i.version) for i in get_host().infos.values()),
    }, sort_keys=True).encode())
    return h.hexdigest()


def _up_to_date(model: ModelConfig, key: str) -> bool:
    manifest = model.out / "manifest.json"
    try:
        return json.loads(manifest.read_text()).get("buildKey") == key
    except (OSError, ValueError):
        return False


def _weight_file_args(args: argparse.Namespace) -> dict[str, Any]:
    """BuildOptions fields of ``--shard-size`` and ``--deflate`` / ``--no-deflate`` (absent: the defaults)."""
    out: dict[str, Any] = {"deflate": args.deflate}
    if args.shard_size is not None:
        out["shard_size"] = parse_shard_size(args.shard_size, "--shard-size")
    return out


def cmd_build(args: argparse.Namespace) -> int:
    log = (lambda m: None) if args.quiet else stderr_log
    shapes = parse_input_shape(args.input_shape or [])
    backend_options = parse_backend_options(args.backend_option or [])
    passes = _passes_arg(args)
    backends = _backends_arg(args.backends)
    if args.model:
        model = Path(args.model)
        out = Path(args.output) if args.output else Path.cwd() / model.stem
        opts = BuildOptions(backends=backends, input_shapes=shapes, passes=passes, backend_options=backend_options,
                            quantize=parse_quantize(args.quantize or []),
                            sample_inputs=load_npy_inputs(args.sample_input or [], "--sample-input"),
                            max_accuracy_loss=args.max_accuracy_loss, bias_correction=args.bias_correction,
                            **_weight_file_args(args))
        result = compile_model(model, out, opts, log)
        if args.json:
            entry = {"model": str(model), "out": str(result.out_dir), "status": "built", "backends": result.backends,
                     "skippedBackends": result.skipped_backends, "seconds": round(result.seconds, 3)}
            if "compression" in result.manifest:
                entry["compression"] = result.manifest["compression"]
            print(json.dumps({"results": [entry]}))
        return 0
    if args.sample_input or args.max_accuracy_loss is not None:
        raise ConfigError("--sample-input and --max-accuracy-loss take a model (not the config's models, yet)")

    cfg_path = Path(args.config) if args.config else find_config(Path.cwd())
    if cfg_path is None:
        raise ConfigError("no model given and no config found (webdnn.toml, or [tool.webdnn-build] in pyproject.toml)")
    cfg = load_config(cfg_path)
    if not cfg.models:
        raise ConfigError(f"{cfg_path}: lists no models")
    results: list[dict[str, Any]] = []
    failed = 0
    if args.output:
        raise ConfigError("-o/--output needs a model; in config mode each model's out (or out-dir) decides")
    for model in cfg.models:
        if backends is not None:
            model.backends = backends
        if passes is not None:
            model.passes = passes
        model.input_shapes.update(shapes)
        model.backend_options = merge_backend_options(model.backend_options, backend_options)
        model.quantize = model.quantize + list(args.quantize or [])  # (the command line's, later: they win)
        if args.shard_size is not None:
            model.shard_size = parse_shard_size(args.shard_size, "--shard-size")
        if args.deflate is not None:
            model.deflate = args.deflate
        entry: dict[str, Any] = {"model": str(model.path), "out": str(model.out)}
        try:
            if not model.path.is_file():
                raise WebDNNError(f"{model.path}: model file not found (listed in {cfg_path})")
            key = build_key(model)
            if not args.force and _up_to_date(model, key):
                entry["status"] = "up-to-date"
                log(f"{model.path.name}: up to date, skipped")
            else:
                opts = BuildOptions(backends=model.backends, input_shapes=model.input_shapes, passes=model.passes,
                                    backend_options=model.backend_options, quantize=parse_quantize(model.quantize),
                                    **({"shard_size": model.shard_size} if model.shard_size is not None else {}),
                                    deflate=model.deflate, bias_correction=args.bias_correction)
                result = compile_model(model.path, model.out, opts, log, extra_manifest={"buildKey": key})
                entry.update(status="built", backends=result.backends, skippedBackends=result.skipped_backends,
                             seconds=round(result.seconds, 3))
        except WebDNNError as exc:
            failed += 1
            entry.update(status="failed", error=str(exc))
            print(f"webdnn-build: error: {exc}", file=sys.stderr)
        results.append(entry)
    if args.json:
        print(json.dumps({"results": results, "failed": failed}, indent=1))
    else:
        counts = {s: sum(r["status"] == s for r in results) for s in ("built", "up-to-date", "failed")}
        print(f"{counts['built']} built, {counts['up-to-date']} up to date, {counts['failed']} failed")
    return 1 if failed else 0


def cmd_inspect(args: argparse.Namespace) -> int:
    log = stderr_log if args.verbose else (lambda m: None)
    opts = BuildOptions(input_shapes=parse_input_shape(args.input_shape or []))
    model = Path(args.model)
    dynamic: list[str] = []
    try:
        graph = import_model(model, opts, log)
    except WebDNNError as exc:
        if "dynamic input dims" not in str(exc):
            raise
        dynamic = [str(exc)]
        print(f"dynamic dims: {exc}")
        return 0 if not args.json else (print(json.dumps({"dynamic": dynamic})) or 0)
    host = get_host()
    run_passes(graph, host.registry, None, PassContext(log=log), log)
    op_counts: dict[str, int] = {}
    for n in graph.nodes:
        key = f"{n.domain}.{n.op_type}" if n.domain else n.op_type
        op_counts[key] = op_counts.get(key, 0) + 1
    support = {name: sorted({n.split("(")[-1].rstrip(")") for n in unsupported_nodes(graph, b)})
               for name, b in host.registry.backends.items()}
    if args.json:
        print(json.dumps({
            "inputs": [{"name": i, "dtype": graph.values[i].dtype, "shape": graph.values[i].shape} for i in graph.inputs],
            "outputs": [{"name": o, "dtype": graph.values[o].dtype, "shape": graph.values[o].shape} for o in graph.outputs],
            "ops": op_counts, "unsupportedOps": support, "constants": len(graph.constants()),
            "weightBytes": int(sum(v.const.nbytes for v in graph.constants())),
        }, default=list, indent=1))
        return 0
    print(describe_graph(graph))
    print(f"  constants: {len(graph.constants())} ({sum(v.const.nbytes for v in graph.constants()) / 1e6:.2f} MB)")
    print("  ops after optimization: " + ", ".join(f"{k}×{v}" for k, v in sorted(op_counts.items())))
    for name, missing in support.items():
        print(f"  backend {name}: " + ("supports every op" if not missing else f"lacks {', '.join(missing)}"))
    return 0


def _op_name(domain: str, op: str) -> str:
    return f"{domain}.{op}" if domain not in ("", "ai.onnx") else op


def plugin_rows(host: Any) -> list[dict[str, Any]]:
    """What ``plugins --json`` prints: per plugin its distribution, what it registers, the hooks it implements
    (pluggy's implementations) and the ops it adds per backend where the registry knows them."""
    rows = [{"name": i.name, "distribution": i.distribution, "version": i.version, "module": i.module,
             "registers": i.registers} for i in host.infos.values()]
    for r in rows:
        plugin = host.pm.get_plugin(r["name"])
        r["hooks"] = sorted(c.name for c in (host.pm.get_hookcallers(plugin) or [])) if plugin is not None else []
        backends = [b for b in host.registry.backends.values() if b.plugin == r["name"]]
        if backends:
            r["backendOptions"] = {b.name: [{"name": o.name, "type": o.type, "default": o.default,
                                             "description": o.description, **({"choices": list(o.choices)} if o.choices else {})}
                                            for o in backend_option_specs(b).values()] for b in backends}
        ops: dict[str, set[str]] = {}
        for b in backends:  # a backend's own ops (less those other plugins declared on it)
            declared = set().union(*(i.backend_ops.get(b.name, set()) for i in host.infos.values()))
            ops.setdefault(b.name, set()).update(_op_name(d, o) for d, o in set(b.supported_ops()) - declared)
        for k in host.registry.kernels:  # native kernels it adds to a backend
            if k.plugin == r["name"]:
                ops.setdefault(k.backend, set()).update(_op_name(d, o) for d, o in k.ops)
        for backend, pairs in host.infos[r["name"]].backend_ops.items():  # custom ops on another plugin's backend
            ops.setdefault(backend, set()).update(_op_name(d, o) for d, o in pairs)
        if ops:
            r["ops"] = {b: sorted(v) for b, v in sorted(ops.items())}
    return rows


def cmd_plugins(args: argparse.Namespace) -> int:
    host = get_host()
    rows = plugin_rows(host)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print("no plugins installed")
    own = {b.name for b in host.registry.backends.values()}
    for r in rows:
        print(f"{r['name']:<12} {r['distribution']} {r['version']}  ({r['module']})")
        for what in r["registers"]:
            print(f"    {what}")
        if r["hooks"]:
            print(f"    hooks: {', '.join(r['hooks'])}")
        for backend, ops in r.get("ops", {}).items():
            if backend in r.get("backendOptions", {}) or (backend in own and len(ops) > 12):
                print(f"    ops on {backend}: {len(ops)}")  # a backend's whole op list: `plugins --json`
            else:
                print(f"    ops on {backend}: {', '.join(ops)}")
        for backend, opts in r.get("backendOptions", {}).items():
            for o in opts:
                kind = "|".join(o["choices"]) if o.get("choices") else o["type"]
                print(f"      option {backend}.{o['name']} ({kind}, default {o['default']}): {o['description']}")
    return 0


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from .scaffold import new_plugin

    out = new_plugin(args.name, Path(args.output) if args.output else None)
    print(f"wrote a plugin skeleton to {out}:")
    for f in sorted(p for p in out.rglob("*") if p.is_file()):
        print(f"  {f.relative_to(out)}")
    print(f"next: pip install -e '{out}[test]' && pytest {out}")
    return 0


def load_npy_inputs(specs: Sequence[str], flag: str) -> dict[str, np.ndarray]:
    """``NAME=file.npy`` arguments (``--input``, ``--sample-input``) as arrays by input name."""
    inputs = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep:
            raise ConfigError(f"{flag} '{spec}': expected NAME=file.npy")
        try:
            inputs[name] = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{flag} {name}: cannot read {file}: {exc}") from exc
    return inputs


def cmd_verify(args: argparse.Namespace) -> int:
    from .verify import verify_model

    inputs = load_npy_inputs(args.input or [], "--input")
    opts = BuildOptions(input_shapes=parse_input_shape(args.input_shape or []),
                        backend_options=parse_backend_options(args.backend_option or []))
    if args.per_node or args.per_node_all:
        return _verify_per_node(args, opts, inputs)
    reports = verify_model(Path(args.model), args.backend, opts, inputs, rtol=args.rtol, atol=args.atol, seed=args.seed,
                           threads=args.threads, reference_level=args.reference_optimization,
                           dims=parse_dim_sizes(args.dim or []))
    ok = all(r.ok for r in reports)
    if args.json:
        print(json.dumps({"ok": ok, "backend": args.backend, "outputs": [r.__dict__ for r in reports]}, default=list))
    else:
        for r in reports:
            print(f"{'ok  ' if r.ok else 'FAIL'} {r.name} {list(r.shape)}: max abs err {r.max_abs:.3g} "
                  f"(output scale {r.scale:.3g}), max rel err {r.max_rel:.3g}")
        print(f"verify on {args.backend}: {'passed' if ok else 'FAILED'} (tolerance: atol {args.atol} + rtol {args.rtol} × max|ref|)")
    return 0 if ok else 1


def _verify_per_node(args: argparse.Namespace, opts: BuildOptions, inputs: dict[str, np.ndarray]) -> int:
    from .escape import comment_text
    from .verify import verify_per_node

    report = verify_per_node(Path(args.model), args.backend, opts, inputs, rtol=args.rtol, atol=args.atol,
                             seed=args.seed, threads=args.threads, expose="all" if args.per_node_all else "kept",
                             reference_level=args.reference_optimization)
    if args.json:
        print(json.dumps({"backend": args.backend, **report.to_json()}))
        return 0 if report.ok else 1
    show = lambda text, limit=48: comment_text(text, limit)  # noqa: E731 — model names are untrusted
    print(f"per-node on {args.backend}: {report.nodes_checked} node(s) checked, {len(report.compared)} value(s) "
          f"compared; not compared: {len(report.not_compared)} that the bundle does not keep (fused away), "
          f"{len(report.unexposed)} of a type shape inference cannot tell")
    culprit = report.culprit
    if culprit is None:
        print("no node diverges")
    else:
        why = ("its inputs all match: this node is the culprit" if culprit.inputs_match else
               "some of its inputs were not compared: the culprit is this node or the (fused) op before it")
        print(f"first divergent node: #{culprit.index} {show(culprit.op_type)} '{show(culprit.name)}' ({why})")
        print(f"{report.divergent_count} divergent node(s); the first {len(report.divergent)}:")
        print(f"  {'#':>5} {'op':<18} {'name':<32} {'output shape':<18} {'max abs':>9} {'scale':>9}  inputs")
        for n in report.divergent:
            worst = max(n.outputs, key=lambda o: (not o.ok, o.max_abs))
            diverged = [show(k, 24) for k, v in n.inputs.items() if v == "diverged"]
            unknown = [show(k, 24) for k, v in n.inputs.items() if v == "not compared"]
            state = ("match" if n.inputs_match else
                     "; ".join(x for x in (f"diverged: {', '.join(diverged)}" if diverged else "",
                                           f"not compared: {', '.join(unknown)}" if unknown else "") if x))
            shape = "x".join(str(d) for d in worst.shape) or "scalar"
            print(f"  {n.index:>5} {show(n.op_type, 18):<18} {show(n.name, 32):<32} {shape:<18} "
                  f"{worst.max_abs:>9.3g} {worst.scale:>9.3g}  {state}")
    for r in report.outputs:
        print(f"{'ok  ' if r.ok else 'FAIL'} output {show(r.name)} {list(r.shape)}: max abs err {r.max_abs:.3g} "
              f"(output scale {r.scale:.3g})")
    print(f"verify --per-node on {args.backend}: {'passed' if report.ok else 'FAILED'} "
          f"(tolerance: atol {args.atol} + rtol {args.rtol} × max|ref|)")
    return 0 if report.ok else 1


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="webdnn-build", description="Compile models into inference bundles for browsers and Node.")
    p.add_argument("--version", action="version", version=f"webdnn-build {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build a model (or every model in the config) into a bundle")
    b.add_argument("model", nargs="?", help="model file; omit to build every model listed in the config")
    b.add_argument("-o", "--output", help="bundle folder (default: ./<model name>)")
    b.add_argument("--backends", help="comma-separated backends (default: every installed one)")
    b.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,...",
                   help="fix an input's shape (repeatable); a dim given as ?, LO..HI, NAME:? or NAME:LO..HI stays open: "
                        "sized by the feeds at run time (js backend)")
    b.add_argument("--backend-option", action="append", metavar="BACKEND.KEY=VALUE",
                   help="a backend's option, e.g. wasm.threads=false (repeatable; `webdnn-build plugins` lists them)")
    pa = b.add_mutually_exclusive_group()
    pa.add_argument("--passes", metavar="ID,ID,...",
                    help="comma-separated pass ids to run instead of the default pipeline ('' for none)")
    pa.add_argument("--no-passes", action="store_true", help="run no optimization passes")
    b.add_argument("--quantize", action="append", metavar="MODE|PATTERN=MODE",
                   help="store float32 weights compressed: fp16, int8, int4 or int4:B (MatMul/Gemm weights in blocks of 32 or B, "
                        "a power of two from 16 to 1024; int8 elsewhere), eightbit (a byte per element on a non-linear "
                        "table, WebDNN's) or none; PATTERN=MODE (fnmatch on constant names, "
                        "repeatable, later wins) overrides the default for some (docs/compression.md)")
    b.add_argument("--no-bias-correction", dest="bias_correction", action="store_false",
                   help="with --quantize int8: keep int8 Conv/Gemm biases as they are (by default each is corrected "
                        "for the rounding's mean shift, measured on the sample inputs)")
    b.add_argument("--sample-input", action="append", metavar="NAME=file.npy",
                   help="with --quantize: an input for the accuracy report (default: random data)")
    b.add_argument("--max-accuracy-loss", type=float, metavar="F",
                   help="with --quantize: fail the build when 1 - cosine or 1 - top-1 agreement of an output against "
                        "float32 exceeds F")
    b.add_argument("--shard-size", metavar="SIZE",
                   help="bytes per weight shard, e.g. 4MiB (the default), 512KiB or 1048576: each shard is fetched, "
                        "verified (SHA-256) and cached on its own (docs/bundle-format.md)")
    b.add_argument("--deflate", action=argparse.BooleanOptionalAction, default=None,
                   help="store weight shards deflated (default: only when some weight uses the eightbit encoding)")
    b.add_argument("--config", help="config file (default: nearest webdnn.toml or pyproject.toml)")
    b.add_argument("--force", action="store_true", help="rebuild even when up to date")
    b.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    b.set_defaults(func=cmd_build)

    i = sub.add_parser("inspect", help="summarise a model: inputs, outputs, ops, backend support")
    i.add_argument("model")
    i.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,...")
    i.add_argument("--json", action="store_true")
    i.add_argument("-v", "--verbose", action="store_true")
    i.set_defaults(func=cmd_inspect)

    pl = sub.add_parser("plugins", help="list installed plugins and what they register")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=cmd_plugins)

    np_ = sub.add_parser("new-plugin", help="write a plugin skeleton (a pip distribution with one pass and its test)")
    np_.add_argument("name", help="the distribution name, e.g. webdnn-myplugin (its package: webdnn_myplugin)")
    np_.add_argument("-o", "--output", metavar="DIR", help="where to write it (default: ./NAME); must be empty or absent")
    np_.set_defaults(func=cmd_new_plugin)

    v = sub.add_parser("verify", help="build, run in Node and compare with onnxruntime")
    v.add_argument("model")
    v.add_argument("--backend", default="js")
    v.add_argument("--input", action="append", metavar="NAME=file.npy", help="input data (default: random)")
    v.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,...")
    v.add_argument("--dim", action="append", metavar="NAME=N",
                   help="the size of a dim left open by --input-shape, for the random inputs (default: 7 within its "
                        "range, or the size an --input file gives)")
    v.add_argument("--rtol", type=float, default=1e-4)
    v.add_argument("--atol", type=float, default=1e-5)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--threads", type=int, help="threads for backends that use them (wasm); default: the runtime's choice")
    v.add_argument("--backend-option", action="append", metavar="BACKEND.KEY=VALUE",
                   help="an option of the backend verified, e.g. wasm.thread_min_work=0 (repeatable)")
    v.add_argument("--reference-optimization", choices=REFERENCE_LEVELS, default="all",
                   help="onnxruntime's graph optimization level for the reference (default all, as users run it; "
                        "basic keeps a quantized graph's own arithmetic)")
    v.add_argument("--per-node", action="store_true",
                   help="compare the intermediate values too and name the first node that diverges")
    v.add_argument("--per-node-all", action="store_true",
                   help="with --per-node: expose every intermediate, also those fused away (which turns fusions off)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_verify)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except WebDNNError as exc:
        print(f"webdnn-build: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 — last resort: a bug of ours, reported without a traceback
        # (tools/fuzz.py counts any such exception as a crash: this only keeps the CLI's output readable)
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"webdnn-build: internal error: {type(exc).__name__}: {exc} (at {os.path.basename(frame.filename)}:"
              f"{frame.lineno}); please report it with the model. Set WEBDNN_BUILD_DEBUG=1 for the traceback.",
              file=sys.stderr)
        if os.environ.get("WEBDNN_BUILD_DEBUG"):
            traceback.print_exc()
        return 3


if __name__ == "__main__":
    sys.exit(main())

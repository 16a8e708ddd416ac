"""The pipeline: import → shape inference → passes → per-backend codegen → bundle writer."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from . import __version__
from .errors import ConfigError, ImportError_, UnsupportedOpsError, WebDNNError
from .codegen import json_shape
from .escape import bundle_json
from .ir import Graph, format_shape
from .limits import check_graph
from .memory import plan_memory
from .opdecl import fill_defaults
from .plugins import get_host
from .registry import CodegenContext, ImportOptions, PassContext, Registry
from .symdim import DimSpec
from .bias_correction import correct_biases
from .compress import QuantizeSpec, accuracy, accuracy_loss, compress_graph
from .compress import summary as compression_summary
from .dim_values import fold_dim_arithmetic
from .symshape import as_expr, infer_symbolic_shapes, to_json
from .weights import DEFAULT_SHARD_SIZE, WeightPacker

FORMAT_VERSION = 3
Log = Callable[[str], None]


def stderr_log(msg: str) -> None:
    print(f"webdnn-build: {msg}", file=sys.stderr, flush=True)


@dataclass
class BuildOptions:
    backends: Optional[list[str]] = None
    input_shapes: dict[str, tuple[DimSpec, ...]] = field(default_factory=dict)
    #: explicit pass ids; None = the default pipeline
    passes: Optional[list[str]] = None
    #: per-backend options: backend name -> {key: value}
    backend_options: dict[str, dict[str, str]] = field(default_factory=dict)
    #: weight compression (``--quantize``; webdnn_build/compress.py): None or a spec with every mode "none": off
    quantize: Optional[QuantizeSpec] = None
    #: with compression: the inputs the accuracy report runs on (else random ones), and the largest accuracy loss
    #: (1 - cosine, 1 - top-1 agreement, over the outputs) the build accepts
    sample_inputs: dict[str, Any] = field(default_factory=dict)
    max_accuracy_loss: Optional[float] = None
    #: bytes per weight shard (``--shard-size``), and whether shards are stored deflated (``--deflate``; None: when
    #: some constant uses the eightbit encoding, whose codes deflate well)
    shard_size: int = DEFAULT_SHARD_SIZE
    deflate: Optional[bool] = None
    #: int8 Conv / Gemm biases corrected for the rounding's mean shift (webdnn_build/bias_correction.py)
    bias_correction: bool = True


@dataclass
class BuildResult:
    out_dir: Path
    backends: list[str]
    skipped_backends: dict[str, str]
    graph: Graph
    manifest: dict[str, Any]
    seconds: float


def pick_importer(path: Path, registry: Registry):
    suffix = path.suffix.lower()
    for imp in registry.importers.values():
        if suffix in imp.extensions:
            return imp
    try:
        head = path.open("rb").read(64)
    except OSError as exc:
        raise ImportError_(f"{path}: cannot read file: {exc.strerror}") from exc
    for imp in registry.importers.values():
        if imp.sniff and imp.sniff(head):
            return imp
    known = ", ".join(f"{i.name} ({' '.join(i.extensions)})" for i in registry.importers.values()) or "none installed"
    raise ImportError_(f"{path}: no importer recognises this file; installed importers: {known}")


def import_model(path: Path, options: BuildOptions, log: Log = stderr_log) -> Graph:
    host = get_host()
    importer = pick_importer(path, host.registry)
    t0 = time.perf_counter()
    graph = importer.load(path, ImportOptions(dict(options.input_shapes)))
    fill_defaults(graph)  # every declared attribute default into node.attrs, once the opsets are known (opdecl)
    check_graph(graph, str(path))  # whatever the importer: no declared shape beyond what a bundle can hold
    log(f"imported {path.name} with '{importer.name}': {len(graph.nodes)} nodes, "
        f"{len(graph.constants())} constants ({time.perf_counter() - t0:.2f}s)")
    host.graph_imported(graph)
    return graph


def select_backends(registry: Registry, wanted: Optional[Sequence[str]]) -> list[Any]:
    if not registry.backends:
        raise ConfigError("no backend plugin is installed (e.g. pip install webdnn-build-js)")
    if wanted is None:
        return list(registry.backends.values())
    if not wanted:
        raise ConfigError(f"the backends list is empty; name at least one (installed: {', '.join(registry.backends)})")
    unknown = [b for b in wanted if b not in registry.backends]
    if unknown:
        raise ConfigError(f"unknown backend(s) {', '.join(unknown)}; installed: {', '.join(registry.backends)}")
    return [registry.backends[b] for b in wanted]


def backend_option_specs(backend: Any) -> dict[str, Any]:
    """name -> BackendOption for the options ``backend`` declares (none when it declares none)."""
    return {o.name: o for o in getattr(backend, "options", ())}


def check_backend_options(backends: Sequence[Any], options: dict[str, dict[str, str]]) -> None:
    """Refuse options for backends not being built, keys a backend does not declare, and bad values."""
    built = {b.name: b for b in backends}
    for name, table in options.items():
        if not table:
            continue
        if name not in built:
            raise ConfigError(f"backend option(s) {', '.join(f'{name}.{k}' for k in table)} given, but backend "
                              f"'{name}' is not being built (backends: {', '.join(built)})")
        specs = backend_option_specs(built[name])
        for key, value in table.items():
            spec = specs.get(key)
            if spec is None:
                valid = ", ".join(sorted(specs)) if specs else "none"
                raise ConfigError(f"backend '{name}' has no option '{key}'; valid keys: {valid}")
            spec.check(value, name)


def run_passes(graph: Graph, registry: Registry, pass_ids: Optional[list[str]], ctx: PassContext, log: Log) -> None:
    ids = registry.default_pipeline() if pass_ids is None else pass_ids
    unknown = [p for p in ids if p not in registry.passes]
    if unknown:
        raise ConfigError(f"unknown pass(es) {', '.join(unknown)}; installed: {', '.join(sorted(registry.passes))}")
    for pid in ids:
        t0 = time.perf_counter()
        before = len(graph.nodes)
        changed = registry.passes[pid].run(graph, ctx)
        if changed:
            fill_defaults(graph)  # the defaults of the nodes the pass made (opdecl)
            log(f"pass {pid}: {before} → {len(graph.nodes)} nodes ({time.perf_counter() - t0:.2f}s)")
    graph.prune_values()


def _runs_natively(backends: list[Any]) -> Optional[Callable[[Any, Graph], bool]]:
    """A node runs natively when every selected backend that can fall back to js kernels runs it on its own."""
    checks = [b.runs_natively for b in backends if hasattr(b, "runs_natively")]
    if not checks:
        return None

    def runs_natively(node: Any, graph: Graph) -> bool:
        try:
            return all(check(node, graph) for check in checks)
        except Exception:  # an emitter that cannot judge a node (unknown shape): not native
            return False
    return runs_natively


def unsupported_nodes(graph: Graph, backend: Any) -> list[str]:
    supported = backend.supported_ops()
    # nodes inside subgraphs (If/Loop/Scan bodies) must be runnable too
    return [n.describe() for n in graph.all_nodes() if (n.domain, n.op_type) not in supported]


def io_entries(graph: Graph, names: list[str]) -> list[dict[str, Any]]:
    """Graph inputs/outputs for the manifest: a dim left open at build time by its name (manifest["dims"])."""
    # a dim the model computes from others (graph.dim_equals: total = past + seq) is written by its name
    named = {as_expr(e): n for n, e in graph.dim_equals.items()}

    def open_dim(d: Any) -> Optional[str]:
        if isinstance(d, str) and d in graph.dims:
            return d
        return named.get(as_expr(d)) if d is not None and not isinstance(d, int) else None

    out = []
    for name in names:
        v = graph.values[name]
        shape = json_shape(v.shape)
        if shape is not None and v.shape is not None:
            shape = [open_dim(d) or j for d, j in zip(v.shape, shape)]
        out.append({"name": name, "shape": shape, "dtype": v.dtype})
    return out


#: backends that build a graph with open dims (docs/dynamic-shapes.md): js runs every op at any size; wasm and
#: webgpu run natively the ops whose kernels take run-time sizes, the others as js steps
OPEN_DIM_BACKENDS = ("js", "wasm", "webgpu")


def compile_model(
    model_path: os.PathLike | str,
    out_dir: os.PathLike | str,
    options: Optional[BuildOptions] = None,
    log: Log = stderr_log,
    extra_manifest: Optional[dict[str, Any]] = None,
) -> BuildResult:
    """Build one model into a bundle folder. Nothing is left at ``out_dir`` on failure."""
    t_start = time.perf_counter()
    options = options or BuildOptions()
    path = Path(model_path)
    out = Path(out_dir)
    host = get_host()
    registry = host.registry
    backends = select_backends(registry, options.backends)
    check_backend_options(backends, options.backend_options)

    for backend in backends:  # plugin kernels (webdnn_register_kernels) for this build's backends
        if hasattr(backend, "use_kernels"):
            backend.use_kernels(registry.kernels_for(backend.name))

    graph = import_model(path, options, log)
    supported = set.intersection(*(b.supported_ops() for b in backends))
    run_passes(graph, registry, options.passes,
               PassContext(supported_ops=supported, runs_natively=_runs_natively(backends), log=log), log)

    if graph.dims:  # shapes in terms of the open dims where onnx's inference gave up (shape-vector arithmetic)
        vecs: dict[str, Any] = {}  # (the small int tensors of the shape arithmetic, as exprs)
        filled = infer_symbolic_shapes(graph, vecs)
        log(f"symbolic shapes: {filled} dim(s) in terms of {', '.join(sorted(graph.dims))}")
        fold_dim_arithmetic(graph, vecs, log)  # shape arithmetic: one webdnn.DimValues node per value (dim_values.py)

    usable, skipped = [], {}
    for backend in backends:
        missing = unsupported_nodes(graph, backend)
        if graph.dims and backend.name not in OPEN_DIM_BACKENDS:
            skipped[backend.name] = (f"input dims left open ({', '.join(sorted(graph.dims))}): this backend needs "
                                     "every size at build time (fix them with --input-shape)")
        elif missing:
            skipped[backend.name] = f"cannot run {len(missing)} node(s), first {missing[0]}"
        else:
            usable.append(backend)
    if not usable:
        asked = ", ".join(b.name for b in backends)
        if graph.dims and all(not unsupported_nodes(graph, b) for b in backends):
            raise ConfigError(f"{path}: input dims are left open ({', '.join(sorted(graph.dims))}), and only the "
                              f"{' and '.join(OPEN_DIM_BACKENDS)} backends run such a graph so far (asked: {asked}); "
                              "add one, or fix every dim with --input-shape")
        details = []
        for backend in backends:
            missing = sorted({n.split('(')[-1].rstrip(')') for n in unsupported_nodes(graph, backend)})
            first = unsupported_nodes(graph, backend)[0]
            details.append(f"backend '{backend.name}' lacks op(s) {', '.join(missing)} (first at {first})")
        raise UnsupportedOpsError(f"{path}: no backend can run this model (asked: {asked}): " + "; ".join(details))
    for name, why in skipped.items():
        log(f"backend {name} skipped: {why}")

    # weight compression: the graph's constants become their round trip, the packer stores the compressed form
    originals = {v.name: v.const for v in graph.constants() if v.dtype == "float32"} if options.quantize else {}
    compressed = compress_graph(graph, options.quantize) if options.quantize else {}
    if options.bias_correction and any(e.descriptor.get("encoding") == "int8" and e.descriptor.get("axis") is not None
                                       for e in compressed.values()):
        corrected = correct_biases(graph, path, originals, compressed, calibration_feeds(graph, options), log)
        if corrected:
            log(f"bias correction: {corrected} int8 layer(s) (docs/compression.md)")
    del originals
    packer = WeightPacker(compressed)
    for value in graph.constants():
        packer.add(value)

    artifacts = {}
    for backend in usable:
        t0 = time.perf_counter()
        ctx = CodegenContext(weights=packer.descriptors(), plan_memory=plan_memory, log=log, packer=packer,
                             options=dict(options.backend_options.get(backend.name, {})))
        artifacts[backend.name] = backend.generate(graph, ctx)
        log(f"backend {backend.name}: code generated ({time.perf_counter() - t0:.2f}s)")

    deflate = options.deflate if options.deflate is not None else getattr(compressed, "uses_eightbit", False)
    shards = packer.shards(options.shard_size, deflate)  # digested (and deflated) here, streamed to disk below
    manifest: dict[str, Any] = {
        "format": "webdnn-bundle",
        "formatVersion": FORMAT_VERSION,
        "name": path.stem,
        "source": {"file": path.name, "sha256": file_sha256(path)},
        "compiler": {"version": __version__, "plugins": {i.distribution: i.version for i in host.infos.values()}},
        "inputs": io_entries(graph, graph.inputs),
        "outputs": io_entries(graph, graph.outputs),
        "weights": shards.manifest_entry(),
        "backends": {},
    }
    if graph.dims:  # sized by the feeds at run time: the runtime checks them against these ranges
        manifest["dims"] = {name: {"min": lo, "max": hi, **({"equals": to_json(graph.dim_equals[name])}
                                                            if name in graph.dim_equals else {})}
                            for name, (lo, hi) in sorted(graph.dims.items())}
    if skipped:
        manifest["skippedBackends"] = skipped
    if compressed:
        manifest["compression"] = compression_summary(compressed, options.quantize)
        c = manifest["compression"]
        log(f"compressed {sum(c['tensors'].values())} constant(s) ({', '.join(f'{n} {m}' for m, n in c['tensors'].items())}): "
            f"{c['rawBytes'] / 1e6:.2f} MB as float32 -> {c['storedBytes'] / 1e6:.2f} MB")
    if extra_manifest:
        manifest.update(extra_manifest)

    files: dict[str, Any] = shards.files()  # shard digests are in manifest["weights"]
    files.update(js_kernel_files(graph, host.registry, manifest))
    for name, art in artifacts.items():
        for rel, data in art.files.items():
            files[f"{name}/{rel}"] = data
        manifest["backends"][name] = dict(art.manifest, **({"placement": art.placement} if art.placement else {}))
    # SHA-256 of every program file (plans, programs, modules): the runtime refuses a corrupted one
    # before parsing or compiling it (a bit-flipped wasm module can validate and loop forever)
    manifest["integrity"] = {rel: hashlib.sha256(data).hexdigest() for rel, data in sorted(files.items())
                             if isinstance(data, (bytes, bytearray))}
    files["manifest.json"] = bundle_json(manifest, indent=1)
    write_bundle_atomically(out, files)
    if compressed:  # what the compression cost, measured on the bundle just written (into its manifest)
        check_accuracy(path, out, manifest, options, list(artifacts), log)
    seconds = time.perf_counter() - t_start
    log(f"wrote {out} ({sum(len(d) for d in files.values()) / 1e6:.1f} MB, backends: "
        f"{', '.join(artifacts)}) in {seconds:.2f}s")
    return BuildResult(out, list(artifacts), skipped, graph, manifest, seconds)


def js_kernel_files(graph: Graph, registry: Registry, manifest: dict[str, Any]) -> dict[str, bytes]:
    """The plugins' JS kernel modules (registry.add_js_kernel) for the custom ops the graph uses, as bundle files
    ``kernels/<digest>.js`` (named by their content: no name from a model or a plugin reaches a path), listed in
    ``manifest["kernels"]`` with the ops each one registers; the runtime imports them at load (their SHA-256 is in
    ``integrity`` like every program file)."""
    used = {(n.domain, n.op_type) for n in graph.all_nodes()}
    files: dict[str, bytes] = {}
    entries = []
    for module in registry.js_kernels:
        ops = [op for op in module.ops if (module.domain, op) in used]
        if not ops:
            continue
        data = module.path.read_bytes()
        rel = f"kernels/{hashlib.sha256(data).hexdigest()[:16]}.js"
        files[rel] = data
        entries.append({"file": rel, "domain": module.domain, "ops": ops})
    if entries:
        manifest["kernels"] = entries
    return files


def calibration_feeds(graph: Graph, options: BuildOptions) -> list[dict[str, Any]]:
    """Inputs the int8 bias correction averages over: the --sample-input data when it gives every input, else
    seeded random inputs (as the accuracy report makes them)."""
    from .bias_correction import CALIBRATION_RUNS
    from .verify import open_dim_sizes, random_inputs

    inputs = io_entries(graph, graph.inputs)
    if options.sample_inputs and set(options.sample_inputs) >= {i["name"] for i in inputs}:
        return [dict(options.sample_inputs)]
    spec = {"inputs": inputs, "dims": {n: {"min": lo, "max": hi} for n, (lo, hi) in graph.dims.items()}}
    sizes = open_dim_sizes(spec, options.sample_inputs)
    return [{**random_inputs(spec, seed, sizes), **options.sample_inputs} for seed in range(CALIBRATION_RUNS)]


def check_accuracy(model: Path, out: Path, manifest: dict[str, Any], options: BuildOptions, backends: list[str],
                   log: Log) -> None:
    """Run the compressed bundle in Node (js, else wasm) and onnxruntime on the float32 source on the sample inputs;
    write the report into manifest["compression"]["accuracy"]. Over ``max_accuracy_loss``: the bundle is removed and
    the build fails."""
    from .node import NodeWorker
    from .verify import open_dim_sizes, random_inputs, run_onnxruntime

    backend = next((b for b in ("js", "wasm") if b in backends), None)
    if backend is None or model.suffix.lower() != ".onnx":
        log("accuracy of the compressed build not measured: it needs the js or wasm backend and an ONNX source")
        return
    feeds = random_inputs(manifest, 0, open_dim_sizes(manifest, options.sample_inputs))
    feeds.update(options.sample_inputs)
    try:
        with NodeWorker() as worker:
            handle = worker.load(out, [backend], None)["handle"]
            ours, _ = worker.run(handle, feeds, {i["name"]: i["dtype"] for i in manifest["inputs"]})
        reference = run_onnxruntime(model, feeds)
    except Exception as exc:  # noqa: BLE001 - e.g. random token ids beyond a small embedding table
        if options.sample_inputs and set(options.sample_inputs) >= {i["name"] for i in manifest["inputs"]}:
            raise WebDNNError(f"{model}: the accuracy report could not run on the --sample-input data: {exc}") from exc
        why = (f"the model does not run on random inputs ({str(exc).splitlines()[0][:300]}); give every input with "
               "--sample-input")
        if options.max_accuracy_loss is not None:
            shutil.rmtree(out, ignore_errors=True)
            raise WebDNNError(f"{model}: --max-accuracy-loss cannot be checked: {why}; nothing was written") from exc
        log(f"accuracy of the compressed build not measured: {why}")
        manifest["compression"]["accuracy"] = {"backend": backend, "notMeasured": why}
        _rewrite_manifest(out, manifest)
        return
    report = accuracy(dict(ours), reference)
    loss = accuracy_loss(report)
    manifest["compression"]["accuracy"] = {"backend": backend, "samples": "given" if options.sample_inputs else "random",
                                           "outputs": report, "loss": loss}
    for name, entry in report.items():
        log(f"accuracy of '{name}' against float32: cosine {entry['cosine']:.6f}, max abs error {entry['maxAbsError']:.3g}"
            + (f", top-1 agreement {entry['top1Agreement']:.1%}" if "top1Agreement" in entry else ""))
    _rewrite_manifest(out, manifest)
    if options.max_accuracy_loss is not None and loss > options.max_accuracy_loss:
        shutil.rmtree(out, ignore_errors=True)
        raise WebDNNError(f"{model}: the compressed build loses {loss:.4f} of accuracy (1 - cosine or 1 - top-1 "
                          f"agreement), more than --max-accuracy-loss {options.max_accuracy_loss}; nothing was written")


def _rewrite_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Replace the bundle's manifest.json in one step (a crash leaves the old one, never half a new one)."""
    tmp = out / ".manifest.json.tmp"
    tmp.write_bytes(bundle_json(manifest, indent=1))
    os.replace(tmp, out / "manifest.json")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_bundle_atomically(out: Path, files: dict[str, bytes]) -> None:
    """Write into a temporary sibling folder, then swap it into place."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for rel, data in files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if hasattr(data, "write_to"):
                with target.open("wb") as f:
                    data.write_to(f)
            else:
                target.write_bytes(data)
        if out.exists():
            if not (out / "manifest.json").exists() and any(out.iterdir()):
                raise WebDNNError(f"{out}: exists and is not a webdnn bundle; refusing to replace it")
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def describe_graph(graph: Graph) -> str:
    lines = [f"graph {graph.name}: {len(graph.nodes)} nodes, opsets {graph.opsets}"]
    for name in graph.inputs:
        v = graph.values[name]
        lines.append(f"  input  {name}: {v.dtype} {format_shape(v.shape)}")
    for name in graph.outputs:
        v = graph.values[name]
        lines.append(f"  output {name}: {v.dtype} {format_shape(v.shape)}")
    return "\n".join(lines)

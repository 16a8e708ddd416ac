"""Compiling C to wasm with the Zig toolchain from PyPI, with a content-addressed cache.

The kernel library is compiled once per (sources, flags, compiler) into object files; the model's
generated C is compiled and linked against them. The final module is cached by the hash of
everything that went into it, so an unchanged rebuild costs no compiler run at all.
Cache: ``$WEBDNN_BUILD_CACHE`` or ``~/.cache/webdnn-build``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from webdnn_build.errors import WebDNNError

CSRC = Path(__file__).resolve().parent / "csrc"

COMMON_FLAGS = ["--target=wasm32-freestanding", "-msimd128", "-mbulk-memory", "-O3", "-g0", "-ffreestanding",
                "-fno-math-errno", "-Wall", "-Wno-unused-function"]
THREAD_FLAGS = ["-matomics", "-DWDN_THREADS=1"]


class CompilerMissing(WebDNNError):
    pass


def cache_dir() -> Path:
    root = Path(os.environ.get("WEBDNN_BUILD_CACHE") or Path.home() / ".cache" / "webdnn-build")
    path = root / "wasm"
    path.mkdir(parents=True, exist_ok=True)
    return path


@lru_cache(maxsize=1)
def zig_version() -> str:
    try:
        import ziglang  # noqa: F401
    except ImportError as exc:
        raise CompilerMissing(
            "the wasm backend needs the Zig toolchain: pip install ziglang==0.17.1 "
            "(or build without it: --backends js)") from exc
    proc = subprocess.run([sys.executable, "-m", "ziglang", "version"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise CompilerMissing(f"the Zig toolchain (python -m ziglang) does not run: {proc.stderr.strip()[:300]}; "
                              "reinstall it with pip install --force-reinstall ziglang==0.17.1")
    return proc.stdout.strip()


def _zig_cc(args: Sequence[str], what: str) -> None:
    # Zig keeps a copy of every output in its global cache (~/.cache/zig), never pruned: tens of GB after a few
    # thousand test builds. Our own cache (cache_dir) already keys objects and modules by their inputs, so each
    # compile gets a throwaway Zig cache (nothing else is built there for wasm32-freestanding: no time lost).
    with tempfile.TemporaryDirectory(prefix="webdnn-zig-") as zig_cache:
        env = {**os.environ, "ZIG_GLOBAL_CACHE_DIR": zig_cache, "ZIG_LOCAL_CACHE_DIR": zig_cache}
        proc = subprocess.run([sys.executable, "-m", "ziglang", "cc", *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise WebDNNError(f"wasm compile of {what} failed:\n{proc.stderr.strip()[:4000]}")


def library_sources() -> list[Path]:
    """The kernel library: C files and WebAssembly assembly (gemm_kern.s: the GEMM micro-kernels)."""
    return sorted([*CSRC.glob("*.c"), *CSRC.glob("*.s")])


def _hash(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:32]


def _headers_hash() -> str:
    return _hash(*[p.read_bytes() for p in sorted(CSRC.glob("*.h"))])


def library_objects(threads: bool) -> list[Path]:
    """Object files of the kernel library for one variant, compiled on first use and cached."""
    flags = COMMON_FLAGS + (THREAD_FLAGS if threads else [])
    headers = _headers_hash()
    jobs = []
    outs = []
    for src in library_sources():
        key = _hash(src.read_bytes(), headers, " ".join(flags), zig_version())
        obj = cache_dir() / "obj" / f"{src.stem}-{key}.o"
        outs.append(obj)
        if not obj.exists():
            jobs.append((src, obj))

    def build(job: tuple[Path, Path]) -> None:
        src, obj = job
        obj.parent.mkdir(parents=True, exist_ok=True)
        tmp = obj.with_suffix(f".{os.getpid()}.tmp.o")
        _zig_cc([*flags, "-I", str(CSRC), "-c", str(src), "-o", str(tmp)], src.name)
        os.replace(tmp, obj)

    if jobs:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            list(pool.map(build, jobs))
    return outs


def link_flags(threads: bool) -> list[str]:
    """The linker sizes the imported memory itself (initial = what data, bss and stack need);
    the runtime reads that size back from the module (wasm_binary.memory_import_pages)."""
    flags = ["-nostdlib", "-Wl,--no-entry", "-Wl,--import-memory", "-Wl,--export=__stack_pointer",
             "-Wl,--strip-all", "-Wl,-z,stack-size=1048576"]
    if threads:
        flags += ["-Wl,--shared-memory", "-Wl,--max-memory=2147483648"]
    return flags


def build_module(model_c: str, threads: bool) -> tuple[bytes, bool]:
    """Compile the generated C for one variant and link it with the kernel library.

    Returns the module and whether it came from the cache."""
    flags = COMMON_FLAGS + (THREAD_FLAGS if threads else [])
    objs = library_objects(threads)
    lflags = link_flags(threads)
    key = _hash(model_c, *[o.name for o in objs], " ".join(flags + lflags), zig_version())
    cached = cache_dir() / "modules" / f"{key}.wasm"
    if cached.exists():
        return cached.read_bytes(), True
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="webdnn-wasm-") as tmp:
        src = Path(tmp) / "model.c"
        src.write_text(model_c)
        out = Path(tmp) / "model.wasm"
        _zig_cc([*flags, *lflags, "-I", str(CSRC), str(src), *map(str, objs), "-o", str(out)], "the generated model code")
        data = out.read_bytes()
        tmp_cached = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp_cached.write_bytes(data)
        os.replace(tmp_cached, cached)
    return data, False


def clear_cache() -> None:
    shutil.rmtree(cache_dir(), ignore_errors=True)

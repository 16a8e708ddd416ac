"""Build the GEMM/conv kernel test module (single- and multi-threaded) with zig cc.

    python build.py OUT_DIR      -> OUT_DIR/kernels-st.wasm, OUT_DIR/kernels-mt.wasm
Used by test_gemm_conv.py and bench/gemm/bench.mjs.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CSRC = HERE.parents[1] / "webdnn_build_wasm" / "csrc"
SOURCES = [CSRC / "gemm.c", CSRC / "gemm_kern.s", CSRC / "conv2d.c", CSRC / "dw_kern.s", CSRC / "act.c", CSRC / "rt.c",
           HERE / "driver.c"]
MEMORY_BYTES = 512 * 1024 * 1024  # fixed size: the threaded module needs a shared memory with a maximum
MAX_THREADS = 8
BASE = ["--target=wasm32-freestanding", "-msimd128", "-mbulk-memory", "-O3", "-g0", "-ffreestanding",
        "-fno-math-errno", "-nostdlib", "-Wall", "-Wno-unused-function", f"-I{CSRC}",
        "-Wl,--no-entry", "-Wl,--import-memory", "-Wl,--export=__stack_pointer", "-Wl,--export=wdn_run_segment",
        f"-Wl,--initial-memory={MEMORY_BYTES}", f"-Wl,--max-memory={MEMORY_BYTES}"]
MT = ["-matomics", "-DWDN_THREADS=1", f"-DWDN_MAX_THREADS={MAX_THREADS}", "-Wl,--shared-memory"]


def build(out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    res = {}
    for name, extra in (("st", []), ("mt", MT)):
        dst = out / f"kernels-{name}.wasm"
        cmd = [sys.executable, "-m", "ziglang", "cc", *BASE, *extra, *map(str, SOURCES), "-o", str(dst)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"zig cc failed ({name}):\n{proc.stderr[:4000]}")
        res[name] = dst
    return res


if __name__ == "__main__":
    for k, v in build(Path(sys.argv[1])).items():
        print(k, v)

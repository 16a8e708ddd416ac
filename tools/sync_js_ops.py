"""Regenerate plugins/webdnn-build-js/webdnn_build_js/ops.json from the JS runtime's kernel table.

    python tools/sync_js_ops.py           # rewrite ops.json
    python tools/sync_js_ops.py --check   # exit 1 when ops.json is stale (used by the tests)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPS_JSON = ROOT / "plugins/webdnn-build-js/webdnn_build_js/ops.json"
SCRIPT = (
    "const m = await import(process.argv[1]);"
    "const domains = Object.fromEntries(Object.entries(m.builtinDomainKernels).map(([d, t]) => [d, Object.keys(t).sort()]));"
    "console.log(JSON.stringify({ ops: Object.keys(m.builtinKernels).sort(), domains }));"
)


def kernel_ops() -> dict:
    index = (ROOT / "js-runtime/src/backends/js/kernels/index.js").as_uri()
    out = subprocess.run(["node", "--input-type=module", "-e", SCRIPT, index], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> int:
    table = kernel_ops()
    ops = table["ops"] + [f"{d}.{op}" for d, names in table["domains"].items() for op in names]
    text = json.dumps(table, indent=1) + "\n"
    if "--check" in sys.argv:
        if OPS_JSON.read_text() != text:
            print(f"{OPS_JSON} is stale: run python tools/sync_js_ops.py", file=sys.stderr)
            return 1
        return 0
    OPS_JSON.write_text(text)
    print(f"{len(ops)} ops written to {OPS_JSON.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

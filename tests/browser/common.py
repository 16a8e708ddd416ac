"""What the headless Chromium tests share: Node, and whether tests/browser/harness.mjs can run."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import lru_cache
from typing import Optional

from tests.helpers import ROOT

HARNESS = ROOT / "tests" / "browser" / "harness.mjs"


def node() -> Optional[str]:
    return shutil.which("node")


@lru_cache(maxsize=None)
def harness_unavailable() -> Optional[str]:
    """None when headless Chromium and playwright-core are usable, else why not."""
    if not node():
        return "node is not on PATH"
    r = subprocess.run([node(), str(HARNESS), "--check"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    if r.returncode != 0:
        try:
            return json.loads(r.stdout.strip().splitlines()[-1])["reason"]
        except Exception:  # noqa: BLE001 - any failure of the check is the reason
            return f"the browser harness does not start: {r.stderr.strip()[-500:]}"
    return None

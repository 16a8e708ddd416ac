"""Check the conformance exclusion list against a JUnit XML of a run with exclusions disabled.

    WEBDNN_CONFORMANCE_NO_EXCLUSIONS=1 pytest tests/conformance/test_js.py -k _cpu --junitxml=run.xml
    python tools/check_exclusions.py js run.xml

Reports failing cases no exclusion covers, and exclusions that cover passing cases.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conformance.exclusions import exclusions_for  # noqa: E402


def main() -> int:
    backend, xml_path = sys.argv[1], sys.argv[2]
    patterns = exclusions_for(backend)
    uncovered, overreach = [], []
    for tc in ET.parse(xml_path).iter("testcase"):
        name = tc.get("name", "")
        if not name.endswith("_cpu"):
            continue
        failed = tc.find("failure") is not None or tc.find("error") is not None
        hit = [p for p in patterns if re.search(p, name)]
        if failed and not hit:
            uncovered.append(name)
        if not failed and tc.find("skipped") is None and hit:
            overreach.append((name, hit[0]))
    for name in uncovered:
        print(f"failing, not excluded: {name}")
    for name, pattern in overreach:
        print(f"passing, but excluded by {pattern!r}: {name}")
    print(f"{len(uncovered)} uncovered failures, {len(overreach)} passing cases excluded")
    return 1 if uncovered or overreach else 0


if __name__ == "__main__":
    sys.exit(main())

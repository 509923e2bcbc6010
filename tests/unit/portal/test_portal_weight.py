"""The internet-facing portal loads no homomorphic-encryption library (issue 12 review): it
parses an auditor's attestation with the SDK's light reader, never dataward.client.compute."""

from __future__ import annotations

import subprocess
import sys


def test_the_portal_imports_neither_phe_nor_tenseal() -> None:
    probe = (
        "import sys, portal, portal._app\n"
        "heavy = sorted(m for m in ('phe', 'tenseal', 'gmpy2') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""

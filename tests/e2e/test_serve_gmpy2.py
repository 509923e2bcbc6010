"""`dataward serve` refuses to start when phe would run without gmpy2 (issue 12): exit 69 and
a message saying how to install it, before the zone is opened."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.zone_source import MASTER_KEY

# gmpy2 made unimportable in the child: phe then falls back to Python integers, as on a
# machine without the GMP library.
_WITHOUT_GMPY2 = (
    "import sys; sys.modules['gmpy2'] = None\nfrom launcher.cli import main\nmain(sys.argv[1:])\n"
)


def test_serve_without_gmpy2_exits_69_saying_how_to_install_it(tmp_path: Path) -> None:
    env = {"LC_ALL": "C.UTF-8", "DATAWARD_MASTER_KEY": MASTER_KEY.decode()}
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_GMPY2, "serve", "--zone", str(tmp_path / "zone")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 69, result.stderr
    assert "without gmpy2" in result.stderr
    assert "pip install gmpy2" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "zone").exists()  # refused before anything was opened

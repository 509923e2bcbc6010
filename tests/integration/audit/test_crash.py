"""kill -9 during a burst of appends: every append that returned survives, the log verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from enclave.audit import AuditLog, AuditReader, verify_log
from launcher.settings import AuditSettings

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ROOT = Path(__file__).resolve().parents[3]


def test_kill_9_mid_burst_loses_no_returned_append(tmp_path: Path) -> None:
    db = tmp_path / "state" / "audit.db"
    returned: list[int] = []
    with subprocess.Popen(
        [sys.executable, "-m", "tests.integration.audit._burst_child", str(db)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            returned.append(int(line))
            if len(returned) >= 300:
                break
        os.kill(child.pid, signal.SIGKILL)
        # Whatever was printed before the kill landed is also an append that returned.
        rest = child.stdout.read()
        child.wait()
    # Only whole lines: a line cut by the kill may be a prefix of another number.
    returned += [int(x) for x in rest.split("\n")[:-1] if x.strip()]
    assert child.returncode == -signal.SIGKILL

    reader = AuditReader.open_read_only(db)
    summary = verify_log(reader, KEY.public_key())
    reader.close()
    assert summary.entries >= len(returned)
    assert max(returned) < summary.entries
    assert len(set(returned)) == len(returned)

    # After restart, the log opens (tree rebuilt, checkpoint matches) and keeps going.
    log = AuditLog.open(db, AuditSettings(), KEY, "crash.test", "crash.test")
    try:
        stored = {e.index for e in log.tail(summary.entries)}
        assert set(returned) <= stored
        log.checkpoint()
        assert log.size == summary.entries
    finally:
        log.close()
    reader = AuditReader.open_read_only(db)
    assert verify_log(reader, KEY.public_key()).entries == summary.entries
    reader.close()

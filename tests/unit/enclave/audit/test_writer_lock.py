"""One writer per log, by construction (issue 8, fault 1): `AuditLog.open` takes an exclusive
lock on the log's state for as long as the log is open."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from enclave.audit import AuditLog, AuditLogBusy, read_holder
from launcher.settings import AuditSettings
from tests.unit.enclave.audit.conftest import KEY, KEY_NAME, ORIGIN, request


def _open(path: Path) -> AuditLog:
    return AuditLog.open(path, AuditSettings(), KEY, ORIGIN, KEY_NAME)


def test_a_second_writer_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    path = tmp_path / "state" / "audit.db"
    first = _open(path)
    first.describe_writer(role="server", grpc="127.0.0.1:5999")
    with pytest.raises(AuditLogBusy) as refused:
        _open(path)
    assert refused.value.holder["grpc"] == "127.0.0.1:5999"
    assert "127.0.0.1:5999" in str(refused.value) and "dataward serve" in str(refused.value)
    first.append(request(1))
    first.close()
    second = _open(path)  # the lock went with the close
    assert second.size == 1
    assert read_holder(path)["role"] == "writer"
    second.close()


def test_another_process_is_refused_and_a_killed_writer_leaves_no_lock(tmp_path: Path) -> None:
    path = tmp_path / "state" / "audit.db"
    holder = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from enclave.audit import AuditLog
        from launcher.settings import AuditSettings
        from tests.unit.enclave.audit.conftest import KEY, KEY_NAME, ORIGIN
        log = AuditLog.open(Path({str(path)!r}), AuditSettings(), KEY, ORIGIN, KEY_NAME)
        print("open", flush=True)
        time.sleep(120)
        """
    )
    root = Path(__file__).resolve().parents[4]
    child = subprocess.Popen(
        [sys.executable, "-c", holder], cwd=root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "open"
        with pytest.raises(AuditLogBusy) as refused:
            _open(path)
        assert refused.value.holder["pid"] == child.pid
    finally:
        child.kill()  # kill -9: the kernel drops the flock with the process
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    log = _open(path)
    log.close()


def test_deleting_or_linking_the_holder_file_does_not_free_the_lock(tmp_path: Path) -> None:
    """Issue 8 review: with the lock on a file, `rm audit.db.writer` ("a stale lock") let a
    second writer in and broke every partner call; a link made its truncation clobber the
    target. The lock is on the log's directory; the holder file is only advice."""
    path = tmp_path / "state" / "audit.db"
    first = _open(path)
    holder = path.with_name("audit.db.writer")
    holder.unlink()
    with pytest.raises(AuditLogBusy):
        _open(path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    holder.symlink_to(victim)
    first.describe_writer(role="server", grpc="127.0.0.1:1")
    assert victim.read_text() == "precious"  # the link was replaced, not followed
    assert not holder.is_symlink() and read_holder(path)["grpc"] == "127.0.0.1:1"
    holder.unlink()
    holder.symlink_to(victim)
    assert read_holder(path) == {}  # a link is never read either
    first.close()
    assert victim.read_text() == "precious"

"""Periodic portal-log checkpoints from a real server, and the read-only auditor's path."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dataward.transparency import LogSummary, open_checkpoint, verify_log_entries
from portal import Portal, PortalConfig, PortalKey, PortalLogExport, read_portal_log, serve
from portal._signer import PeriodicSigner
from portal.errors import LogUnavailableError

PASSWORD = "correct horse battery"
KEY = PortalKey(b"portal-log-checkpoints-test-key")  # the state is reopened: one fixed key


def _verify(export: PortalLogExport) -> LogSummary:
    return verify_log_entries(
        export.entries, export.checkpoints, export.key_name, export.public_key, origin=export.origin
    )


def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _signed_size(state_dir: Path) -> int:
    notes = read_portal_log(state_dir).checkpoints
    if not notes:
        return 0
    export = read_portal_log(state_dir)
    return open_checkpoint(notes[-1], export.key_name, export.public_key).size


def test_the_serving_portal_signs_checkpoints_by_itself(tmp_path: Path) -> None:
    state = tmp_path / "portal"
    config = PortalConfig(state_dir=state, bind="127.0.0.1:0", log_checkpoint_seconds=0.2)
    server = serve(config)
    server.start_in_thread()
    try:
        assert read_portal_log(state).checkpoints == ()  # nothing logged, nothing signed
        server.portal.admin.create_steward("steward", PASSWORD)
        first = len(read_portal_log(state).entries)
        assert first > 0
        _wait_for(lambda: _signed_size(state) == first)
        org = server.portal.admin.create_organization("Demo Bank", "BANK")
        server.portal.admin.create_partner_user(org, "banker", PASSWORD)
        total = len(read_portal_log(state).entries)
        assert total > first
        _wait_for(lambda: _signed_size(state) == total)
        signed = len(read_portal_log(state).checkpoints)
        assert signed >= 2
        time.sleep(0.6)  # three intervals of an idle log: no new checkpoint
        export = read_portal_log(state)
        assert len(export.checkpoints) == signed
    finally:
        server.shutdown()
    summary = _verify(export)
    assert (summary.entries, summary.checkpoints, summary.unsigned_entries) == (total, signed, 0)


def test_shutdown_signs_the_last_leaves(tmp_path: Path) -> None:
    state = tmp_path / "portal"
    config = PortalConfig(state_dir=state, bind="127.0.0.1:0", log_checkpoint_seconds=3600)
    server = serve(config)
    server.start_in_thread()
    server.portal.admin.create_steward("steward", PASSWORD)
    assert read_portal_log(state).checkpoints == ()
    server.shutdown()
    summary = _verify(read_portal_log(state))
    assert summary.checkpoints == 1 and summary.unsigned_entries == 0 and summary.entries > 0


def test_incremental_checkpoints_match_the_full_tree_across_restarts(tmp_path: Path) -> None:
    config = PortalConfig(state_dir=tmp_path / "portal", key=KEY)
    for round_ in range(3):
        portal = Portal.open(config)  # a fresh signer rebuilds its tree from the database
        try:
            org = portal.admin.create_organization(f"Org {round_}", "BANK")
            portal.checkpoint()
            portal.admin.create_partner_user(org, f"user{round_}", PASSWORD)
            portal.checkpoint()
            assert portal.checkpoint() is None  # nothing new: no checkpoint
        finally:
            portal.close()
    summary = _verify(read_portal_log(config.state_dir))
    assert summary.checkpoints == 6 and summary.unsigned_entries == 0


def test_read_portal_log_needs_no_private_key_and_never_writes(tmp_path: Path) -> None:
    config = PortalConfig(state_dir=tmp_path / "portal")
    portal = Portal.open(config)
    portal.admin.create_steward("steward", PASSWORD)
    expected = portal.export_log()
    portal.close()
    private = config.state_dir / "keys" / "portal-log-key.sealed"
    private.rename(tmp_path / "elsewhere.pem")
    db = config.state_dir / "portal.db"
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in config.state_dir.iterdir()}
    time.sleep(0.01)  # an mtime change would show

    export = read_portal_log(config.state_dir)

    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in config.state_dir.iterdir()}
    assert after["portal.db"] == before["portal.db"] and db.exists()
    assert not private.exists()
    assert export == expected
    assert _verify(export).unsigned_entries == 0


def test_read_portal_log_refuses_a_missing_database_or_key(tmp_path: Path) -> None:
    state = tmp_path / "portal"
    with pytest.raises(LogUnavailableError, match="no portal-log public key"):
        read_portal_log(state)
    Portal.open(PortalConfig(state_dir=state)).close()
    (state / "portal.db").rename(tmp_path / "moved.db")
    with pytest.raises(LogUnavailableError, match="no portal database"):
        read_portal_log(state)
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(LogUnavailableError, match="no log tables"):
        read_portal_log(state, f"sqlite:///{tmp_path / 'empty.db'}")
    assert (tmp_path / "empty.db").read_bytes() == b""


def test_the_periodic_signer_refuses_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        PeriodicSigner(lambda: None, 0)

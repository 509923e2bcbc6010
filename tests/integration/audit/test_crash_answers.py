"""kill -9 during a burst of person checks (issue 15: one durable commit per answer): every
answer that returned has its request, allowing decision and release leaves in the log, in one
piece; no request is left half logged (a request without its decision, a decision without
its request, a release without its allowing decision); the log verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from enclave.audit import AuditReader, Decision, Release, RequestReceived, verify_log

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ROOT = Path(__file__).resolve().parents[3]


def test_kill_9_mid_checks_loses_no_released_answer(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    printed: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-m", "tests.integration.audit._checks_child", str(state)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            printed.append(line.strip())
            if len(printed) >= 200:
                break
        os.kill(child.pid, signal.SIGKILL)
        rest = child.stdout.read()
        child.wait()
    printed += [x for x in rest.split("\n")[:-1] if x.strip()]  # whole lines only
    assert child.returncode == -signal.SIGKILL
    answered = {x for x in printed if x != "r"}
    assert answered and "r" in printed

    reader = AuditReader.open_read_only(state / "audit.db")
    try:
        summary = verify_log(reader, KEY.public_key())
        events = reader.tail(summary.entries)
    finally:
        reader.close()
    kinds: dict[str, list[str]] = defaultdict(list)
    indices: dict[str, list[int]] = defaultdict(list)
    for logged in events:
        event = logged.event
        if isinstance(event, RequestReceived | Decision | Release):
            kinds[event.request_id].append(type(event).__name__)
            indices[event.request_id].append(logged.index)
    for request_id in answered:  # every released answer is in the log, whole
        assert kinds[request_id] == ["RequestReceived", "Decision", "Release"]
    for request_id, seen in kinds.items():  # nothing half logged: one commit per answer
        assert seen in (
            ["RequestReceived", "Decision", "Release"],
            ["RequestReceived", "Decision"],
        ), seen
        first = indices[request_id][0]
        assert indices[request_id] == list(range(first, first + len(seen)))

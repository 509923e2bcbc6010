"""Child process for the crash test: appends from several threads, printing each returned index."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from enclave.audit import AuditLog, RequestReceived
from launcher.settings import AuditSettings


def main() -> None:
    db = Path(sys.argv[1])
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    log = AuditLog.open(
        db, AuditSettings(checkpoint_every_entries=50), key, "crash.test", "crash.test"
    )
    out = threading.Lock()

    def worker(t: int) -> None:
        for i in range(1_000_000):
            r = log.append(
                RequestReceived(f"c{t}", "org", "m", "p", None, None, f"{t:08x}{i:024x}")
            )
            with out:
                sys.stdout.write(f"{r.leaf_index}\n")
                sys.stdout.flush()

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()

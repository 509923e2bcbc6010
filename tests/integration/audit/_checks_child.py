"""Child process for the answers crash test: eligibility checks from several threads through
the real release skeleton and audit log, printing each answered request's id (after its
answer returned) and each refused request's id prefixed ``r``."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from enclave.audit import AuditLog, AuditLogTrail
from enclave.consent import SqliteConsentStore
from enclave.persons import Benefit, ConsentRequired, EligibilityQuery, PersonChecks
from enclave.release import Caller
from launcher.settings import AuditSettings
from tests.support.person_fakes import ALICE, DAVE, standard_directory

PURPOSE = "INSURANCE_UNDERWRITING"


def main() -> None:
    state = Path(sys.argv[1])
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    log = AuditLog.open(
        state / "audit.db",
        AuditSettings(checkpoint_every_entries=50),
        key,
        "crash.test",
        "crash.test",
    )
    directory = standard_directory()
    checks = PersonChecks(
        directory=directory,
        tokenizer=directory.tokenizer,
        consents=SqliteConsentStore.open(state / "consent.db"),
        audit=AuditLogTrail(log),
    )
    checks.grant_consent(
        Caller("steward", "zone"), id_number=ALICE, partner="acme-insurance", purpose=PURPOSE
    )
    partner = Caller("app-1", "acme-insurance")
    out = threading.Lock()

    def worker(t: int) -> None:
        for i in range(1_000_000):
            who = DAVE if (t + i) % 3 == 0 else ALICE
            query = EligibilityQuery(who, Benefit.OUTPATIENT, None, PURPOSE)
            try:
                line = checks.check_eligibility(partner, query).request_id
            except ConsentRequired:
                line = "r"
            with out:
                sys.stdout.write(f"{line}\n")
                sys.stdout.flush()

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()

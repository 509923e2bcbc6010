"""The SQLite store of applied policy versions (``ZONE/state/policy.db``, WAL).

One append-only table: each row is an applied version (its content hash, the document's
text, when and by whom, a sequence number); triggers refuse UPDATE and DELETE. The last row
is the policy in force. Policy documents hold names, SQL over zone tables and rules, never
registry data, so their text is stored as is.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import query_engine
from enclave._fsio import open_wal_database
from enclave.dataset import TABLES
from enclave.errors import PolicyInvalid, PolicyStoreCorrupt
from enclave.policy._values import (
    APPLY_POLICY,
    GET_POLICY,
    AppliedVersion,
    InForce,
    PolicyApplied,
    PolicyRead,
    PolicyTrail,
    apply_fields,
    read_fields,
)
from enclave.release import Caller, Releaser, answers
from policies import Policy, PolicyError, load_policy

__all__ = ["POLICY_DB", "PolicyStore", "empty_policy", "template_problem"]

#: Where a zone keeps its applied policies, under the zone directory.
POLICY_DB = Path("state") / "policy.db"
_EMPTY_DOCUMENT = "views: {}\ngrants: []\n"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS applied_policies (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL,
    document TEXT NOT NULL,
    applied_at INTEGER NOT NULL,
    client_id TEXT NOT NULL,
    organization TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS applied_policies_no_update BEFORE UPDATE ON applied_policies
BEGIN SELECT RAISE(ABORT, 'applied policies are append-only'); END;
CREATE TRIGGER IF NOT EXISTS applied_policies_no_delete BEFORE DELETE ON applied_policies
BEGIN SELECT RAISE(ABORT, 'applied policies are append-only'); END;
"""
_COLUMNS = "seq, version, applied_at, client_id, organization"
Clock = Callable[[], dt.datetime]
# "Since when" of the empty policy (applying it to a zone without a policy changes nothing).
_NEVER = dt.datetime.fromtimestamp(0, dt.UTC)


@functools.cache
def _tables() -> frozenset[str]:
    return frozenset(TABLES)


def template_problem(policy: Policy, source_name: str) -> PolicyInvalid | None:
    """The first template of ``policy`` the query engine would refuse whatever its
    parameters (its SQL outside the grammar, the person key exposed, ...), as the error
    ``apply`` and ``dataward policy check`` report; None when every template can run.
    The loader cannot see this: ``policies`` imports nothing of the query engine."""
    for problem in query_engine.template_problems(policy):
        path = f"views.{problem.view}.rule.templates.{problem.template}.sql"
        return PolicyInvalid(source_name, path, f"the query engine refuses it: {problem.rejection}")
    return None


@functools.cache
def empty_policy() -> Policy:
    """The policy in force when none was applied: no views, no grants -- every query is
    refused (fail closed). It has a content hash like any other version."""
    return load_policy(_EMPTY_DOCUMENT, "<no policy applied>", tables=_tables())


def _micros(at: dt.datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def _applied(row: tuple[Any, ...]) -> AppliedVersion:
    seq, version, at, client_id, organization = row
    return AppliedVersion(
        sequence=int(seq),
        version=str(version),
        applied_at=dt.datetime.fromtimestamp(at / 1_000_000, tz=dt.UTC),
        client_id=str(client_id),
        organization=str(organization),
    )


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PolicyStore:
    """The policy in force and its history; implements :class:`enclave.analytics.PolicySource`.

    :meth:`current` is a memory read of a frozen :class:`~policies.Policy`, swapped whole by
    :meth:`apply` (readers see the old or the new version, never a mix). Without an applied
    version the policy in force is EMPTY: no views, no grants, every query refused.

    A store opened with ``trail`` is the zone's one writer (it logs under the zone's audit
    log); :meth:`open_readonly` opens it for reading only, while a server writes it.
    """

    def __init__(
        self, connection: sqlite3.Connection, trail: PolicyTrail | None, clock: Clock
    ) -> None:
        self._db = connection
        self._trail = trail
        self._clock = clock
        self._lock = threading.Lock()
        self._in_force = self._load()

    @classmethod
    def open(
        cls,
        path: Path,
        trail: PolicyTrail,
        *,
        synchronous: str = "FULL",
        clock: Clock = _utc_now,
    ) -> PolicyStore:
        """Open (or create) the store at ``path`` as the writer, logging to ``trail``."""
        db = open_wal_database(path, synchronous=synchronous)
        db.executescript(_SCHEMA)
        return cls(db, trail, clock)

    @classmethod
    def open_readonly(cls, path: Path) -> PolicyStore:
        """Open for reading only (``show``, ``history`` while a server serves the zone); a zone
        without the file has no applied policy. :meth:`apply` is refused."""
        if not path.exists():
            db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            db.executescript(_SCHEMA)
        else:
            db = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro",
                uri=True,
                check_same_thread=False,
                isolation_level=None,
            )
        return cls(db, None, _utc_now)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def current(self) -> Policy:
        """The policy in force now (the EMPTY policy when none was applied)."""
        return self._in_force.policy

    def in_force(self) -> InForce:
        """The policy in force with its document and who applied it when."""
        return self._in_force

    def history(self) -> list[AppliedVersion]:
        """Every applied version, oldest first."""
        with self._lock:
            return self._history()

    def _history(self) -> list[AppliedVersion]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM applied_policies ORDER BY seq"  # noqa: S608
        ).fetchall()
        return [_applied(row) for row in rows]

    @answers
    def read(self, caller: Caller) -> PolicyRead:
        """The policy in force and its history for ``caller``, through the release skeleton
        (request leaf ``StewardService/GetPolicy``, release with a receipt): every request is
        a leaf. Policy documents carry no personal data; the read changes nothing."""
        if self._trail is None:
            raise ValueError("this policy store was opened read-only")
        with self._lock:
            in_force = self._in_force
            releaser = Releaser(self._trail, in_force.version)
            request = releaser.begin(caller, GET_POLICY)
            history = tuple(self._history())
            fields = read_fields(version=in_force.version, applied=len(history))
            receipt = releaser.release(request, fields)
        return PolicyRead(in_force, history, receipt, request.request_id)

    @answers
    def apply(
        self, text: str, caller: Caller, source_name: str = "<policy>", *, client_nonce: str = ""
    ) -> PolicyApplied:
        """Validate ``text`` and put it in force, through the release skeleton.

        Request leaf (``StewardService/ApplyPolicy``); a document with any error is a logged
        denial :class:`~enclave.errors.PolicyInvalid` (its path and problem) and changes
        nothing; otherwise, when its version differs from the one in force, a
        ``policy_changed`` leaf is durable BEFORE the version is stored and swapped in; then
        the release with its receipt. The version already in force changes nothing
        (``changed=False``) and is logged all the same. ``source_name`` names the document
        in errors.
        """
        if self._trail is None:
            raise ValueError("this policy store was opened read-only")
        with self._lock:
            previous = self._in_force
            releaser = Releaser(self._trail, previous.version)
            request = releaser.begin(caller, APPLY_POLICY)
            try:
                policy = load_policy(text, source_name, tables=_tables())
            except PolicyError as exc:
                releaser.refuse(request, PolicyInvalid(exc.file, exc.path, exc.problem))
            problem = template_problem(policy, source_name)
            if problem is not None:  # a template the query engine would refuse whatever it got
                releaser.refuse(request, problem)
            changed = policy.version != previous.version
            if changed:
                releaser.log_now(request)  # the request, then policy_changed, then the swap
                self._trail.policy_changed(
                    request_id=request.request_id,
                    version=policy.version,
                    previous_version=previous.version,
                    client_id=caller.client_id,
                    organization=caller.organization,
                )
                applied = self._insert(policy.version, text, caller)
                self._in_force = InForce(policy, text, applied)
            since = self._in_force.applied
            applied_at = since.applied_at if since is not None else _NEVER
            fields = apply_fields(
                version=policy.version, changed=changed, applied_at=int(applied_at.timestamp())
            )
            receipt = releaser.release(request, fields, client_nonce=client_nonce)
        return PolicyApplied(policy.version, changed, applied_at, receipt, request.request_id)

    def _insert(self, version: str, text: str, caller: Caller) -> AppliedVersion:
        at = self._clock()
        cursor = self._db.execute(
            "INSERT INTO applied_policies (version, document, applied_at, client_id, organization)"
            " VALUES (?, ?, ?, ?, ?)",
            (version, text, _micros(at), caller.client_id, caller.organization),
        )
        seq = cursor.lastrowid
        if seq is None:  # pragma: no cover (sqlite3 always sets it after an INSERT)
            raise PolicyStoreCorrupt("the store did not number the applied version")
        return _applied((seq, version, _micros(at), caller.client_id, caller.organization))

    def _load(self) -> InForce:
        row = self._db.execute(
            f"SELECT {_COLUMNS}, document FROM applied_policies "  # noqa: S608
            "ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return InForce(empty_policy(), "", None)
        applied, document = _applied(row[:5]), str(row[5])
        # Fail closed but stay recoverable: a stored version that no longer loads (a newer
        # zone validates more strictly) or no longer hashes to its recorded version (a changed
        # canonical form, or an altered store) is not put in force; the EMPTY policy is, every
        # query is refused, and applying a valid document recovers (the zone still opens).
        try:
            policy = load_policy(document, f"applied version {applied.sequence}", _tables())
        except PolicyError as exc:
            return InForce(empty_policy(), "", None, unusable=applied, problem=str(exc))
        if policy.version != applied.version:
            problem = "it does not hash to its recorded version (the store was altered)"
            return InForce(empty_policy(), "", None, unusable=applied, problem=problem)
        return InForce(policy, document, applied)

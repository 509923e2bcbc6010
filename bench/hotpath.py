"""The steps of one eligibility check, each timed alone on one thread (issue 15).

    .venv/bin/python -m bench.hotpath [--persons 2000] [--leaves 300001] [--repeat 7]

A small zone (``--persons``, generated and ingested here) and a Merkle tree of ``--leaves``
leaf hashes; then, per step, microseconds per call: the median of ``--repeat`` rounds (and
the fastest round), each round timing the step many times in a loop. The steps are those a
check takes in the zone and its front end: the token's verification (cached), the text
fields' checks, ID-number validation, the tokenizer's HMAC, the person and
enrolment index probes, the rules, the result hash, the three audit events and their leaf
encoding, leaf hashes, tree appends and root, the checkpoint's Ed25519 signature, the
inclusion proof and the answer back to proto. SQLite commits, consent lookups and the gRPC
framework are NOT here (bench.grpc and bench.audit measure them).

Where issue 15 changed a step, the code it replaced is kept below (``_before_*``, checked to
give the same bytes) and timed in the same run beside it: ``before`` and ``after`` columns,
and their ratio. The load average starts every table; a number taken while the load is
above the core count is noisy.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import operator
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench._stats import load_line
from dataward import receipts
from dataward.transparency import (
    Checkpoint,
    MerkleTree,
    key_id,
    leaf_hash,
    node_hash,
    sign_checkpoint,
)
from dataward.v1 import common_pb2, eligibility_pb2
from enclave.audit import (
    REQUEST_ID,
    AuditEvent,
    Decision,
    Release,
    RequestReceived,
    encode_leaf,
)
from enclave.dataset import Zone, ingest
from enclave.keys import init_zone, normalize, open_keyring
from enclave.persons import Benefit, decide_eligibility, field_problem, validate_id_number
from enclave.release import new_request_id

MASTER_KEY = b"bench master key, not a secret"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TIME = dt.datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=dt.UTC)


def _calls_per_round(fn: Callable[[], object], budget: float) -> int:
    n = 1
    while True:
        started = time.perf_counter()
        for _ in range(n):
            fn()
        took = time.perf_counter() - started
        if took >= budget / 4 or n >= 1 << 20:
            return max(1, int(n * budget / max(took, 1e-9)))
        n *= 2


def _rounds(
    fns: list[Callable[[], object]], repeat: int, budget: float = 0.04
) -> list[tuple[float, float]]:
    """Per function, (median, fastest) microseconds per call over ``repeat`` rounds of about
    ``budget`` seconds; the functions' rounds alternate, so a load that comes and goes
    weighs on each alike."""
    counts = [_calls_per_round(fn, budget) for fn in fns]
    timed: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, n, out in zip(fns, counts, timed, strict=True):
            started = time.perf_counter()
            for _ in range(n):
                fn()
            out.append((time.perf_counter() - started) / n * 1e6)
    return [(statistics.median(t), min(t)) for t in timed]


class _Row:
    def __init__(self, name: str, after: tuple[float, float], before: tuple[float, float] | None):
        self.name, self.after, self.before = name, after, before

    def line(self) -> str:
        med, low = self.after
        if self.before is None:
            return f"  {self.name:<44}{'':>11}{med:>9.2f} (min {low:.2f})"
        bmed, blow = self.before
        return (
            f"  {self.name:<44}{bmed:>9.2f}  {med:>9.2f} (min {low:.2f}; before min "
            f"{blow:.2f})  after/before {med / bmed:.2f}x"
        )


def _zone(work: Path, persons: int) -> tuple[Zone, Any, list[str]]:
    import pyarrow.parquet as pq

    from synthetic import generate

    generate(work / "source", persons=persons)
    init_zone(work / "zone", MASTER_KEY)
    keyring = open_keyring(work / "zone", MASTER_KEY)
    ingest(work / "zone", work / "source", keyring, max_reject_share=1.0)
    numbers = pq.read_table(work / "source" / "persons.parquet", columns=["id_number"])
    known = [str(n) for n in numbers.column("id_number").to_pylist()]
    return Zone.open(work / "zone", keyring), keyring, known


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.hotpath")
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--leaves", type=int, default=300_001, help="the audit tree's size")
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds per step")
    args = parser.parse_args()
    rng = random.Random(15)
    rows: list[_Row] = []

    def step(
        name: str,
        after: Callable[[], object],
        before: Callable[[], object] | None = None,
        *,
        alike: Callable[[object, object], bool] = operator.eq,
    ) -> None:
        if before is None:
            rows.append(_Row(name, _rounds([after], args.repeat)[0], None))
            return
        if not alike(before(), after()):  # a saving must not change a byte (or a format)
            raise SystemExit(f"{name}: the new code gives another result than the old")
        timed_before, timed_after = _rounds([before, after], args.repeat)
        rows.append(_Row(name, timed_after, timed_before))

    with tempfile.TemporaryDirectory(prefix="bench-hotpath-") as tmp:
        started = time.perf_counter()
        zone, keyring, known = _zone(Path(tmp), args.persons)
        print(f"zone of {len(known):,} persons in {time.perf_counter() - started:.1f} s")
        number = rng.choice(known)
        token = keyring.token("id_number", number)
        person = zone.person_by_token(token)
        assert person is not None
        enrolments = zone.enrolments(person.person_id)
        as_of = dt.date(2026, 12, 3)

        # -- the front end: proto in ------------------------------------------------------
        request = eligibility_pb2.CheckRequest(
            id_number=number,
            benefit=eligibility_pb2.BENEFIT_OUTPATIENT,
            purpose=common_pb2.PURPOSE_INSURANCE_UNDERWRITING,
            client_nonce="n" * 32,
        )
        step(
            "field_problem (the request's text fields)",
            lambda: field_problem(id_number=number, consent_ref="", client_nonce="n" * 32),
        )

        # -- the zone ----------------------------------------------------------------------
        step(
            "normalize + validate_id_number",
            lambda: validate_id_number(normalize("id_number", number)),
        )
        step(
            "tokenizer HMAC (Keyring.token)",
            lambda: keyring.token("id_number", number),
            lambda: _before_token(keyring._token_key, "id_number", number),
        )
        step("person index probe (person_by_token)", lambda: zone.person_by_token(token))
        step(
            f"enrolment probe ({len(enrolments)} enrolments)",
            lambda: zone.enrolments(person.person_id),
        )
        step(
            "decide_eligibility",
            lambda: decide_eligibility(person.status, enrolments, Benefit.OUTPATIENT, as_of),
        )
        decision = decide_eligibility(person.status, enrolments, Benefit.OUTPATIENT, as_of)
        fields = receipts.eligibility_fields(
            eligible=decision.eligible,
            coverage_class=decision.coverage_class,
            reasons=decision.reasons,
        )
        request_id = new_request_id()
        step(
            "a request id (new_request_id; before: uuid4().hex)",
            new_request_id,
            lambda: uuid.uuid4().hex,
            alike=lambda old, new: all(  # random ids: the same fixed format, not the same id
                isinstance(x, str) and REQUEST_ID.fullmatch(x) for x in (old, new)
            ),
        )
        step(
            "receipts.result_hash",
            lambda: receipts.result_hash(
                receipts.ELIGIBILITY_CHECK, request_id, fields, client_nonce="n" * 32
            ),
            lambda: _before_result_hash(
                receipts.ELIGIBILITY_CHECK, request_id, fields, client_nonce="n" * 32
            ),
        )
        digest = receipts.result_hash(receipts.ELIGIBILITY_CHECK, request_id, fields)

        def events() -> tuple[RequestReceived, Decision, Release]:
            return (
                RequestReceived(
                    client_id="app-1",
                    organization="acme-insurance",
                    method=receipts.ELIGIBILITY_CHECK,
                    purpose="INSURANCE_UNDERWRITING",
                    consent_ref=None,
                    person_token=token.hex(),
                    request_id=request_id,
                ),
                Decision(request_id=request_id, allow=True, reasons=(), policy_version="a" * 64),
                Release(request_id=request_id, result_hash=digest.hex(), epsilon_spent_micro=0),
            )

        step("3 audit events built (validated)", events)
        evs: tuple[AuditEvent, ...] = events()
        # One commit's clock reading (a new datetime each time), shared by its three leaves.
        step(
            "encode_leaf x3 (one commit's time)",
            lambda: [
                encode_leaf(e, 1000 + k, t) for t in [_TIME.replace()] for k, e in enumerate(evs)
            ],
            lambda: [
                _before_encode_leaf(e, 1000 + k, t)
                for t in [_TIME.replace()]
                for k, e in enumerate(evs)
            ],
        )
        leaves = [encode_leaf(e, 1000 + k, _TIME) for k, e in enumerate(evs)]
        step("leaf_hash x3", lambda: [leaf_hash(b) for b in leaves])
        hashes = [leaf_hash(b) for b in leaves]

        # -- the audit tree -----------------------------------------------------------------
        started = time.perf_counter()
        tree = MerkleTree.from_leaf_hashes(os.urandom(32) for _ in range(args.leaves))
        print(f"tree of {tree.size:,} leaves in {time.perf_counter() - started:.1f} s")

        def append3() -> None:
            for h in hashes:
                tree.append(h)

        step("MerkleTree.append x3", append3)
        step("MerkleTree.root()", tree.root, lambda: _before_range(tree, 0, tree.size))
        index = tree.size - 1
        step(
            "MerkleTree.inclusion_proof (newest leaf)",
            lambda: tree.inclusion_proof(index),
            lambda: _before_inclusion_proof(tree, index, tree.size),
        )
        old = rng.randrange(tree.size)
        step(
            "MerkleTree.inclusion_proof (random leaf)",
            lambda: tree.inclusion_proof(old),
            lambda: _before_inclusion_proof(tree, old, tree.size),
        )
        signer = Ed25519PrivateKey.generate()
        cp = Checkpoint("dataward-zone-bench", tree.size, tree.root())
        step(
            "sign_checkpoint (Ed25519)",
            lambda: sign_checkpoint(cp, "dataward-zone-bench", signer),
            lambda: _before_sign_checkpoint(cp, "dataward-zone-bench", signer),
        )
        note = sign_checkpoint(cp, "dataward-zone-bench", signer)
        receipt = _receipt(tree, index, note, leaves[-1])

        # -- the front end: proto out --------------------------------------------------------
        # What grpc_api's conversion builds (a private module: its unit tests hold the
        # conversion's messages equal to these); the receipt nested by copy, or in place.
        step(
            "CheckResponse + receipt built (proto)",
            lambda: _response_in_place(receipt, request_id),
            lambda: _response_by_copy(receipt, request_id),
        )
        reply = _response_in_place(receipt, request_id)
        step("CheckResponse serialize", reply.SerializeToString)
        wire = request.SerializeToString()
        step("CheckRequest parse", lambda: eligibility_pb2.CheckRequest.FromString(wire))
        _guard_steps(step)

        print(f"{load_line()} one check's steps alone, µs per call (median of {args.repeat})")
        print(f"  {'step':<44}{'before':>9}  {'after':>9}")
        for row in rows:
            print(row.line())
        once = [r for r in rows if "first time" not in r.name]  # once per token, not per call
        total = sum(r.after[0] for r in once)
        before = sum((r.before or r.after)[0] for r in once)
        print(f"  {'sum of the steps (per check)':<44}{before:>9.2f}  {total:>9.2f}")


def _response_by_copy(receipt: Any, request_id: str) -> eligibility_pb2.CheckResponse:
    """grpc_api's decision_to_proto before issue 15: a Receipt message, copied into the
    response by its constructor."""
    return eligibility_pb2.CheckResponse(
        eligible=True,
        coverage_class=eligibility_pb2.CoverageClass.Value("COVERAGE_CLASS_EMPLOYEE"),
        reasons=[],
        receipt=common_pb2.Receipt(
            leaf_index=receipt.leaf_index,
            leaf_hash=receipt.leaf_hash,
            checkpoint_note=receipt.checkpoint_note,
            inclusion_proof=list(receipt.inclusion_proof),
            leaf=receipt.leaf or b"",
            request_id=request_id,
        ),
    )


def _response_in_place(receipt: Any, request_id: str) -> eligibility_pb2.CheckResponse:
    """grpc_api's decision_to_proto since issue 15: the receipt's fields set in place."""
    response = eligibility_pb2.CheckResponse(
        eligible=True, coverage_class=eligibility_pb2.COVERAGE_CLASS_EMPLOYEE, reasons=[]
    )
    target = response.receipt
    target.SetInParent()
    target.leaf_index = receipt.leaf_index
    target.leaf_hash = receipt.leaf_hash
    target.checkpoint_note = receipt.checkpoint_note
    target.inclusion_proof.extend(receipt.inclusion_proof)
    target.leaf = receipt.leaf or b""
    target.request_id = request_id
    return response


def _receipt(tree: MerkleTree, index: int, note: str, leaf: bytes) -> Any:
    from dataward.transparency import Receipt

    return Receipt(index, tree.leaf_hash(index), note, tuple(tree.inclusion_proof(index)), leaf)


def _guard_steps(step: Callable[..., None]) -> None:
    """The token verifier, with a real ES256 token: its first verification and the cached
    path every later call of the token takes (expiry and revocation still checked)."""
    from joserfc import jwt
    from joserfc.jwk import ECKey

    from grpc_api import JwksCache, TokenVerifier

    key = ECKey.generate_key("P-256", parameters={"kid": "k1", "alg": "ES256"})
    now = int(time.time())
    claims = {
        "iss": "https://portal.bench",
        "aud": "zone-bench",
        "sub": "app-1",
        "client_id": "app-1",
        "scope": "eligibility:check audit:read",
        "jti": "0123456789abcdef",
        "iat": now,
        "exp": now + 3600,
        "org": "acme-insurance",
        "org_kind": "INSURER",
        "purposes": ["INSURANCE_UNDERWRITING"],
    }
    bearer = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "k1"}, claims, key)
    jwks = JwksCache(
        "https://portal.bench/jwks", fetch=lambda _url: {"keys": [key.as_dict(private=False)]}
    )

    class _NotRevoked:
        def is_revoked(self, jti: str) -> bool:
            return False

    verifier = TokenVerifier(
        issuer="https://portal.bench", audience="zone-bench", jwks=jwks, revocations=_NotRevoked()
    )
    step("TokenVerifier.verify (first time: ES256)", lambda: verifier._decode(bearer))
    verifier.verify(bearer)
    step("TokenVerifier.verify (cached)", lambda: verifier.verify(bearer))


# -- the code issue 15 replaced, timed beside its replacement -------------------------------


def _before_token(key: bytes, column: str, value: str) -> bytes:
    """Keyring.token before issue 15: hmac.digest, keying OpenSSL's HMAC anew per token."""
    message = column.encode() + b"\x00" + normalize(column, value).encode()
    return hmac.digest(key, message, hashlib.sha256)


_BEFORE_RESULT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _before_result_hash(
    method: str, request_id: str, fields: receipts.ResultFields, *, client_nonce: str = ""
) -> bytes:
    """receipts.result_hash before issue 15: the body as a dict, encoded by json."""
    result = {str(name): receipts._plain(name, value) for name, value in fields.items()}
    body = {
        "client_nonce": str(client_nonce),
        "method": str(method),
        "request_id": str(request_id),
        "result": result,
    }
    return hashlib.sha256(_BEFORE_RESULT.encode(body).encode("utf-8")).digest()


def _before_sign_checkpoint(cp: Checkpoint, key_name: str, private_key: Any) -> str:
    """sign_checkpoint before issue 15: the key id derived from the key on every call."""
    body = cp.body()
    signature = private_key.sign(body.encode("utf-8"))
    blob = base64.b64encode(key_id(key_name, private_key.public_key()) + signature)
    return f"{body}\n\u2014 {key_name} {blob.decode('ascii')}\n"


def _split_point(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def _before_range(tree: MerkleTree, start: int, end: int) -> bytes:
    """MerkleTree._range before issue 15: the RFC recursion over the stored subtrees."""
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        return tree._node(n.bit_length() - 1, start // n)
    k = _split_point(n)
    return node_hash(_before_range(tree, start, start + k), _before_range(tree, start + k, end))


def _before_inclusion_proof(tree: MerkleTree, index: int, n: int) -> list[bytes]:
    """MerkleTree.inclusion_proof before issue 15: walking down from the root."""
    proof: list[bytes] = []
    start, end = 0, n
    while end - start > 1:
        k = _split_point(end - start)
        if index < start + k:
            proof.append(_before_range(tree, start + k, end))
            end = start + k
        else:
            proof.append(_before_range(tree, start, start + k))
            start += k
    proof.reverse()
    return proof


_BEFORE_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _before_encode_leaf(event: Any, index: int, time: dt.datetime) -> bytes:
    """enclave.audit.encode_leaf before issue 15: a dict per leaf, sorted by json, and the
    time formatted per leaf."""
    fields: dict[str, Any] = {
        name: list(v) if isinstance(v := getattr(event, name), tuple) else v
        for name in (f.name for f in dataclasses.fields(event))
    }
    fields.update(kind=event.kind, seq=index, time=time.astimezone(dt.UTC).strftime(_TIME_FORMAT))
    return _BEFORE_CANONICAL.encode(fields).encode()


if __name__ == "__main__":
    main()

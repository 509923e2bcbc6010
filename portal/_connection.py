"""How a partner app connects (issue 14): the token endpoint, the zone's gRPC target and the
zone's checkpoint key with its name, for the credentials page and the OAuth metadata.

The gRPC target is the ``grpc_target`` option when set (the public address partners use, e.g.
behind a load balancer), else the address ``dataward serve`` published in
``STATE_DIR/zone-grpc.json`` (:func:`portal._zone_calls.write_zone_target`); the zone key is
always the one serve published there, as a signed-note verifier key line, checked here
(a line that does not verify is not shown: the page never hands out a key that would not pin).
A portal serving alone knows neither, and says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dataward.transparency import TransparencyError, read_verifier_key
from portal._portal import Portal
from portal._zone_calls import ZONE_TARGET_FILE

__all__ = ["ConnectionDetails", "connection_details", "metadata_fields", "python_snippet"]

#: RFC 8414 §2 lets an authorization server add its own metadata; these name the zone.
GRPC_TARGET_FIELD = "dataward_grpc_target"
GRPC_TLS_FIELD = "dataward_grpc_tls"
ZONE_KEY_NAME_FIELD = "dataward_zone_key_name"
ZONE_KEY_FIELD = "dataward_zone_public_key"


@dataclass(frozen=True)
class ConnectionDetails:
    """What a partner needs besides its client id and secret or key."""

    issuer: str
    token_endpoint: str
    grpc_target: str | None
    grpc_tls: bool
    zone_key_name: str | None
    zone_public_key: str | None  # the verifier key line: name+keyid+base64 key


def _published(portal: Portal) -> dict[str, object]:
    try:
        body = json.loads((portal.config.state_dir / ZONE_TARGET_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def connection_details(portal: Portal) -> ConnectionDetails:
    published = _published(portal)
    target = portal.config.grpc_target or published.get("target")
    zone_key = published.get("zone_key")
    key_name: str | None = None
    if isinstance(zone_key, str):
        try:
            key_name = read_verifier_key(zone_key)[0]
        except TransparencyError:
            zone_key = None
    else:
        zone_key = None
    issuer = portal.issuer()
    return ConnectionDetails(
        issuer=issuer,
        token_endpoint=f"{issuer}/oauth/token",
        grpc_target=str(target) if isinstance(target, str) and target else None,
        grpc_tls=portal.config.grpc_tls or bool(published.get("tls_cert_file")),
        zone_key_name=key_name,
        zone_public_key=zone_key,
    )


def metadata_fields(details: ConnectionDetails) -> dict[str, object]:
    """The RFC 8414 extension fields; a field the portal does not know is left out."""
    fields: dict[str, object] = {}
    if details.grpc_target:
        fields[GRPC_TARGET_FIELD] = details.grpc_target
        fields[GRPC_TLS_FIELD] = details.grpc_tls
    if details.zone_public_key and details.zone_key_name:
        fields[ZONE_KEY_NAME_FIELD] = details.zone_key_name
        fields[ZONE_KEY_FIELD] = details.zone_public_key
    return fields


# One example call per scope (the first granted scope that has one is shown).
_EXAMPLES = {
    "eligibility:check": (
        'result = client.check_eligibility(id_number, "OUTPATIENT", Purpose.{purpose})'
    ),
    "identity:verify": "result = client.verify_identity(id_number, name, Purpose.{purpose})",
    "query:run": (
        'result = client.run_query("SELECT province, COUNT(*) AS claims FROM claims_analysis'
        ' GROUP BY province", purpose=Purpose.{purpose})'
    ),
    "query:submit": (
        'result = client.explain("SELECT province, COUNT(*) AS claims FROM claims_analysis'
        ' GROUP BY province", purpose=Purpose.{purpose})'
    ),
}


def _literal(value: str) -> str:
    """``value`` as a Python string literal (JSON's double-quoted form is one, for the
    printable ASCII of URLs, ids and key lines; anything else is escaped, never spliced)."""
    return json.dumps(value, ensure_ascii=True)


def python_snippet(
    details: ConnectionDetails,
    *,
    client_id: str,
    scopes: tuple[str, ...],
    purposes: tuple[str, ...],
    private_key: bool,
) -> str:
    """A copy-paste Python client for this app (never holding its secret: it is read from
    the environment, or the private key from its file)."""
    lines = ["import os", "", "from dataward.client import Client, Purpose"]
    if details.zone_public_key:
        lines[-1] += ", load_named_public_key"
        lines += [
            "",
            "# The zone's checkpoint key, pinned: every answer's receipt must verify against it.",
            f"ZONE_KEY = load_named_public_key(b{_literal(details.zone_public_key)})",
        ]
    credential = (
        '    private_key=open("app-key.pem", "rb").read(),  # its public key is registered'
        if private_key
        else '    os.environ["DATAWARD_CLIENT_SECRET"],  # never in the code'
    )
    lines += [
        "",
        "with Client.from_issuer(",
        f"    {_literal(details.issuer)},",
        f"    {_literal(client_id)},",
        credential,
        f"    scope={_literal(' '.join(scopes))},",
    ]
    if details.zone_public_key:
        lines.append("    audit_key=ZONE_KEY,")
    if not details.grpc_target:
        lines.append(
            '    target="ZONE-HOST:PORT",  # the zone is not serving now: ask its operator'
        )
    lines.append(") as client:")
    purpose = purposes[0] if purposes else "RESEARCH"
    example = next((_EXAMPLES[s] for s in scopes if s in _EXAMPLES), None)
    if example is None:
        lines.append("    print(client.audit_public_key()[0])  # the zone's key name")
    else:
        lines += [f"    {example.format(purpose=purpose)}", "    client.verify_answer(result)"]
    return "\n".join(lines) + "\n"

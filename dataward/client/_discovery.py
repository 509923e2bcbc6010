"""Where the zone is, from the portal's RFC 8414 authorization server metadata (issue 14).

``GET <origin>/.well-known/oauth-authorization-server<issuer path>`` (RFC 8414 §3.1) gives
the token endpoint, and the portal's extension fields (§2) the zone's gRPC target
(``dataward_grpc_target``, ``dataward_grpc_tls``) and its checkpoint key
(``dataward_zone_key_name``, ``dataward_zone_public_key``: a signed-note verifier key line).

Checks, each a :class:`DiscoveryError` naming what is wrong: the document's ``issuer`` is
exactly the URL asked (§3.3: otherwise an attacker's metadata could stand in for the
portal's), the token endpoint is on the issuer's own scheme, host and port (a secret or an
assertion is never sent elsewhere), the zone key line verifies and carries the advertised
name.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dataward.client.errors import DiscoveryError
from dataward.transparency import TransparencyError, read_verifier_key

__all__ = ["ServerMetadata", "discover", "metadata_url"]

_MAX_BYTES = 1 << 16


@dataclass(frozen=True)
class ServerMetadata:
    """What the partner's client needs from the portal's metadata."""

    issuer: str
    token_endpoint: str
    token_endpoint_auth_methods: tuple[str, ...]
    grpc_target: str | None
    grpc_tls: bool
    zone_key: tuple[str, Ed25519PublicKey] | None


def metadata_url(issuer: str) -> str:
    """RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path."""
    parts = urllib.parse.urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise DiscoveryError("the issuer must be an http(s) URL")
    if parts.query or parts.fragment:
        raise DiscoveryError("an issuer has no query or fragment (RFC 8414 §2)")
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{path}"


def _fetch(url: str, timeout: float) -> dict[str, object]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            document = json.loads(response.read(_MAX_BYTES))
    except urllib.error.HTTPError as exc:
        raise DiscoveryError(f"the portal's metadata answered HTTP {exc.code}") from exc
    except (OSError, ValueError) as exc:
        raise DiscoveryError("the portal's metadata is unreachable or not JSON") from exc
    if not isinstance(document, dict):
        raise DiscoveryError("the portal's metadata is not a JSON object")
    return document


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.netloc


def _zone_key(document: dict[str, object]) -> tuple[str, Ed25519PublicKey] | None:
    line, name = document.get("dataward_zone_public_key"), document.get("dataward_zone_key_name")
    if line is None:
        return None
    if not isinstance(line, str):
        raise DiscoveryError("dataward_zone_public_key is not a verifier key line")
    try:
        key_name, key = read_verifier_key(line)
    except TransparencyError as exc:
        raise DiscoveryError(f"dataward_zone_public_key: {exc}") from exc
    if name != key_name:
        raise DiscoveryError("dataward_zone_key_name is not the name in the zone's key line")
    return key_name, key


def discover(issuer: str, *, timeout: float = 10.0) -> ServerMetadata:
    """The portal's metadata for ``issuer`` (e.g. ``https://portal.example``), checked."""
    issuer = issuer.rstrip("/")
    document = _fetch(metadata_url(issuer), timeout)
    if document.get("issuer") != issuer:
        raise DiscoveryError("the metadata's issuer is not the URL asked for (RFC 8414 §3.3)")
    token_endpoint = document.get("token_endpoint")
    if not isinstance(token_endpoint, str) or _origin(token_endpoint) != _origin(issuer):
        raise DiscoveryError("the metadata's token_endpoint is not on the issuer's origin")
    methods = document.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
    target = document.get("dataward_grpc_target")
    if target is not None and (not isinstance(target, str) or not target):
        raise DiscoveryError("dataward_grpc_target is not host:port")
    return ServerMetadata(
        issuer=issuer,
        token_endpoint=token_endpoint,
        token_endpoint_auth_methods=tuple(str(m) for m in methods)
        if isinstance(methods, list)
        else (),
        grpc_target=target,
        grpc_tls=document.get("dataward_grpc_tls") is True,
        zone_key=_zone_key(document),
    )

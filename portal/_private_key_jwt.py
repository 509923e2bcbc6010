"""``private_key_jwt`` client authentication (RFC 7523 §2.2 and §3; issue 14), on Authlib's
:class:`~authlib.oauth2.rfc7523.JWTBearerClientAssertion` with the portal's rules:

- the assertion is verified with the app's registered key (``clients.jwks``) and only with
  the algorithms the portal registers keys for (ES256, PS256, Ed25519: never ``none`` nor an
  HMAC made with the public key);
- ``iss`` = ``sub`` = the client id (and a ``client_id`` sent beside it the same, RFC 7521
  §4.2), ``aud`` = the token endpoint URL only (Authlib's check);
- ``exp`` is required and at most :data:`MAX_ASSERTION_SECONDS` (5 minutes) ahead: a
  long-lived assertion is a bearer credential by another name;
- ``jti`` is required and accepted once: each is stored (``client_assertion_jtis``) until the
  assertion could no longer pass (``exp`` + leeway), and the insert's unique constraint makes
  a replay -- even two racing presentations -- ``invalid_client``.

Every refusal is Authlib's ``invalid_client`` (400: the client authenticated in the form, not
with an Authorization header, RFC 6749 §5.2), so the portal's throttle counts it
against the client id the assertion names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from portal._client_keys import ALGORITHMS
from portal._models import ClientAssertionJti
from portal._store import Store
from portal._tokens import PRIVATE_KEY_JWT, ClientAdapter

__all__ = ["MAX_ASSERTION_SECONDS", "PrivateKeyJwt", "assertion_subject"]

MAX_ASSERTION_SECONDS = 300
LEEWAY_SECONDS = 30
_MAX_JTI_CHARS = 255


class PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    """Registered with ``server.register_client_auth_method("private_key_jwt", ...)``."""

    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def __init__(
        self, store: Store, token_endpoint: Callable[[], str], clock: Callable[[], float]
    ) -> None:
        super().__init__(validate_jti=True, leeway=LEEWAY_SECONDS)
        self._store = store
        self._token_endpoint = token_endpoint
        self._clock = clock

    def __call__(self, query_client: Any, request: Any) -> ClientAdapter | None:
        client: ClientAdapter | None = super().__call__(query_client, request)
        presented = request.form.get("client_id")
        if client is not None and presented and presented != client.client_id:
            # RFC 7521 4.2: a client_id sent beside the assertion must name the same client.
            raise InvalidClientError(description="client_id is not the assertion's sub.")
        return client

    def get_audiences(self) -> list[str]:
        return [self._token_endpoint()]

    def resolve_client_public_key(self, client: ClientAdapter) -> KeySet:
        if not client.row.jwks:
            raise InvalidClientError(description="The app has no registered public key.")
        return KeySet.import_key_set(client.row.jwks)  # type: ignore[arg-type]

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=list(ALGORITHMS))
        except JoseError as error:
            why = error.description or error.error
            raise InvalidClientError(description=f"The assertion does not verify: {why}") from None
        exp = token.claims.get("exp")
        now = self._clock()
        if isinstance(exp, (int, float)) and exp > now + MAX_ASSERTION_SECONDS:
            raise InvalidClientError(
                description=f"The assertion's exp is more than {MAX_ASSERTION_SECONDS} s ahead."
            )
        self.verify_claims(token.claims)  # iss, sub, aud, exp (Authlib), then validate_jti
        return token.claims

    def validate_jti(self, claims: dict[str, Any], jti: Any) -> bool:
        if not isinstance(jti, str) or not 0 < len(jti) <= _MAX_JTI_CHARS:
            return False
        now = self._clock()
        expires = float(claims["exp"]) + LEEWAY_SECONDS
        try:
            with self._store.transaction() as s:
                s.execute(delete(ClientAssertionJti).where(ClientAssertionJti.expires_at < now))
                s.add(ClientAssertionJti(client_id=str(claims["sub"]), jti=jti, expires_at=expires))
        except IntegrityError:
            return False  # seen before: a replay
        return True

    def authenticate_client(self, client: ClientAdapter) -> ClientAdapter:
        if client.check_endpoint_auth_method(PRIVATE_KEY_JWT, "token"):
            return client
        raise InvalidClientError(
            status_code=401, description="The app authenticates with its client secret."
        )


def assertion_subject(assertion: str | None) -> str | None:
    """The client id an assertion claims (``sub``), read BEFORE it is verified: for the
    failure throttle only, which must count a forged assertion against the app it names."""
    if not assertion:
        return None
    try:
        payload = jws.extract_compact(assertion.encode("ascii")).payload
    except (JoseError, UnicodeEncodeError, ValueError):
        return None
    try:
        claims = json.loads(payload)
    except ValueError:
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) and len(sub) <= 64 else None

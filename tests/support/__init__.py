"""Helpers shared by several test files — fakes and builders, no tests of their own.

- ``person_fakes``: fakes at the person-check seams (registry directory, tokenizer, a
  consent store that records its lookups in the registry fake's journal, an in-memory audit
  trail with a real RFC 6962 tree) and the standard persons ALICE … UNKNOWN.
- ``token_issuer``: a fake portal at the process boundary (JWKS, token and revocation HTTP
  endpoints on 127.0.0.1 port 0) that mints good and bad RFC 9068 access tokens.
- ``grpc_stack``: a real gRPC server on 127.0.0.1 port 0 over those fakes and a real
  ``AuditLog``, and ``refusal_commits`` to read back the refusals it made at the door.
- ``zone_source``: a tiny valid registry export built with pyarrow, to mutate and ingest.
- ``audit_stores``: an ``AuditStore`` over a real SQLite store that counts commits and fails
  them on demand.
- ``portal_keys``: the portal's key files as an earlier release wrote them (in clear).

Import them by their full path (``from tests.support.person_fakes import ALICE``); this
package's namespace is empty on purpose, so importing one helper does not start the others'
imports (gRPC, pyarrow).
"""

"""Helpers shared by several test files — fakes and builders, no tests of their own.

- ``person_fakes``: fakes at the person-check seams (registry directory, tokenizer, an
  in-memory audit trail with a real RFC 6962 tree) and the standard persons ALICE … UNKNOWN.
- ``token_issuer``: a fake portal at the process boundary (JWKS, token and revocation HTTP
  endpoints on 127.0.0.1 port 0) that mints good and bad RFC 9068 access tokens.
- ``grpc_stack``: a real gRPC server on 127.0.0.1 port 0 over those fakes and a real
  ``AuditLog``, with the clients and tokens to call it.
- ``zone_source``: a tiny valid registry export built with pyarrow, to mutate and ingest.
- ``audit_stores``: an ``AuditStore`` over a real SQLite store that counts commits and fails
  them on demand.

Import them by their full path (``from tests.support.person_fakes import ALICE``); this
package's namespace is empty on purpose, so importing one helper does not start the others'
imports (gRPC, pyarrow).
"""

"""The portal: OAuth 2.0 authorization server, steward and partner pages.

Internet-facing: holds no zone data and no zone keys, never imports the zone. Public API:

- :class:`PortalOptions`: every tunable with its default, its checks (raising
  :class:`InvalidOptionError`) and its documentation, defined once. The launcher's
  ``PortalSettings`` is one, and so is :class:`PortalConfig`
  (``PortalConfig.from_options(options, state_dir=..., key=...)``) with its :class:`PortalKey`,
  which seals the portal's private keys at rest (AES-256-GCM under a scrypt-derived key; see
  ``portal._sealing``): none is ever on disk in clear,
- :class:`Portal` (``Portal.open(config)``: database migrated, keys created or unsealed;
  ``portal.admin`` is the programmatic :class:`PortalAdmin`), :func:`create_app` (the Flask
  WSGI app),
- :func:`seal_unsealed_keys` (``seal_unsealed_keys(config) -> names``): seals once the key
  files an earlier release kept in clear, which ``Portal.open`` refuses until then,
  :func:`serve` (waitress on the bind address, port 0 allowed; every request in the
  ``dataward.portal.access`` log by route, with an ``X-Request-Id``; ``GET /healthz``),
- ``Portal.export_log()`` -> :class:`PortalLogExport` (leaves + signed checkpoints + key)
  for ``dataward.transparency.verify_log_entries``; ``Portal.checkpoint()`` signs one (the
  server also signs every ``log_checkpoint_seconds`` when the log grew, and at shutdown),
- :func:`read_portal_log` -> :class:`PortalLogExport` for auditors: read-only, no private key,
  no migrations (raises :class:`portal.errors.LogUnavailableError`),
- :func:`rotate_signing_key` (``rotate_signing_key(portal) -> kid``: a new JWT key, logged as
  a ``signing_key_rotated`` portal event; the old key stays in the JWKS until its tokens
  expire),
- throttles: sign-in per username and per client address (HTTP 429, the page names which);
  failed client authentications per ``client_id`` and address at every OAuth endpoint: past
  ``client_auth_max_failures`` in the window the answer is ``429`` with ``Retry-After`` and
  ``{"error": "slow_down", "error_description": "..."}`` (RFC 6749 error format, RFC 8628's
  ``slow_down`` code), even for the right secret, until the window passes,
- :func:`write_zone_target` (``dataward serve`` tells the portal where the zone's gRPC API
  listens: the steward pages read the policy in force and review submitted queries --
  ``/steward/queries`` -- through it, with the steward's own token),
- organizations and users (issue 14), on ``portal.admin``: ``create_organization(name, kind,
  *, slug=None)``, ``list_organizations() -> [OrganizationSummary]``,
  ``get_organization(slug)``, ``suspend_organization(slug, by=None)``,
  ``resume_organization(slug, by=None)``, ``create_user(username, password, *, org, role)``,
  ``list_users(org=None)``, ``disable_user(username, by=None)`` (``by``: the acting steward,
  None for the operator's CLI); an organization's ``slug`` is the token's ``org`` claim,
  ``org_name`` its name; :func:`read_organizations` (``read_organizations(state_dir,
  database_url=None) -> (OrganizationView, ...)``) reads them read-only, with no key,
- the values :class:`ClientCredentials`, :class:`AppView`, :class:`UserView`,
  :class:`OrganizationView`, :class:`OrganizationSummary`, and the errors in
  :mod:`portal.errors`.
"""

from portal._admin import PortalAdmin
from portal._app import create_app
from portal._log import PortalLogExport
from portal._portal import Portal, rotate_signing_key, seal_unsealed_keys
from portal._readonly import read_organizations, read_portal_log
from portal._serve import PortalServer, serve
from portal._views import (
    AppView,
    ClientCredentials,
    OrganizationSummary,
    OrganizationView,
    UserView,
)
from portal._zone_calls import write_zone_target
from portal.config import InvalidOptionError, PortalConfig, PortalKey, PortalOptions
from portal.errors import PortalError

__all__ = [
    "AppView",
    "ClientCredentials",
    "InvalidOptionError",
    "OrganizationSummary",
    "OrganizationView",
    "Portal",
    "PortalAdmin",
    "PortalConfig",
    "PortalError",
    "PortalKey",
    "PortalLogExport",
    "PortalOptions",
    "PortalServer",
    "UserView",
    "create_app",
    "read_organizations",
    "read_portal_log",
    "rotate_signing_key",
    "seal_unsealed_keys",
    "serve",
    "write_zone_target",
]

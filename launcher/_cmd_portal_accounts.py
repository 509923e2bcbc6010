"""``dataward portal org ...`` and ``dataward portal user ...``: organizations and people.

The operator's side of onboarding (issue 14), on the portal's database through
:class:`portal.PortalAdmin` (the same methods the steward pages call; the CLI acts as the
operator, no steward account needed), with the portal key as every ``portal`` subcommand::

    dataward portal org create --name N --kind K [--slug S]   slug derived from the name if none
    dataward portal org list                                   slug, name, kind, status, apps, users
    dataward portal org suspend SLUG | resume SLUG
    dataward portal user create --username U --org SLUG [--role partner|steward]
    dataward portal user list [--org SLUG]
    dataward portal user disable USERNAME

A password is never an argument (it would land in shell history and process listings): it is
read from stdin (one line), or at a terminal from a hidden prompt typed twice. Each change is a
portal-log event. Exit codes: 65 for an unknown organization or user, a malformed slug, name
or password and a change the state does not allow (already suspended, already disabled); 73
for a name, slug or username that is taken.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click

from launcher._cmd_portal import _config
from launcher._options import zone_option
from portal import Portal, PortalAdmin

__all__ = ["org", "user"]

_KINDS = ("BANK", "INSURER", "RESEARCH", "PUBLIC_BODY")


@contextmanager
def _admin(ctx: click.Context, zone_dir: Path | None) -> Iterator[PortalAdmin]:
    """The portal's admin API over ``ZONE/portal``; ``--zone`` from this command or a parent."""
    here: click.Context | None = ctx
    while zone_dir is None and here is not None:
        zone_dir = here.params.get("zone_dir")
        here = here.parent
    opened = Portal.open(_config(ctx, zone_dir))
    try:
        yield opened.admin
    finally:
        opened.close()


def _read_password() -> str:
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))
    return sys.stdin.readline().rstrip("\r\n")


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [list(header), *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@click.group(name="org")
def org() -> None:
    """Partner organizations: create, list, suspend, resume."""


@org.command("create")
@zone_option
@click.option("--name", required=True, help="The organization's display name (unique).")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(_KINDS, case_sensitive=False),
    help="What kind of partner it is.",
)
@click.option(
    "--slug",
    default=None,
    help="Its stable short name, 2-32 of a-z 0-9 '-' (default: derived from the name). The "
    "token's `org` claim and the partner consents name; it never changes.",
)
@click.pass_context
def org_create(
    ctx: click.Context, zone_dir: Path | None, name: str, kind: str, slug: str | None
) -> None:
    """Create a partner organization (ACTIVE)."""
    with _admin(ctx, zone_dir) as admin:
        created = admin.create_organization(name, kind.upper(), slug=slug)
    click.echo(f"organization {created.slug} created ({created.kind}, {created.name})")


@org.command("list")
@zone_option
@click.pass_context
def org_list(ctx: click.Context, zone_dir: Path | None) -> None:
    """List organizations: slug, name, kind, status, apps, users."""
    with _admin(ctx, zone_dir) as admin:
        rows = admin.list_organizations()
    _table(
        ("SLUG", "NAME", "KIND", "STATUS", "APPS", "USERS"),
        [(o.slug, o.name, o.kind, o.status, o.apps, o.users) for o in rows],
    )


@org.command("suspend")
@zone_option
@click.argument("slug")
@click.pass_context
def org_suspend(ctx: click.Context, zone_dir: Path | None, slug: str) -> None:
    """Suspend an organization: its apps get no tokens, its users cannot sign in, and the
    live tokens of both are revoked (the zone drops them through the revocation feed)."""
    with _admin(ctx, zone_dir) as admin:
        admin.suspend_organization(slug)
    click.echo(f"organization {slug} suspended; its live tokens are revoked")


@org.command("resume")
@zone_option
@click.argument("slug")
@click.pass_context
def org_resume(ctx: click.Context, zone_dir: Path | None, slug: str) -> None:
    """Resume a suspended organization (tokens revoked by the suspension stay revoked)."""
    with _admin(ctx, zone_dir) as admin:
        admin.resume_organization(slug)
    click.echo(f"organization {slug} resumed")


@click.group(name="user")
def user() -> None:
    """Portal users (partner users, stewards): create, list, disable."""


@user.command("create")
@zone_option
@click.option("--username", required=True, help="The sign-in name (1 to 100 characters).")
@click.option(
    "--org",
    "org_slug",
    default=None,
    help="The organization's slug (a steward's default: the stewards' organization).",
)
@click.option(
    "--role",
    type=click.Choice(("partner", "steward"), case_sensitive=False),
    default="partner",
    show_default=True,
)
@click.pass_context
def user_create(
    ctx: click.Context, zone_dir: Path | None, username: str, org_slug: str | None, role: str
) -> None:
    """Create a user; the password is read from stdin (a hidden prompt at a terminal)."""
    password = _read_password()
    with _admin(ctx, zone_dir) as admin:
        created = admin.create_user(username, password, org=org_slug, role=role.upper())
    click.echo(f"{created.role.lower()} user {created.username} created in {created.org_slug}")


@user.command("list")
@zone_option
@click.option("--org", "org_slug", default=None, help="Only this organization's users.")
@click.pass_context
def user_list(ctx: click.Context, zone_dir: Path | None, org_slug: str | None) -> None:
    """List users: username, role, organization, status."""
    with _admin(ctx, zone_dir) as admin:
        rows = admin.list_users(org=org_slug)
    _table(
        ("USERNAME", "ROLE", "ORG", "STATUS"),
        [(u.username, u.role, u.org_slug, "DISABLED" if u.disabled else "ACTIVE") for u in rows],
    )


@user.command("disable")
@zone_option
@click.argument("username")
@click.pass_context
def user_disable(ctx: click.Context, zone_dir: Path | None, username: str) -> None:
    """Disable a user for good: no sign-in, their live tokens revoked."""
    with _admin(ctx, zone_dir) as admin:
        admin.disable_user(username)
    click.echo(f"user {username} disabled; their live tokens are revoked")

"""The ``dataward policy`` commands: check a document, apply it, show what is in force.

``check`` needs no zone and no secret: it loads the document exactly as the zone will
(`policies.load_policy_file`, views over the registry's tables) and prints the version the
zone would record and the views it defines; a document with any error prints the error
(file, path, what is wrong) and exits 65.

``apply`` validates the same way first (an error exits 65 and the zone is not touched: the
policy in force stays), then puts it in force: directly, as the audit log's one writer, when
no server serves the zone (master key from the environment, like ``consent grant``); through
the running server otherwise (:mod:`launcher._operator_calls`), which takes it without a
restart. ``show`` and ``history`` read ``ZONE/state/policy.db`` read-only (no secret; they
work while a server serves the zone). Without an applied policy every query is refused.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from enclave import PolicyInvalid, ZoneNotInitialized
from enclave.audit import AuditLogBusy
from enclave.dataset import TABLES
from enclave.keys import KEYRING_FILE
from enclave.policy import POLICY_DB, AppliedVersion, PolicyStore, template_problem
from enclave.release import Caller
from launcher._operator_calls import apply_policy_through_server
from launcher._options import zone_option
from launcher._wiring import open_core
from launcher.settings import load_settings
from policies import (
    AggregationRule,
    ColumnRole,
    Policy,
    PolicyError,
    PolicyUnreadableError,
    View,
    load_policy_file,
)

__all__ = ["policy"]


#: What ``show`` prints for a zone without an applied policy.
NO_POLICY = "no policy applied: every query is refused"


@click.group(name="policy")
def policy() -> None:
    """Policy documents (analysis views, their rules, grants): check, apply, show, history."""


@policy.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def check(file: Path) -> None:
    """Validate the policy document FILE; print its version and views."""
    loaded = load_policy_file(file, tables=frozenset(TABLES))
    problem = template_problem(loaded, str(file))
    if problem is not None:
        raise problem
    for line in describe(loaded):
        click.echo(line)


@policy.command("apply")
@zone_option
@click.argument("file", type=click.Path(path_type=Path))
def apply(zone_dir: Path | None, file: Path) -> None:
    """Validate the policy document FILE and put it in force in the zone.

    A document with any error changes nothing (exit 65). While `dataward serve` runs on the
    zone, the change goes through that server, which applies it without a restart. Prints the
    version in force, whether it changed and since when. Needs DATAWARD_MASTER_KEY.
    """
    try:
        loaded = load_policy_file(file, tables=frozenset(TABLES))
    except PolicyUnreadableError:
        raise
    except PolicyError as exc:  # say that nothing changed, not just what is wrong
        raise PolicyInvalid(exc.file, exc.path, exc.problem) from exc
    problem = template_problem(loaded, str(file))
    if problem is not None:
        raise problem
    document = file.read_text(encoding="utf-8")
    settings = load_settings(overrides={"zone": {"dir": zone_dir}})
    try:
        core = open_core(settings)
    except AuditLogBusy as busy:
        remote = apply_policy_through_server(settings, busy, document, source_name=str(file))
        _applied(remote.version, remote.changed, remote.applied_at, remote.leaf_index)
        click.echo("applied through the running server")
        return
    try:
        answer = core.policies.apply(document, Caller("cli", "operator"), str(file))
    finally:
        core.close()
    _applied(answer.version, answer.changed, answer.applied_at, answer.receipt.leaf_index)


def _applied(version: str, changed: bool, since: dt.datetime, leaf: int) -> None:
    click.echo(f"version {version}")
    click.echo("changed" if changed else "unchanged: this version was already in force")
    click.echo(f"in force since {_when(since)}")
    click.echo(f"audit leaf {leaf}")


@policy.command("show")
@zone_option
def show(zone_dir: Path | None) -> None:
    """Print the policy in force: version, since when, by whom, its views and grants.

    Reads the zone's policy store read-only (no secret; works while a server serves the zone).
    """
    store = _read_only(zone_dir)
    try:
        in_force = store.in_force()
    finally:
        store.close()
    if in_force.unusable is not None:
        bad = in_force.unusable
        click.echo(
            f"applied version #{bad.sequence} ({bad.version}) cannot be put in force: "
            f"{in_force.problem}"
        )
    if in_force.applied is None:
        click.echo(NO_POLICY)
        return
    click.echo(f"version {in_force.version}")
    click.echo(f"in force since {_when(in_force.applied.applied_at)} ({_by(in_force.applied)})")
    for line in describe(in_force.policy)[1:]:
        click.echo(line)


@policy.command("history")
@zone_option
def history(zone_dir: Path | None) -> None:
    """List every applied policy version, oldest first (read-only, like `show`)."""
    store = _read_only(zone_dir)
    try:
        applied = store.history()
    finally:
        store.close()
    if not applied:
        click.echo(NO_POLICY)
    for entry in applied:
        click.echo(f"{entry.sequence:>4}  {entry.version}  {_when(entry.applied_at)}  {_by(entry)}")


def _read_only(zone_dir: Path | None) -> PolicyStore:
    settings = load_settings(overrides={"zone": {"dir": zone_dir}})
    if not (settings.zone.dir / KEYRING_FILE).is_file():  # a mistyped --zone is not "no policy"
        raise ZoneNotInitialized()
    return PolicyStore.open_readonly(settings.zone.dir / POLICY_DB)


def _when(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _by(applied: AppliedVersion) -> str:
    return f"applied #{applied.sequence} by {applied.client_id} of {applied.organization}"


def describe(loaded: Policy) -> list[str]:
    """The lines `check` prints: the version, one line per view, one per grant."""
    lines = [f"version {loaded.version}", f"views ({len(loaded.views)})"]
    lines += [f"  {name:<22} {_rule(view)}" for name, view in sorted(loaded.views.items())]
    lines.append(f"grants ({len(loaded.grants)})")
    lines += [
        f"  organization {g.organization} for {g.purpose}: {', '.join(sorted(g.views))}"
        for g in loaded.grants
    ]
    return lines


def _rule(view: View) -> str:
    roles = [c.role for c in view.columns.values()]
    dimensions, measures = roles.count(ColumnRole.DIMENSION), roles.count(ColumnRole.MEASURE)
    shape = f"{dimensions} dimensions, {measures} measures"
    rule = view.rule
    if isinstance(rule, AggregationRule):
        return (
            f"{shape}; aggregation, release {rule.release}, at most {rule.max_group_keys} "
            f"group keys, cells of at least {rule.min_persons} persons"
        )
    return (
        f"{shape}; templates: {', '.join(sorted(rule.templates))}; release exact, cells of at "
        f"least {rule.min_persons} persons, at most {rule.contribution_limit} rows per person "
        f"per cell, at most {rule.row_cap} rows"
    )

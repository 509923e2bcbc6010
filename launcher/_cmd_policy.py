"""The ``dataward policy`` commands: ``check`` validates a policy document offline.

``check`` needs no zone and no secret: it loads the document exactly as the zone will
(`policies.load_policy_file`, views over the registry's tables) and prints the version the
zone would record and the views it defines; a document with any error prints the error
(file, path, what is wrong) and exits 65.
"""

from __future__ import annotations

from pathlib import Path

import click

from enclave.dataset import TABLES
from policies import AggregationRule, ColumnRole, Policy, View, load_policy_file

__all__ = ["policy"]


@click.group(name="policy")
def policy() -> None:
    """Check policy documents (analysis views, their rules, grants)."""


@policy.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def check(file: Path) -> None:
    """Validate the policy document FILE; print its version and views."""
    loaded = load_policy_file(file, tables=frozenset(TABLES))
    for line in describe(loaded):
        click.echo(line)


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
    return f"{shape}; templates: {', '.join(sorted(rule.templates))}"

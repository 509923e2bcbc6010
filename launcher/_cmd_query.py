"""``dataward query explain|run|budget``: a partner's aggregate query, from the command line.

The command is a partner of the zone like any other: it gets an access token from the
portal with the app's client credentials (client id on the command line, the secret from a
file or a hidden prompt, never argv) and calls ``QueryService`` over gRPC with the SDK. With
``--zone DIR`` it finds the server and portal serving that zone (from the writer record in
the zone's state) and pins the zone's published key to verify every answer's receipt; with
``--target`` and ``--token-url`` it calls any zone, with ``--audit-key`` the key to pin.
``budget`` prints what the app's organization has spent and has left of its privacy budget.

The SQL comes from ``--sql-file`` (``-``: stdin), never from argv: a literal in it would land
in shell history and process listings. ``explain`` prints the rule, the checks and the
rewritten SQL, or every rejection (exit 65 when the query is not allowed); ``run`` prints the
gated table (suppressed cells as ``—``) or writes it with ``--output FILE.csv|.parquet``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import click
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dataward.access import Purpose
from dataward.client import (
    BudgetState,
    Client,
    ClientCredentialsTokenSource,
    Explanation,
    QueryResult,
)
from dataward.transparency import PublicKeyError, load_named_public_key
from enclave.audit import read_holder, zone_log_name
from enclave.dataset import inspect_zone
from enclave.keys import PUBLIC_KEY_FILE
from launcher._operator_calls import OperatorCallError
from launcher._options import zone_option
from launcher._wiring import AUDIT_DB
from launcher.settings import load_settings

__all__ = ["query"]

SUPPRESSED = "—"


class QueryNotAllowed(click.ClickException):
    """``explain`` of a query the zone would not run: exit 65 (the input is wrong)."""

    exit_code = 65


@click.group(name="query")
def query() -> None:
    """Explain and run aggregate queries as a partner app (QueryService over gRPC)."""


_F = TypeVar("_F", bound=Callable[..., Any])


def _zone_options(command: _F) -> _F:
    """Where the zone is, how its receipts are checked, which app asks."""
    options = [
        zone_option,
        click.option("--target", help="host:port of the zone's gRPC API (default: --zone's)."),
        click.option("--token-url", help="The portal's token endpoint (default: --zone's portal)."),
        click.option(
            "--audit-key",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            help="The zone's published signing key (PEM) that receipts must verify against "
            "(default: --zone's public/zone-signing-key.pub).",
        ),
        click.option(
            "--audit-key-name",
            help="The name of the zone's log, dataward-zone-<zone id> (default: the one the key "
            "file names, else --zone's).",
        ),
        click.option("--client-id", required=True, help="The partner app's client id."),
        click.option(
            "--client-secret-file",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            help="A file holding the app's client secret (default: a hidden prompt).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _connection_options(command: _F) -> _F:
    """:func:`_zone_options` and the query: purpose, SQL or template, parameters."""
    options = [
        click.option("--purpose", required=True, type=click.Choice([p.value for p in Purpose])),
        click.option(
            "--sql-file",
            default="-",
            show_default=True,
            help="The query's SQL: a file, or '-' for stdin.",
        ),
        click.option("--template", help="Run an approved template by name instead of SQL."),
        click.option(
            "--param",
            "params",
            multiple=True,
            metavar="NAME=VALUE",
            help="A text parameter (repeatable); --int-param and --decimal-param for numbers.",
        ),
        click.option("--int-param", "int_params", multiple=True, metavar="NAME=INT"),
        click.option("--decimal-param", "decimal_params", multiple=True, metavar="NAME=DECIMAL"),
    ]
    for option in reversed(options):
        command = option(command)
    return _zone_options(command)


@dataclass(frozen=True)
class _Connection:
    """Where the zone is and how its answers are checked (the command's connection options)."""

    zone_dir: Path | None
    target: str | None
    token_url: str | None
    audit_key: Path | None
    audit_key_name: str | None
    client_id: str
    client_secret_file: Path | None

    def client(self, scope: str) -> Client:
        """A partner client for ``scope``, the zone's key pinned for its receipts."""
        target, token_url = self.target, self.token_url
        key_file, key_name = self.audit_key, self.audit_key_name
        if key_file is not None and key_name is None:
            key_name = _key_name_in(key_file)  # a named key file needs no --audit-key-name
        if target is None or token_url is None or key_file is None or key_name is None:
            zone_dir = load_settings(overrides={"zone": {"dir": self.zone_dir}}).zone.dir
            holder = read_holder(zone_dir / AUDIT_DB)
            if holder.get("role") != "server" or not holder.get("grpc"):
                raise OperatorCallError(
                    f"no server is serving the zone at {zone_dir}: start `dataward serve`, or "
                    "give --target, --token-url and --audit-key (and --audit-key-name for a key "
                    "file that does not name its key)"
                )
            target = target or str(holder["grpc"])
            token_url = token_url or f"{holder.get('portal', '')}/oauth/token"
            key_file = key_file or zone_dir / PUBLIC_KEY_FILE
            key_name = (
                key_name
                or _key_name_in(key_file)
                or zone_log_name(inspect_zone(zone_dir).zone_id)  # a zone from before issue 14
            )
        if self.client_secret_file is not None:
            secret = self.client_secret_file.read_text(encoding="utf-8").strip()
        else:
            secret = str(click.prompt("client secret", hide_input=True, err=True)).strip()
        tokens = ClientCredentialsTokenSource(token_url, self.client_id, secret, scope)
        # The file's name must be the one given, if both are there (PublicKeyError: exit 65).
        pinned = load_named_public_key(key_file.read_bytes(), key_name)
        return Client(target, tokens, audit_key=pinned, timeout=60.0)


def _key_name_in(key_file: Path) -> str | None:
    """The key name a published key file carries (zones since issue 14), else None."""
    try:
        return load_named_public_key(key_file.read_bytes())[0]
    except (OSError, PublicKeyError):
        return None  # read again below, where a bad file is refused with its reason


def _sql(sql_file: str, template: str | None) -> str:
    if template:
        return ""
    text = sys.stdin.read() if sql_file == "-" else Path(sql_file).read_text(encoding="utf-8")
    if not text.strip():
        raise click.UsageError("no SQL given (on stdin or in --sql-file), and no --template")
    return text


def _parameters(
    params: Sequence[str], int_params: Sequence[str], decimal_params: Sequence[str]
) -> dict[str, str | int | Decimal]:
    values: dict[str, str | int | Decimal] = {}

    def split(raw: str, option: str) -> tuple[str, str]:
        name, sep, value = raw.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{raw!r}: give NAME=VALUE", param_hint=option)
        if name in values:
            raise click.BadParameter(f"{name}: given twice", param_hint=option)
        return name, value

    for raw in params:
        name, value = split(raw, "--param")
        values[name] = value
    for raw in int_params:
        name, value = split(raw, "--int-param")
        try:
            values[name] = int(value)
        except ValueError:
            raise click.BadParameter(f"{name}: not an integer", param_hint="--int-param") from None
    for raw in decimal_params:
        name, value = split(raw, "--decimal-param")
        try:
            values[name] = Decimal(value)
        except InvalidOperation:
            raise click.BadParameter(
                f"{name}: not a number", param_hint="--decimal-param"
            ) from None
    return values


@query.command("explain")
@_connection_options
def explain(  # noqa: PLR0917 (one parameter per click option)
    zone_dir: Path | None,
    target: str | None,
    token_url: str | None,
    audit_key: Path | None,
    audit_key_name: str | None,
    client_id: str,
    client_secret_file: Path | None,
    purpose: str,
    sql_file: str,
    template: str | None,
    params: tuple[str, ...],
    int_params: tuple[str, ...],
    decimal_params: tuple[str, ...],
) -> None:
    """Explain a query: the rule, the checks and the rewritten SQL, or why it is refused."""
    sql = _sql(sql_file, template)
    parameters = _parameters(params, int_params, decimal_params)
    connection = _Connection(
        zone_dir, target, token_url, audit_key, audit_key_name, client_id, client_secret_file
    )
    with connection.client("query:submit") as client:
        answer = client.explain(
            sql or None, template=template, parameters=parameters, purpose=purpose
        )
        client.verify_answer(answer)
    for line in describe_explanation(answer):
        click.echo(line)
    if not answer.allowed:
        raise QueryNotAllowed("the zone would not run this query (see above)")


@query.command("run")
@_connection_options
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the table to FILE.csv or FILE.parquet instead of printing it.",
)
def run(  # noqa: PLR0917 (one parameter per click option)
    zone_dir: Path | None,
    target: str | None,
    token_url: str | None,
    audit_key: Path | None,
    audit_key_name: str | None,
    client_id: str,
    client_secret_file: Path | None,
    purpose: str,
    sql_file: str,
    template: str | None,
    params: tuple[str, ...],
    int_params: tuple[str, ...],
    decimal_params: tuple[str, ...],
    output: Path | None,
) -> None:
    """Run a query and print (or write) the gated table; its receipt is verified."""
    if output is not None and output.suffix not in (".csv", ".parquet"):
        raise click.BadParameter("FILE.csv or FILE.parquet", param_hint="--output")
    sql = _sql(sql_file, template)
    parameters = _parameters(params, int_params, decimal_params)
    connection = _Connection(
        zone_dir, target, token_url, audit_key, audit_key_name, client_id, client_secret_file
    )
    with connection.client("query:run") as client:
        result = client.run_query(
            sql or None, template=template, parameters=parameters, purpose=purpose
        )
        checkpoint = client.verify_answer(result)
    if output is None:
        for line in render_table(result.table):
            click.echo(line)
    elif output.suffix == ".csv":
        pacsv.write_csv(result.table, output)
    else:
        pq.write_table(result.table, output)
    click.echo(summary(result, checkpoint.size))


@query.command("budget")
@_zone_options
def budget(  # noqa: PLR0917 (one parameter per click option)
    zone_dir: Path | None,
    target: str | None,
    token_url: str | None,
    audit_key: Path | None,
    audit_key_name: str | None,
    client_id: str,
    client_secret_file: Path | None,
) -> None:
    """Show what the app's organization has spent and has left of its privacy budget."""
    connection = _Connection(
        zone_dir, target, token_url, audit_key, audit_key_name, client_id, client_secret_file
    )
    with connection.client("query:submit") as client:
        state = client.budget()
        checkpoint = client.verify_answer(state)
    for line in describe_budget(state):
        click.echo(line)
    assert state.receipt is not None
    click.echo(f"receipt: audit leaf {state.receipt.leaf_index} of {checkpoint.size}, verified")


def describe_budget(state: BudgetState) -> list[str]:
    """The lines ``budget`` prints: each limit's size, spent and left, in epsilon."""
    lines = [
        f"privacy budget on dataset version {state.dataset_version} (UTC day {state.day}):",
        f"  {'limit':<34}{'size':>10}{'spent':>10}{'left':>10}",
        f"  {'per query':<34}{_epsilon(state.per_query_micro):>10}{'':>10}{'':>10}",
    ]
    for limit in state.limits:
        lines.append(
            f"  {limit.name.replace('_', ' '):<34}{_epsilon(limit.limit_micro):>10}"
            f"{_epsilon(limit.spent_micro):>10}{_epsilon(limit.left_micro):>10}"
        )
    lines.append(f"the next new query may cost up to epsilon {_epsilon(state.available_micro)}")
    return lines


def _epsilon(micro: int) -> str:
    return f"{micro / 1_000_000:g}"


def describe_explanation(answer: Explanation) -> list[str]:
    """The lines ``explain`` prints."""
    verdict = "allowed" if answer.allowed else "not allowed"
    lines = [f"{verdict}: view {answer.view or '-'}, rule {answer.rule or '-'}"]
    lines.append(f"release {answer.release_mode or '-'}, policy {answer.policy_version[:12]}")
    lines += [f"  rejected: {rejection}" for rejection in answer.rejections]
    lines += [f"  check: {check}" for check in answer.checks]
    lines += [f"  note: {notice}" for notice in answer.notices]
    if answer.rewritten_sql:
        lines += ["rewritten SQL (parameters are placeholders):", answer.rewritten_sql]
    lines.append(f"receipt: audit leaf {answer.receipt.leaf_index}, verified")
    return lines


def render_table(table: pa.Table) -> list[str]:
    """``table`` as aligned text; a suppressed (null) cell shows as ``—``."""
    names = table.column_names
    rows = [[_cell(value) for value in row.values()] for row in table.to_pylist()]
    widths = [max([len(n), *(len(r[i]) for r in rows)]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return lines


def _cell(value: object) -> str:
    if value is None:
        return SUPPRESSED
    if isinstance(value, float):  # an average (of cents): two decimals are plenty
        return f"{value:.2f}"
    return str(value)


def summary(result: QueryResult, log_size: int) -> str:
    lines = [
        f"{result.table.num_rows} rows, {result.suppressed_cells} suppressed "
        f"({SUPPRESSED}), {result.release_mode} release under policy "
        f"{result.policy_version[:12]}; receipt: audit leaf {result.receipt.leaf_index} of "
        f"{log_size}, verified"
    ]
    dp = result.dp
    if dp is not None:
        spent = (
            "the stored answer of the same query, no charge"
            if dp.replayed
            else f"epsilon {_epsilon(dp.epsilon_spent_micro)} spent"
        )
        lines.append(
            f"differential privacy: {spent}; epsilon {_epsilon(dp.budget.available_micro)} "
            "available for the next new query"
        )
        for info in dp.noise:
            label = info.column
            if info.column == "__persons":
                label += " (behind the threshold, not released)"
            lines.append(
                f"  noise of {label}: scale {info.scale:.6g}, 95% within ±{info.error_bound_95:.6g}"
            )
    return "\n".join(lines)

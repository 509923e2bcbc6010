"""``dataward check --batch FILE``: a partner's eligibility checks in bulk (issue 15).

The command is a partner of the zone like ``dataward query``: the app's token from the portal
(client id on the command line, the secret from a file or a hidden prompt), the zone's key
pinned (``--zone``, or ``--target``/``--token-url``/``--audit-key``), and the SDK's
:meth:`~dataward.client.Client.check_many` over ``CheckBatch`` streams, every receipt verified
(the app needs scopes ``eligibility:check`` and ``audit:read``, for the consistency proofs).

The ID numbers come from a file or stdin (:mod:`launcher._batch_files`), never from argv, and
go nowhere but to the zone: the output file holds each input row's number with its answer,
never the ID number; no message, log line or progress line carries one. A row whose values
cannot be sent (no ID number, one too long, an ``as_of`` that is not a date) is an error row
of the output, as is each item the zone refused. Exit 0 when every row was answered, 65 when
the output was written with some rows refused (their ``error_reason`` says why).
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import click

from dataward.access import Purpose
from dataward.client import BatchItem, Benefit, EligibilityQuery
from launcher._batch_files import (
    OUTPUT_COLUMNS,
    BatchRow,
    ResultRow,
    open_input,
    open_output,
)
from launcher._cmd_query import _Connection, _zone_options
from launcher._progress import ProgressDisplay

__all__ = ["BatchItemsRefused", "check"]

SCOPES = "eligibility:check audit:read"


class BatchItemsRefused(Exception):  # noqa: N818 (reads as what happened)
    """The output was written, and some of its rows are refusals (exit 65)."""


@click.command("check")
@_zone_options
@click.option(
    "--batch",
    required=True,
    metavar="FILE",
    help="The rows to check: a CSV file whose header names id_number (and may name "
    "consent_ref, as_of), or a .parquet file with those columns, or '-' for CSV on stdin. "
    "Never ID numbers on the command line.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the results to FILE.csv or FILE.parquet: one row per input row, by its row "
    "number (row), with eligible, coverage_class, reasons, request_id, receipt_leaf_index, "
    "error_code, error_reason -- never the ID number.",
)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--benefit", required=True, type=click.Choice([b.value for b in Benefit]))
@click.option("--purpose", required=True, type=click.Choice([p.value for p in Purpose]))
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The date to check at, for rows without their own as_of (default: today).",
)
@click.option(
    "--window",
    default=256,
    show_default=True,
    type=click.IntRange(1, 4096),
    help="Checks sent and not yet answered at most.",
)
def check(  # noqa: PLR0917 (one parameter per click option)
    zone_dir: Path | None,
    target: str | None,
    token_url: str | None,
    audit_key: Path | None,
    audit_key_name: str | None,
    client_id: str,
    client_secret_file: Path | None,
    batch: str,
    out: Path,
    force: bool,
    benefit: str,
    purpose: str,
    as_of: dt.datetime | None,
    window: int,
) -> None:
    """Check the eligibility of every person of a file (or stdin) as a partner app, and write
    each row's answer, never its ID number, to --out."""
    if out.suffix not in (".csv", ".parquet"):
        raise click.BadParameter("FILE.csv or FILE.parquet", param_hint="--out")
    if batch == "-" and client_secret_file is None:
        raise click.UsageError("--batch - reads stdin: give the secret with --client-secret-file")
    # An --out that exists or cannot be created is refused before the input is read.
    open_output(out, force=force).discard()
    rows = open_input(batch)
    connection = _Connection(
        zone_dir, target, token_url, audit_key, audit_key_name, client_id, client_secret_file
    )
    default_date = as_of.date() if as_of is not None else None
    refused: collections.Counter[str] = collections.Counter()
    eligible = 0
    display = ProgressDisplay("check", unit="rows")
    with connection.client(SCOPES) as client:
        writer = open_output(out, force=force)
        try:
            pending: collections.deque[BatchRow] = collections.deque()

            def queries() -> Iterator[EligibilityQuery]:
                for row in rows.rows():
                    pending.append(row)
                    if not row.problem:
                        yield EligibilityQuery(
                            row.id_number,
                            Benefit(benefit),
                            Purpose(purpose),
                            row.as_of or default_date,
                            row.consent_ref,
                        )

            def flush_problems() -> None:
                while pending and pending[0].problem:
                    row = pending.popleft()
                    refused[row.problem] += 1
                    writer.write(
                        ResultRow(
                            row.number, error_code="INVALID_ARGUMENT", error_reason=row.problem
                        )
                    )
                    display.set_done("rows", writer.rows, rows.total)

            for item in client.check_many(queries(), window=window):
                flush_problems()
                result = _result_row(pending.popleft().number, item)
                if result.error_reason:
                    refused[result.error_reason] += 1
                elif result.eligible:
                    eligible += 1
                writer.write(result)
                display.set_done("rows", writer.rows, rows.total)
            flush_problems()
        except BaseException:
            writer.discard()
            raise
        finally:
            display.close()
        writer.commit()
    total = writer.rows
    answered = total - sum(refused.values())
    click.echo(
        f"{total} rows checked into {out} (columns {', '.join(OUTPUT_COLUMNS)}): "
        f"{answered} answered ({eligible} eligible), every receipt verified; "
        f"{sum(refused.values())} refused"
        + "".join(f"\n  {reason}: {count}" for reason, count in refused.most_common())
    )
    if refused:
        raise BatchItemsRefused(
            f"{sum(refused.values())} of {total} rows were refused (error_reason in {out})"
        )


def _result_row(number: int, item: BatchItem) -> ResultRow:
    if item.result is not None:
        result = item.result
        return ResultRow(
            number,
            eligible=result.eligible,
            coverage_class=result.coverage_class or "",
            reasons=";".join(result.reasons),
            request_id=result.request_id,
            receipt_leaf_index=result.receipt.leaf_index,
        )
    error = item.error
    assert error is not None
    return ResultRow(
        number,
        error_code=error.code.name if error.code is not None else "",
        error_reason=error.reason or type(error).__name__,
    )

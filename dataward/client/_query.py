"""QueryService for the SDK: its answers as frozen values, and the messages to and from them.

A query's answer is an Arrow IPC stream: :class:`QueryResult` keeps the bytes exactly as they
arrived (the release leaf's result hash covers their SHA-256, so :meth:`Client.verify_answer`
checks the table against the zone's log) and the ``pyarrow.Table`` read from them.

pyarrow is imported only when an answer is read (issue 14): it is the SDK's largest
dependency by far, an optional one (``pip install 'dataward-sdk[query]'``) that a partner
making person checks only never needs. :func:`require_arrow` lets the client refuse a query
BEFORE it runs (and spends budget) when pyarrow is missing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from dataward import receipts
from dataward.client._convert import receipt_from_proto
from dataward.transparency import Receipt
from dataward.v1 import common_pb2, query_pb2

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "BudgetLimit",
    "BudgetState",
    "ColumnNoise",
    "DpInfo",
    "Explanation",
    "ParameterValue",
    "QueryPage",
    "QueryRejection",
    "QueryResult",
    "QuerySubmission",
    "StoredQuery",
    "budget_state",
    "explanation",
    "parameters_to_proto",
    "query_page",
    "query_result",
    "release_of_query",
    "require_arrow",
    "stored_query",
    "submission",
    "table_matches",
]

ParameterValue = str | int | Decimal


@dataclass(frozen=True)
class QueryRejection:
    """Why the zone does not allow a query: the rule, and the construct behind it."""

    rule: str
    construct: str = ""

    def __str__(self) -> str:
        return f"{self.rule}({self.construct})" if self.construct else self.rule


@dataclass(frozen=True)
class Explanation:
    """A dry run's answer: would Run release it, under which rule, after which checks."""

    allowed: bool
    view: str
    rule: str
    release_mode: str  # "exact" | "dp" | ""
    rewritten_sql: str
    checks: tuple[str, ...]
    rejections: tuple[QueryRejection, ...]
    notices: tuple[str, ...]
    policy_version: str
    receipt: Receipt
    request_id: str = ""
    client_nonce: str = ""


@dataclass(frozen=True)
class QuerySubmission:
    query_id: str  # "" when rejected
    status: str  # ACCEPTED | PENDING_REVIEW | REJECTED
    rejections: tuple[QueryRejection, ...]
    policy_version: str
    receipt: Receipt
    request_id: str = ""
    client_nonce: str = ""


@dataclass(frozen=True)
class ColumnNoise:
    """How one column of a DP answer was noised: with 95% probability the released value is
    within ``error_bound_95`` of the true one (noise and rounding together)."""

    column: str  # a released column, "<avg>__sum"/"<avg>__count", or "__persons" (threshold)
    mechanism: str  # "discrete_laplace" (OpenDP)
    scale: float
    error_bound_95: float
    epsilon_micro: int
    threshold: int | None = None  # partition selection: the noisy value a cell must reach


@dataclass(frozen=True)
class BudgetLimit:
    """One limit of the organization's privacy budget, in micro-epsilon (1,000,000 = 1.0)."""

    name: str
    limit_micro: int
    spent_micro: int
    left_micro: int


@dataclass(frozen=True)
class BudgetState:
    """The organization's privacy budget on the live dataset version (per day: UTC).
    From :meth:`Client.budget` it carries its receipt (:meth:`Client.verify_answer`)."""

    dataset_version: str
    day: str
    per_query_micro: int
    limits: tuple[BudgetLimit, ...]
    available_micro: int
    receipt: Receipt | None = None
    request_id: str = ""
    client_nonce: str = ""

    @property
    def available(self) -> float:
        """The most the next new query may cost, in epsilon."""
        return self.available_micro / 1_000_000


@dataclass(frozen=True)
class DpInfo:
    """The noise and cost of a DP answer. ``epsilon_spent_micro`` is what this call spent: the
    query's price when it was charged, 0 when the same query's stored answer came back
    (``replayed``: asking again never averages the noise away)."""

    charge_id: str
    epsilon_micro: int
    epsilon_spent_micro: int
    replayed: bool
    noise: tuple[ColumnNoise, ...]
    budget: BudgetState
    delta: float = 0.0  # partition selection (a dimension without a public domain), else 0

    def noise_of(self, column: str) -> ColumnNoise:
        """The noise of ``column`` (``KeyError`` for one without)."""
        for info in self.noise:
            if info.column == column:
                return info
        raise KeyError(column)


@dataclass(frozen=True)
class QueryResult:
    """A released aggregate: ``table`` (suppressed cells null, the row's ``suppressed`` marker
    set), the exact ``arrow_ipc`` bytes it was read from, each column's kind and, for a DP
    answer, ``dp``: its noise and cost (also in ``table``'s Arrow field metadata,
    ``dataward.noise_scale`` and ``dataward.error_bound_95``)."""

    table: pa.Table
    arrow_ipc: bytes
    columns: tuple[tuple[str, str], ...]
    suppressed_cells: int
    policy_version: str
    release_mode: str
    receipt: Receipt
    request_id: str = ""
    client_nonce: str = ""
    dp: DpInfo | None = None


@dataclass(frozen=True)
class StoredQuery:
    """A stored query of the organization, with a steward's decision once there is one:
    ``reviewed``, the ``rejection_reason`` (REJECTED) or the ``conditions`` it runs under
    and the ``runs_left`` (ACCEPTED after review); ``approvals`` given so far of the
    ``approvals_needed`` (2 on a sensitive view) while it is PENDING_REVIEW."""

    query_id: str
    status: str
    view: str
    purpose: str
    sql: str
    rejections: tuple[QueryRejection, ...]
    policy_version: str
    submitted_at: dt.datetime
    reviewed: bool = False
    rejection_reason: str = ""
    conditions: ReviewConditions | None = None
    runs_left: int = 0
    approvals: int = 0
    approvals_needed: int = 0


@dataclass(frozen=True)
class ReviewConditions:
    """A steward's approval: the release mode (``exact`` or ``dp``), the epsilon each run
    spends (0 for exact), until when it may run (UTC) and how many times."""

    mode: str
    epsilon: float
    expires_at: dt.datetime
    max_runs: int


@dataclass(frozen=True)
class QueryPage:
    queries: tuple[StoredQuery, ...]
    next_page_token: str  # "" on the last page


def parameters_to_proto(
    parameters: Mapping[str, ParameterValue] | None,
) -> list[query_pb2.QueryParameter]:
    """Named parameters as wire values; ``TypeError`` for a value of another type (a float
    would lose cents: pass a ``Decimal``)."""
    out: list[query_pb2.QueryParameter] = []
    for name, value in (parameters or {}).items():
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise TypeError(f"parameter {name!r}: a str, int or Decimal (not a float or bool)")
        if isinstance(value, str):
            out.append(query_pb2.QueryParameter(name=name, text=value))
        elif isinstance(value, int):
            out.append(query_pb2.QueryParameter(name=name, integer=value))
        else:
            out.append(query_pb2.QueryParameter(name=name, decimal=str(value)))
    return out


_MODES = {query_pb2.RELEASE_MODE_EXACT: "exact", query_pb2.RELEASE_MODE_DP: "dp"}


def _status(value: int) -> str:
    return query_pb2.QueryStatus.Name(value).removeprefix("QUERY_STATUS_")  # type: ignore[arg-type]


def _rejections(found: object) -> tuple[QueryRejection, ...]:
    return tuple(QueryRejection(r.rule, r.construct) for r in found)  # type: ignore[attr-defined]


def explanation(response: query_pb2.ExplainResponse, nonce: str) -> Explanation:
    return Explanation(
        allowed=response.allowed,
        view=response.view,
        rule=response.rule,
        release_mode=_MODES.get(response.release_mode, ""),
        rewritten_sql=response.rewritten_sql,
        checks=tuple(response.checks),
        rejections=_rejections(response.rejections),
        notices=tuple(response.notices),
        policy_version=response.policy_version,
        receipt=receipt_from_proto(response.receipt),
        request_id=response.receipt.request_id,
        client_nonce=nonce,
    )


def submission(response: query_pb2.SubmitResponse, nonce: str) -> QuerySubmission:
    return QuerySubmission(
        query_id=response.query_id,
        status=_status(response.status),
        rejections=_rejections(response.rejections),
        policy_version=response.policy_version,
        receipt=receipt_from_proto(response.receipt),
        request_id=response.receipt.request_id,
        client_nonce=nonce,
    )


ARROW_MISSING = (
    "query answers are Arrow tables and pyarrow is not installed: pip install 'dataward-sdk[query]'"
)


def require_arrow() -> None:
    """Raise ``ModuleNotFoundError`` (saying what to install) unless pyarrow is importable."""
    try:
        import pyarrow  # noqa: F401
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(ARROW_MISSING, name="pyarrow") from error


def _read_ipc(ipc: bytes) -> pa.Table:
    require_arrow()
    import pyarrow as pa

    return pa.ipc.open_stream(ipc).read_all()


def query_result(response: query_pb2.RunResponse, nonce: str) -> QueryResult:
    ipc = bytes(response.arrow_ipc)
    return QueryResult(
        table=_read_ipc(ipc),
        arrow_ipc=ipc,
        columns=tuple((c.name, c.kind) for c in response.columns),
        suppressed_cells=response.suppressed_cells,
        policy_version=response.policy_version,
        release_mode=_MODES.get(response.release_mode, ""),
        receipt=receipt_from_proto(response.receipt),
        request_id=response.receipt.request_id,
        client_nonce=nonce,
        dp=_dp_info(response.dp) if response.HasField("dp") else None,
    )


def budget_state(
    message: query_pb2.BudgetState, receipt: common_pb2.Receipt | None = None, nonce: str = ""
) -> BudgetState:
    return BudgetState(
        dataset_version=message.dataset_version,
        day=message.day,
        per_query_micro=message.per_query_micro,
        limits=tuple(
            BudgetLimit(lim.name, lim.limit_micro, lim.spent_micro, lim.left_micro)
            for lim in message.limits
        ),
        available_micro=message.available_micro,
        receipt=receipt_from_proto(receipt) if receipt is not None else None,
        request_id=receipt.request_id if receipt is not None else "",
        client_nonce=nonce,
    )


def _dp_info(message: query_pb2.DpRelease) -> DpInfo:
    return DpInfo(
        charge_id=message.charge_id,
        epsilon_micro=message.epsilon_micro,
        epsilon_spent_micro=message.epsilon_spent_micro,
        replayed=message.replayed,
        noise=tuple(
            ColumnNoise(
                n.column,
                n.mechanism,
                n.scale,
                n.error_bound_95,
                n.epsilon_micro,
                n.threshold or None,
            )
            for n in message.noise
        ),
        budget=budget_state(message.budget),
        delta=message.delta,
    )


def stored_query(message: query_pb2.StoredQuery) -> StoredQuery:
    purpose = common_pb2.Purpose.Name(message.purpose).removeprefix("PURPOSE_")
    return StoredQuery(
        query_id=message.query_id,
        status=_status(message.status),
        view=message.view,
        purpose="" if purpose == "UNSPECIFIED" else purpose,
        sql=message.sql,
        rejections=_rejections(message.rejections),
        policy_version=message.policy_version,
        submitted_at=dt.datetime.fromtimestamp(message.submitted_at, tz=dt.UTC),
        reviewed=message.reviewed,
        rejection_reason=message.rejection_reason,
        conditions=_conditions(message.conditions) if message.HasField("conditions") else None,
        runs_left=message.runs_left,
        approvals=message.approvals,
        approvals_needed=message.approvals_needed,
    )


def _conditions(message: query_pb2.ReviewConditions) -> ReviewConditions:
    modes = {query_pb2.RELEASE_MODE_EXACT: "exact", query_pb2.RELEASE_MODE_DP: "dp"}
    return ReviewConditions(
        mode=modes.get(message.mode, ""),
        epsilon=message.epsilon,
        expires_at=dt.datetime.fromtimestamp(message.expires_at, tz=dt.UTC),
        max_runs=message.max_runs,
    )


def query_page(response: query_pb2.QueryServiceListResponse) -> QueryPage:
    return QueryPage(tuple(stored_query(q) for q in response.queries), response.next_page_token)


def table_matches(result: QueryResult) -> bool:
    """``result.table`` is exactly the table its Arrow IPC bytes hold (the bytes the result
    hash covers): an edited table does not verify even with the original bytes beside it."""
    require_arrow()
    import pyarrow as pa

    try:
        return bool(_read_ipc(result.arrow_ipc).equals(result.table))
    except (pa.ArrowInvalid, OSError):
        return False


def release_of_query(
    result: Explanation | QuerySubmission | QueryResult | BudgetState,
) -> tuple[str, receipts.ResultFields]:
    """The method and result fields the zone hashed into the release of ``result``."""
    if isinstance(result, QueryResult):
        dp = result.dp
        return receipts.QUERY_RUN, receipts.query_run_fields(
            arrow_ipc=result.arrow_ipc,
            suppressed_cells=result.suppressed_cells,
            policy_version=result.policy_version,
            release_mode=result.release_mode,
            columns=result.columns,
            dp=None
            if dp is None
            else receipts.dp_run_fields(
                charge_id=dp.charge_id,
                epsilon_micro=dp.epsilon_micro,
                epsilon_spent_micro=dp.epsilon_spent_micro,
                replayed=dp.replayed,
                noise=[
                    receipts.noise_text(
                        column=n.column,
                        mechanism=n.mechanism,
                        scale=n.scale,
                        error_bound_95=n.error_bound_95,
                        epsilon_micro=n.epsilon_micro,
                        threshold=n.threshold,
                    )
                    for n in dp.noise
                ],
                budget_left_micro=dp.budget.available_micro,
                delta=dp.delta,
            ),
        )
    if isinstance(result, BudgetState):
        return receipts.QUERY_BUDGET, receipts.query_budget_fields(
            dataset_version=result.dataset_version,
            day=result.day,
            per_query_micro=result.per_query_micro,
            limits=[
                (lim.name, lim.limit_micro, lim.spent_micro, lim.left_micro)
                for lim in result.limits
            ],
            available_micro=result.available_micro,
        )
    if isinstance(result, QuerySubmission):
        return receipts.QUERY_SUBMIT, receipts.query_submit_fields(
            query_id=result.query_id,
            status=result.status,
            rejections=[str(r) for r in result.rejections],
            policy_version=result.policy_version,
        )
    return receipts.QUERY_EXPLAIN, receipts.query_explain_fields(
        allowed=result.allowed,
        view=result.view,
        rule=result.rule,
        release_mode=result.release_mode,
        rewritten_sql=result.rewritten_sql,
        checks=result.checks,
        rejections=[str(r) for r in result.rejections],
        notices=result.notices,
        policy_version=result.policy_version,
    )

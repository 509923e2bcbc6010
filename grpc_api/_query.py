# ruff: noqa: N802 (method names are the RPC names of the generated base classes)
"""``QueryService``: proto -> :mod:`enclave.analytics` values -> proto, nothing else.

Fields are checked here against their documented limits (a refusal the interceptor logs);
everything about the query itself -- grammar, grants, rules, the gate -- is the zone's
(:class:`enclave.analytics.AggregateQueries`), which logs its own decisions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import grpc

from dataward.v1 import query_pb2, query_pb2_grpc
from enclave.analytics import (
    MAX_QUERY_BYTES,
    AggregateQueries,
    DpRelease,
    Explanation,
    ParameterValue,
    QueryRejection,
    QueryRequest,
    QueryStatus,
    StoredQuery,
)
from enclave.budget import BudgetState
from grpc_api import _convert as convert
from grpc_api._guard import principal_of
from grpc_api._review import conditions_to_proto
from grpc_api._servicers import partner_caller
from grpc_api.errors import InvalidRequest

__all__ = ["QueryServicer"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_QUERY_ID = re.compile(r"qry_[A-Za-z0-9_-]{24}")
MAX_PARAMETERS = 64
MAX_TEXT_PARAMETER = 256
MAX_DECIMAL_CHARACTERS = 40
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50

_STATUS = {
    QueryStatus.ACCEPTED: query_pb2.QUERY_STATUS_ACCEPTED,
    QueryStatus.PENDING_REVIEW: query_pb2.QUERY_STATUS_PENDING_REVIEW,
    QueryStatus.REJECTED: query_pb2.QUERY_STATUS_REJECTED,
}
_MODES = {"exact": query_pb2.RELEASE_MODE_EXACT, "dp": query_pb2.RELEASE_MODE_DP}


def _sql(sql: str) -> str:
    if len(sql.encode("utf-8", "surrogatepass")) > MAX_QUERY_BYTES:
        raise InvalidRequest("sql", f"at most {MAX_QUERY_BYTES} bytes")
    return sql


def _template(name: str) -> str:
    if name and not _NAME.fullmatch(name):
        raise InvalidRequest("template", "a template name: A-Z a-z 0-9 _, at most 64 characters")
    return name


def _query_id(value: str) -> str:
    if value and not _QUERY_ID.fullmatch(value):
        raise InvalidRequest("query_id", "`qry_` and 24 characters, as Submit returned it")
    return value


def _value(parameter: query_pb2.QueryParameter) -> ParameterValue:
    which = parameter.WhichOneof("value")
    if which == "text":
        if len(parameter.text) > MAX_TEXT_PARAMETER:
            raise InvalidRequest("parameters", f"a text value of at most {MAX_TEXT_PARAMETER}")
        return parameter.text
    if which == "integer":
        return int(parameter.integer)
    if which == "decimal":
        text = parameter.decimal
        try:
            number = Decimal(text) if len(text) <= MAX_DECIMAL_CHARACTERS else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise InvalidRequest("parameters", "a decimal value is a finite number, e.g. 12.50")
        return number
    raise InvalidRequest("parameters", "each parameter needs one of text, integer, decimal")


def _parameters(
    parameters: Sequence[query_pb2.QueryParameter],
) -> dict[str, ParameterValue]:
    if len(parameters) > MAX_PARAMETERS:
        raise InvalidRequest("parameters", f"at most {MAX_PARAMETERS}")
    values: dict[str, ParameterValue] = {}
    for parameter in parameters:
        if not _NAME.fullmatch(parameter.name):
            raise InvalidRequest("parameters", "a name: A-Z a-z 0-9 _, at most 64 characters")
        if parameter.name in values:
            raise InvalidRequest("parameters", "each name at most once")
        values[parameter.name] = _value(parameter)
    return values


def _one_of(**given: str) -> None:
    if sum(1 for value in given.values() if value) != 1:
        raise InvalidRequest("/".join(given), f"exactly one of {', '.join(given)}")


def _rejections(found: Sequence[QueryRejection]) -> list[query_pb2.QueryRejection]:
    return [query_pb2.QueryRejection(rule=r.rule, construct=r.construct) for r in found]


def _explanation(value: Explanation) -> query_pb2.ExplainResponse:
    return query_pb2.ExplainResponse(
        allowed=value.allowed,
        view=value.view,
        rule=value.rule,
        release_mode=_MODES.get(value.release_mode, query_pb2.RELEASE_MODE_UNSPECIFIED),
        rewritten_sql=value.rewritten_sql,
        checks=list(value.checks),
        rejections=_rejections(value.rejections),
        notices=list(value.notices),
        policy_version=value.policy_version,
    )


def _stored(stored: StoredQuery) -> query_pb2.StoredQuery:
    message = query_pb2.StoredQuery(
        query_id=stored.query_id,
        status=_STATUS[stored.status],
        view=stored.view,
        purpose=convert.purpose_to_proto(stored.purpose),
        sql=stored.sql,
        rejections=[
            query_pb2.QueryRejection(rule=rule, construct=construct)
            for rule, _, construct in (_split(reason) for reason in stored.reasons)
        ],
        policy_version=stored.policy_version,
        submitted_at=int(stored.submitted_at.timestamp()),
        reviewed=stored.reviewed,
        rejection_reason=stored.rejection.reason if stored.rejection is not None else "",
        runs_left=stored.runs_left,
        approvals=len(stored.approvals),
        approvals_needed=stored.approvals_needed
        if stored.status is QueryStatus.PENDING_REVIEW or stored.approvals
        else 0,
    )
    conditions = stored.conditions
    if conditions is not None:
        message.conditions.CopyFrom(conditions_to_proto(conditions))
    return message


def _budget_state(state: BudgetState) -> query_pb2.BudgetState:
    return query_pb2.BudgetState(
        dataset_version=state.dataset_version,
        day=state.day.isoformat(),
        per_query_micro=state.per_query,
        limits=[
            query_pb2.BudgetLimit(
                name=lim.name, limit_micro=lim.limit, spent_micro=lim.spent, left_micro=lim.left
            )
            for lim in state.limits
        ],
        available_micro=state.available,
    )


def _dp_release(dp: DpRelease) -> query_pb2.DpRelease:
    return query_pb2.DpRelease(
        charge_id=dp.charge_id,
        epsilon_micro=dp.epsilon_micro,
        epsilon_spent_micro=dp.epsilon_spent_micro,
        replayed=dp.replayed,
        noise=[
            query_pb2.NoiseInfo(
                column=info.column,
                mechanism=info.mechanism,
                scale=info.scale,
                error_bound_95=info.error_bound_95,
                epsilon_micro=info.epsilon_micro,
                threshold=info.threshold or 0,
            )
            for info in dp.noise
        ],
        budget=_budget_state(dp.budget),
        delta=dp.delta,
    )


def _split(reason: str) -> tuple[str, str, str]:
    """``RULE(construct)`` -> (rule, "(", construct)."""
    rule, bracket, rest = reason.partition("(")
    return rule, bracket, rest.removesuffix(")")


class QueryServicer(query_pb2_grpc.QueryServiceServicer):
    def __init__(self, queries: AggregateQueries) -> None:
        self._queries = queries

    def Explain(
        self, request: query_pb2.ExplainRequest, context: grpc.ServicerContext
    ) -> query_pb2.ExplainResponse:
        convert.check_fields(client_nonce=request.client_nonce)
        _one_of(sql=request.sql, template=request.template)
        asked = QueryRequest(
            convert.purpose_from_proto(request.purpose).value,
            sql=_sql(request.sql),
            template=_template(request.template),
            parameters=_parameters(request.parameters),
            client_nonce=request.client_nonce,
        )
        answer = self._queries.explain(partner_caller(principal_of(context)), asked)
        response = _explanation(answer.value)
        response.receipt.CopyFrom(
            convert.receipt_to_proto(answer.receipt, request_id=answer.request_id)
        )
        return response

    def Submit(
        self, request: query_pb2.SubmitRequest, context: grpc.ServicerContext
    ) -> query_pb2.SubmitResponse:
        convert.check_fields(client_nonce=request.client_nonce)
        if not request.sql:
            raise InvalidRequest("sql", "required")
        asked = QueryRequest(
            convert.purpose_from_proto(request.purpose).value,
            sql=_sql(request.sql),
            client_nonce=request.client_nonce,
        )
        answer = self._queries.submit(partner_caller(principal_of(context)), asked)
        value = answer.value
        return query_pb2.SubmitResponse(
            query_id=value.query_id,
            status=_STATUS[value.status],
            rejections=_rejections(value.rejections),
            policy_version=value.policy_version,
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )

    def Run(
        self, request: query_pb2.RunRequest, context: grpc.ServicerContext
    ) -> query_pb2.RunResponse:
        convert.check_fields(client_nonce=request.client_nonce)
        _one_of(query_id=request.query_id, sql=request.sql, template=request.template)
        asked = QueryRequest(
            convert.purpose_from_proto(request.purpose).value,
            sql=_sql(request.sql),
            template=_template(request.template),
            query_id=_query_id(request.query_id),
            parameters=_parameters(request.parameters),
            client_nonce=request.client_nonce,
        )
        answer = self._queries.answer(partner_caller(principal_of(context)), asked)
        value = answer.value
        return query_pb2.RunResponse(
            arrow_ipc=value.ipc,
            columns=[query_pb2.ResultColumn(name=n, kind=k) for n, k in value.columns],
            suppressed_cells=value.suppressed_cells,
            policy_version=value.policy_version,
            release_mode=_MODES.get(value.release_mode, query_pb2.RELEASE_MODE_UNSPECIFIED),
            rows=value.table.num_rows,
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
            dp=_dp_release(value.dp) if value.dp is not None else None,
        )

    def GetBudget(
        self, request: query_pb2.GetBudgetRequest, context: grpc.ServicerContext
    ) -> query_pb2.GetBudgetResponse:
        convert.check_fields(client_nonce=request.client_nonce)
        answer = self._queries.budget(
            partner_caller(principal_of(context)), client_nonce=request.client_nonce
        )
        return query_pb2.GetBudgetResponse(
            budget=_budget_state(answer.value),
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )

    def Get(
        self, request: query_pb2.QueryServiceGetRequest, context: grpc.ServicerContext
    ) -> query_pb2.QueryServiceGetResponse:
        if not request.query_id:
            raise InvalidRequest("query_id", "required")
        query_id = _query_id(request.query_id)
        answer = self._queries.get(partner_caller(principal_of(context)), query_id)
        return query_pb2.QueryServiceGetResponse(
            query=_stored(answer.value),
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )

    def List(
        self, request: query_pb2.QueryServiceListRequest, context: grpc.ServicerContext
    ) -> query_pb2.QueryServiceListResponse:
        size = request.page_size or DEFAULT_PAGE_SIZE
        if size > MAX_PAGE_SIZE:
            raise InvalidRequest("page_size", f"1..{MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE})")
        if len(request.page_token) > 32:
            raise InvalidRequest("page_token", "not a token a previous List answer gave")
        answer = self._queries.list(
            partner_caller(principal_of(context)),
            page_size=size,
            page_token=request.page_token,
        )
        return query_pb2.QueryServiceListResponse(
            queries=[_stored(q) for q in answer.value.queries],
            next_page_token=answer.value.next_token,
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )

"""``StewardService``'s review calls: proto <-> :mod:`enclave.analytics` review values.

Fields are checked here against their documented formats (a refusal the interceptor logs);
what a steward may decide -- pending or not, two-person, own submission, the conditions'
ranges -- is the zone's (:class:`enclave.analytics.QueryReviews`), which logs its decisions.
The steward is the token's ``sub`` (:func:`reviewer_caller`), never the portal's client alone.
"""

from __future__ import annotations

import re

from dataward.v1 import query_pb2, steward_pb2
from enclave.analytics import (
    Approval,
    Conditions,
    ConditionsAsked,
    QueryReview,
    QueryStatus,
)
from enclave.release import Caller
from grpc_api import _convert as convert
from grpc_api._tokens import Principal
from grpc_api.errors import InvalidRequest

__all__ = [
    "MAX_PAGE_SIZE",
    "STATUS",
    "asked_conditions",
    "checked_query_id",
    "checked_reason",
    "conditions_to_proto",
    "page_size",
    "review_to_proto",
    "reviewer_caller",
]

_QUERY_ID = re.compile(r"qry_[A-Za-z0-9_-]{24}")
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
MAX_REASON_BYTES = 4000

STATUS = {
    QueryStatus.ACCEPTED: query_pb2.QUERY_STATUS_ACCEPTED,
    QueryStatus.PENDING_REVIEW: query_pb2.QUERY_STATUS_PENDING_REVIEW,
    QueryStatus.REJECTED: query_pb2.QUERY_STATUS_REJECTED,
}
_MODES = {"exact": query_pb2.RELEASE_MODE_EXACT, "dp": query_pb2.RELEASE_MODE_DP}
_ASKED_MODES = {
    query_pb2.RELEASE_MODE_UNSPECIFIED: "",
    query_pb2.RELEASE_MODE_EXACT: "exact",
    query_pb2.RELEASE_MODE_DP: "dp",
}


def reviewer_caller(principal: Principal) -> Caller:
    """A steward as the zone sees them: the client they call through, their organization, and
    the human -- the token's ``sub`` (``user:<id>`` for the portal's steward pages) -- whom
    the zone audits and compares (two-person rule, own submissions)."""
    return Caller(principal.client_id, principal.organization, subject=principal.subject)


def checked_query_id(value: str) -> str:
    if not _QUERY_ID.fullmatch(value):
        raise InvalidRequest("query_id", "required: `qry_` and 24 characters")
    return value


def page_size(value: int, token: str) -> int:
    size = value or DEFAULT_PAGE_SIZE
    if size > MAX_PAGE_SIZE:
        raise InvalidRequest("page_size", f"1..{MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE})")
    if len(token) > 32:
        raise InvalidRequest("page_token", "not a token a previous answer gave")
    return size


def checked_reason(reason: str) -> str:
    """The bytes limit only; the zone checks the characters (a logged denial)."""
    if len(reason.encode("utf-8", "surrogatepass")) > MAX_REASON_BYTES:
        raise InvalidRequest("reason", f"at most {MAX_REASON_BYTES} bytes of UTF-8")
    return reason


def asked_conditions(conditions: query_pb2.ReviewConditions) -> ConditionsAsked:
    mode = _ASKED_MODES.get(conditions.mode)
    if mode is None:
        raise InvalidRequest("conditions.mode", "RELEASE_MODE_EXACT, RELEASE_MODE_DP or unset")
    return ConditionsAsked(
        mode=mode,
        epsilon=float(conditions.epsilon),
        expires_at=int(conditions.expires_at),
        max_runs=int(conditions.max_runs),
    )


def conditions_to_proto(conditions: Conditions) -> query_pb2.ReviewConditions:
    return query_pb2.ReviewConditions(
        mode=_MODES[conditions.mode],
        epsilon=conditions.epsilon_micro / 1_000_000,
        expires_at=int(conditions.expires_at.timestamp()),
        max_runs=conditions.max_runs,
    )


def _approval(approval: Approval) -> steward_pb2.ReviewApproval:
    return steward_pb2.ReviewApproval(
        steward=approval.reviewer.subject,
        organization=approval.reviewer.organization,
        approved_at=int(approval.at.timestamp()),
        conditions=conditions_to_proto(approval.conditions),
    )


def review_to_proto(review: QueryReview) -> steward_pb2.QueryReview:
    stored = review.query
    rejection = stored.rejection
    return steward_pb2.QueryReview(
        query_id=stored.query_id,
        organization=stored.organization,
        client_id=stored.client_id,
        purpose=convert.purpose_to_proto(stored.purpose),
        view=stored.view,
        sql=stored.sql,
        submitted_at=int(stored.submitted_at.timestamp()),
        policy_version=stored.policy_version,
        rejections=[
            query_pb2.QueryRejection(rule=r.rule, construct=r.construct) for r in review.rejections
        ],
        columns=list(review.columns),
        cells=review.cells,
        checks=list(review.checks),
        default_mode=_MODES.get(review.default_mode, query_pb2.RELEASE_MODE_UNSPECIFIED),
        default_epsilon=review.default_epsilon_micro / 1_000_000,
        two_person=review.two_person,
        approvals=[_approval(a) for a in stored.approvals],
        status=STATUS[stored.status],
        rejection_reason=rejection.reason if rejection is not None else "",
        rejected_by=rejection.reviewer.subject if rejection is not None else "",
        rejected_at=int(rejection.at.timestamp()) if rejection is not None else 0,
        approvals_needed=review.approvals_needed,
    )

"""The steward's review of submitted queries, as calls to the zone's ``StewardService``.

Each call goes through :func:`portal._zone_calls.call_steward_service`: a fresh
``steward:admin`` token minted for THE signed-in steward, so the zone authorizes the review,
refuses a steward's approval of their own submission or a second approval by the same steward,
and audits it under that steward's name. What the zone answers is turned into frozen values
here (the portal keeps no copy of a query; every page reads the zone again).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from decimal import Decimal

from dataward.v1 import common_pb2, query_pb2, steward_pb2
from portal._portal import Portal
from portal._review_forms import Conditions
from portal._views import UserView
from portal._zone_calls import call_steward_service

__all__ = [
    "Approval",
    "Decision",
    "PendingPage",
    "QueryReview",
    "Rejection",
    "approve_query",
    "get_query_review",
    "list_pending_queries",
    "reject_query",
    "steward_subject",
]

_MODE_NAMES = {query_pb2.RELEASE_MODE_EXACT: "exact", query_pb2.RELEASE_MODE_DP: "dp"}
_MODES = {name: value for value, name in _MODE_NAMES.items()}
_PAGE_SIZE = 50
# The rules a pending query can fail, in a steward's words (query_engine names them).
_RULE_WORDS = {
    "RULE_NOT_AD_HOC": "the view allows only the templates a steward approved, and this is "
    "not one of them: ad-hoc SQL over it runs only with a steward's approval",
    "TOO_MANY_GROUP_KEYS": "it groups by more dimensions than the view's rule allows",
    "TOO_MANY_CELLS": "its answer's grid has more cells than the view's row cap",
    "DIMENSION_NOT_ALLOWED": "it groups by a column the rule does not offer as a dimension",
    "WHERE_COLUMN_NOT_ALLOWED": "it filters on a column the rule does not allow in WHERE",
    "OPERATOR_NOT_ALLOWED": "it uses a comparison the rule does not allow",
    "AGGREGATE_NOT_ALLOWED": "it aggregates a measure in a way the rule does not allow",
}


@dataclass(frozen=True)
class Rejection:
    """Which automatic rule the query fails (``rule``), and the construct behind it."""

    rule: str
    construct: str

    def __str__(self) -> str:
        return f"{self.rule}({self.construct})" if self.construct else self.rule

    @property
    def why(self) -> str:
        """The rule in words (the policy's rule of that name where the portal has none)."""
        return _RULE_WORDS.get(self.rule, "see this rule of the view in the policy in force")


@dataclass(frozen=True)
class Approval:
    """One steward's approval: ``steward`` is the zone's name for them (the ``sub`` of their
    token, ``user:<id>``), ``username`` the portal account it names (``""`` if none)."""

    steward: str
    username: str
    approved_at: dt.datetime
    mode: str
    epsilon: Decimal
    expires_at: dt.datetime
    max_runs: int


@dataclass(frozen=True)
class QueryReview:
    """A submission as the zone analysed it: who sent it, its SQL (text, shown escaped), the
    rules it fails, the columns and cells it touches, the checks the gate applies, what it
    would cost, and the approvals so far."""

    query_id: str
    organization: str
    client_id: str
    purpose: str
    view: str
    sql: str
    submitted_at: dt.datetime
    policy_version: str
    rejections: tuple[Rejection, ...]
    columns: tuple[str, ...]
    cells: int
    checks: tuple[str, ...]
    default_mode: str
    default_epsilon: Decimal
    two_person: bool
    approvals: tuple[Approval, ...]
    approvals_needed: int
    status: str
    rejection_reason: str
    rejected_by: str
    rejected_at: dt.datetime | None

    def approved_by(self, user: UserView) -> bool:
        return any(a.steward == steward_subject(user) for a in self.approvals)


@dataclass(frozen=True)
class Decision:
    """The zone's answer to an approval or a rejection."""

    status: str
    approvals: int
    approvals_needed: int


def _nonce() -> str:
    # As the SDK does: a fresh value hashed into the release leaf of each answer.
    return secrets.token_urlsafe(24)


def steward_subject(user: UserView) -> str:
    """The zone's name for a steward: the ``sub`` of the tokens the portal mints for them."""
    return f"user:{user.id}"


def _when(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _status(value: int) -> str:
    return query_pb2.QueryStatus.Name(value).removeprefix("QUERY_STATUS_")  # type: ignore[arg-type]


def _purpose(value: int) -> str:
    name = common_pb2.Purpose.Name(value)  # type: ignore[arg-type]
    return "" if name == "PURPOSE_UNSPECIFIED" else name.removeprefix("PURPOSE_")


def _username(portal: Portal, subject: str) -> str:
    """The portal account a zone subject ``user:<id>`` names (``""`` for any other)."""
    kind, _, number = subject.partition(":")
    if kind != "user" or not number.isdigit() or len(number) > 18:
        return ""
    user = portal.admin.get_user(int(number))
    return user.username if user is not None else ""


def _approval(portal: Portal, message: steward_pb2.ReviewApproval) -> Approval:
    conditions = message.conditions
    return Approval(
        steward=message.steward,
        username=_username(portal, message.steward),
        approved_at=_when(message.approved_at),
        mode=_MODE_NAMES.get(conditions.mode, "the view's"),
        epsilon=Decimal(repr(conditions.epsilon)),
        expires_at=_when(conditions.expires_at),
        max_runs=conditions.max_runs,
    )


def _review(portal: Portal, message: steward_pb2.QueryReview) -> QueryReview:
    return QueryReview(
        query_id=message.query_id,
        organization=message.organization,
        client_id=message.client_id,
        purpose=_purpose(message.purpose),
        view=message.view,
        sql=message.sql,
        submitted_at=_when(message.submitted_at),
        policy_version=message.policy_version,
        rejections=tuple(Rejection(r.rule, r.construct) for r in message.rejections),
        columns=tuple(message.columns),
        cells=message.cells,
        checks=tuple(message.checks),
        default_mode=_MODE_NAMES.get(message.default_mode, "dp"),
        default_epsilon=Decimal(repr(message.default_epsilon)),
        two_person=message.two_person,
        approvals=tuple(_approval(portal, a) for a in message.approvals),
        approvals_needed=message.approvals_needed,
        status=_status(message.status),
        rejection_reason=message.rejection_reason,
        rejected_by=_username(portal, message.rejected_by) or message.rejected_by,
        rejected_at=_when(message.rejected_at) if message.rejected_at else None,
    )


@dataclass(frozen=True)
class PendingPage:
    queries: tuple[QueryReview, ...]
    next_page_token: str  # "" on the last page


def list_pending_queries(portal: Portal, user: UserView, page_token: str = "") -> PendingPage:
    """``StewardService.ListPendingQueries`` as ``user``: a page of the submissions awaiting
    review, oldest first (``page_token`` from the previous page; the zone checks it)."""
    request = steward_pb2.ListPendingQueriesRequest(
        page_size=_PAGE_SIZE, page_token=page_token, client_nonce=_nonce()
    )
    got: steward_pb2.ListPendingQueriesResponse = call_steward_service(
        portal, user, lambda s: s.ListPendingQueries, request
    )
    return PendingPage(tuple(_review(portal, q) for q in got.queries), got.next_page_token)


def get_query_review(portal: Portal, user: UserView, query_id: str) -> QueryReview:
    """``StewardService.GetQueryReview`` as ``user``."""
    got: steward_pb2.GetQueryReviewResponse = call_steward_service(
        portal,
        user,
        lambda s: s.GetQueryReview,
        steward_pb2.GetQueryReviewRequest(query_id=query_id, client_nonce=_nonce()),
    )
    return _review(portal, got.review)


def approve_query(
    portal: Portal, user: UserView, query_id: str, conditions: Conditions
) -> Decision:
    """``StewardService.ApproveQuery`` as ``user``, with ``conditions``."""
    request = steward_pb2.ApproveQueryRequest(
        query_id=query_id,
        conditions=query_pb2.ReviewConditions(
            mode=_MODES[conditions.mode],
            epsilon=float(conditions.epsilon),
            expires_at=int(conditions.expires_at.timestamp()),
            max_runs=conditions.max_runs,
        ),
        client_nonce=_nonce(),
    )
    got: steward_pb2.ApproveQueryResponse = call_steward_service(
        portal, user, lambda s: s.ApproveQuery, request
    )
    return Decision(_status(got.status), got.approvals, got.approvals_needed)


def reject_query(portal: Portal, user: UserView, query_id: str, reason: str) -> Decision:
    """``StewardService.RejectQuery`` as ``user``: ``reason`` is what the partner reads."""
    request = steward_pb2.RejectQueryRequest(
        query_id=query_id, reason=reason, client_nonce=_nonce()
    )
    got: steward_pb2.RejectQueryResponse = call_steward_service(
        portal, user, lambda s: s.RejectQuery, request
    )
    return Decision(_status(got.status), 0, 1)

"""Errors of the aggregate query path (part of the zone's one tree, :mod:`enclave.errors`)::

    ZoneError
    └── AnalyticsError              the query path releases nothing for this query
        ├── QueryRejected           outside the restricted SQL or the view's rule; ``rule``
        │                           names the rejection (COLUMN_HIDDEN, ...), ``construct``
        │                           the grammar element or column behind it
        ├── ViewNotGranted          no grant of the view to the organization and purpose --
        │                           or no such view: the two answers are the same
        ├── DpModeRequired          a dp answer in a zone that keeps no privacy-budget ledger
        ├── QueryNotRun             the engine stopped it (time or memory limit, or a failure)
        ├── QueryNotFound           no stored query of the caller's organization has the id
        ├── QueryNotRunnable        the stored query is not ACCEPTED under the policy in force
        │   ├── ApprovalExpired     a reviewed query's approval has expired
        │   └── RunsExhausted       a reviewed query used every run its approval allows
        ├── InvalidPageToken        a List page token this zone did not give
        ├── ReviewFieldInvalid      a condition or the rejection reason out of range (``field``)
        └── ReviewRefused           a steward's review decision the zone does not take
            ├── QueryNotPending     not PENDING_REVIEW, or judged under an earlier policy
            ├── ReviewSameSteward   this steward already approved it (two-person rule)
            └── ReviewOwnSubmission the steward or their organization submitted it

Each is a refusal: :class:`enclave.release.Releaser` logs its ``reason`` in a denying
decision leaf before it is raised. Public messages name rules, constructs and columns (which
come from the grammar or the policy), never a literal, a parameter value or a row.
"""

from __future__ import annotations

from typing import ClassVar

from enclave.errors import ZoneError

__all__ = [
    "AnalyticsError",
    "ApprovalExpired",
    "DpModeRequired",
    "InvalidPageToken",
    "QueryNotFound",
    "QueryNotPending",
    "QueryNotRun",
    "QueryNotRunnable",
    "QueryRejected",
    "ReviewFieldInvalid",
    "ReviewOwnSubmission",
    "ReviewRefused",
    "ReviewSameSteward",
    "RunsExhausted",
    "ViewNotGranted",
]


class AnalyticsError(ZoneError):
    reason: ClassVar[str] = "INTERNAL"
    default_message = "the query could not be answered"


class QueryRejected(AnalyticsError):  # noqa: N818 (API names)
    """The query is not allowed: ``rule`` is the rejection's code, ``construct`` its element."""

    reason: ClassVar[str] = "QUERY_REJECTED"

    def __init__(self, rule: str = "PARSE_ERROR", construct: str = "") -> None:
        self.rule = rule
        self.construct = construct
        named = f"{rule}({construct})" if construct else rule
        super().__init__(f"query rejected: {named}")


class ViewNotGranted(AnalyticsError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "VIEW_NOT_GRANTED"
    default_message = "the view is not granted to this organization for this purpose"


class QueryNotRun(AnalyticsError):  # noqa: N818 (API names)
    """The engine did not finish the query (its limits, or a failure): nothing is released,
    and the refusal is a logged decision like any other, never an unlogged fault."""

    reason: ClassVar[str] = "UNAVAILABLE"
    retry_after: float = 1.0
    default_message = "the query did not finish within the zone's limits; narrow it or retry"


class DpModeRequired(AnalyticsError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "DP_MODE_REQUIRED"
    default_message = (
        "this answer releases only with differential privacy, and this zone keeps no "
        "privacy-budget ledger; Explain still works"
    )


class QueryNotFound(AnalyticsError):  # noqa: N818 (API names)
    """No stored query of the caller's organization has this id (another organization's
    queries are not found either: their ids reveal nothing)."""

    reason: ClassVar[str] = "QUERY_NOT_FOUND"
    default_message = "no stored query of this organization has this id"


class QueryNotRunnable(AnalyticsError):  # noqa: N818 (API names)
    """The stored query cannot run: not ACCEPTED, accepted under an earlier policy or for
    another purpose (the message says which)."""

    reason: ClassVar[str] = "QUERY_NOT_RUNNABLE"
    default_message = "the stored query cannot run now"


class InvalidPageToken(AnalyticsError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "FIELD_INVALID"
    field = "page_token"
    default_message = "page_token: not a token a previous List answer gave"


class ApprovalExpired(QueryNotRunnable):
    reason: ClassVar[str] = "QUERY_APPROVAL_EXPIRED"
    default_message = "the steward's approval of the stored query has expired: submit it again"


class RunsExhausted(QueryNotRunnable):
    reason: ClassVar[str] = "QUERY_RUNS_EXHAUSTED"
    default_message = "the stored query has used every run its approval allows: submit it again"


class ReviewFieldInvalid(AnalyticsError):  # noqa: N818 (API names)
    """An approval's condition or a rejection's reason out of range: ``field`` names it
    (``conditions.epsilon``, ``reason``); the message says the range, never the value."""

    reason: ClassVar[str] = "FIELD_INVALID"

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        super().__init__(f"field {field!r}: {rule}")


class ReviewRefused(AnalyticsError):  # noqa: N818 (API names)
    """A steward's decision on a submitted query that the zone does not take."""


class QueryNotPending(ReviewRefused):
    reason: ClassVar[str] = "QUERY_NOT_PENDING"
    default_message = "the query is not pending review"


class ReviewSameSteward(ReviewRefused):
    reason: ClassVar[str] = "REVIEW_SAME_STEWARD"
    default_message = (
        "this steward already approved the query: its view is sensitive, so a second approval "
        "must come from a different steward"
    )


class ReviewOwnSubmission(ReviewRefused):
    reason: ClassVar[str] = "REVIEW_OWN_SUBMISSION"
    default_message = (
        "the query was submitted by this steward or the steward's organization: nobody reviews "
        "their own submission"
    )

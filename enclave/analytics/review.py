"""Steward review of submitted queries (issue 11): list, read, approve, reject.

:class:`QueryReviews` answers ``StewardService``'s review calls, each through the release
skeleton under one policy snapshot: the request leaf (naming the client AND the steward,
:attr:`enclave.release.Caller.audited_as`), the zone's checks, then either a logged refusal
or the release with its receipt. A decision is also a ``steward_action`` leaf naming the
steward (the token's ``sub``), durable before the decision commits in the store
(:class:`~enclave.analytics._store.SqliteQueryStore`, append-only).

The rules (each refusal a logged denial):

- only a query PENDING_REVIEW under the policy in force can be decided
  (:class:`QueryNotPending`: one judged under an earlier policy would never run);
- nobody decides on a query their own organization submitted, or that they submitted
  (:class:`ReviewOwnSubmission`);
- a view the policy flags ``sensitive: true`` needs the approvals of two DIFFERENT stewards:
  the first keeps the query PENDING_REVIEW, the second accepts it; the same steward approving
  again is :class:`ReviewSameSteward`. One rejection, by any steward, rejects it;
- an approval's conditions (:class:`ConditionsAsked`): the release ``mode`` (empty: the
  policy's mode for the submitter, :meth:`policies.Policy.release_for` -- the view's, DP where
  their grant demands it, exact for templates; a steward may require ``dp`` on an exact view,
  and ``exact`` on a DP view is an explicit steward decision, recorded with the approval and
  its audit leaf), ``epsilon`` in [0.001, the per-query limit] for DP (0: the view rule's) and 0
  for exact, an expiry in the future (at most :data:`MAX_LIFETIME` ahead) and
  1..:data:`MAX_RUNS` runs (:class:`ReviewFieldInvalid` naming the field). Two approvals
  combine strictest (:attr:`StoredQuery.conditions`).

The rejection reason is free text the partner reads (``QueryService.Get``): sealed at rest,
never logged. Which submissions reach review is :mod:`enclave.analytics._reviewable`'s.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NoReturn, Protocol, TypeVar

import query_engine
from dataward import receipts
from enclave.analytics._reviewable import Analysis, analyse
from enclave.analytics._store import (
    QUERY_ID,
    Conditions,
    Mode,
    QueryStatus,
    Reviewer,
    SqliteQueryStore,
    StoredQuery,
)
from enclave.analytics.errors import (
    AnalyticsError,
    InvalidPageToken,
    QueryNotFound,
    QueryNotPending,
    ReviewFieldInvalid,
)
from enclave.analytics.interface import PolicySource
from enclave.analytics.pipeline import (
    QueryRejection,
    describe_checks,
    public_construct,
)
from enclave.errors import ZoneError
from enclave.persons import Answer
from enclave.release import AuditTrail, Caller, Releaser, Request, answers
from policies import AggregationRule, Policy, View

__all__ = [
    "MAX_LIFETIME",
    "MAX_REASON_CHARACTERS",
    "MAX_RUNS",
    "REVIEW_APPROVE",
    "REVIEW_GET",
    "REVIEW_LIST",
    "REVIEW_REJECT",
    "ConditionsAsked",
    "QueryReview",
    "QueryReviews",
    "ReviewDecision",
    "ReviewPage",
    "ReviewTrail",
]

REVIEW_LIST = receipts.REVIEW_LIST
REVIEW_GET = receipts.REVIEW_GET
REVIEW_APPROVE = receipts.REVIEW_APPROVE
REVIEW_REJECT = receipts.REVIEW_REJECT

MAX_LIFETIME = dt.timedelta(days=366)
"""The furthest ahead an approval may expire."""
MAX_RUNS = 10_000
"""The most runs one approval may allow."""
MAX_REASON_CHARACTERS = 1000
"""The longest rejection reason."""
MICRO = 1_000_000
#: The least epsilon a DP approval may give a run (as a policy rule: shared across columns).
MIN_EPSILON_MICRO = 1_000
_V = TypeVar("_V")
_PAGE_TOKEN = re.compile(r"p[0-9]{1,18}")


class ReviewTrail(AuditTrail, Protocol):
    """The release skeleton's trail, plus the ``steward_action`` leaf of a decision."""

    def steward_action(self, *, steward: str, action: str, target: str, detail: str) -> None:
        """Log the action (durable on return)."""


@dataclass(frozen=True)
class ConditionsAsked:
    """An approval's conditions as the steward sent them: ``mode`` ``exact``, ``dp`` or empty
    (the view's), ``epsilon`` (0: the default for DP), ``expires_at`` (seconds since the Unix
    epoch) and ``max_runs``."""

    mode: str = ""
    epsilon: float = 0.0
    expires_at: int = 0
    max_runs: int = 0


@dataclass(frozen=True)
class QueryReview:
    """A stored query with what a steward reads before deciding (see ``QueryReview`` in
    steward.proto). The analysis is of the query under the policy in force; for a query whose
    view that policy no longer has, it is empty."""

    query: StoredQuery
    rejections: tuple[QueryRejection, ...]
    columns: tuple[str, ...]
    cells: int
    checks: tuple[str, ...]
    default_mode: str
    default_epsilon_micro: int
    two_person: bool
    approvals_needed: int


@dataclass(frozen=True)
class ReviewPage:
    """Pending queries, oldest first; ``next_token`` empty on the last page."""

    reviews: tuple[QueryReview, ...]
    next_token: str


@dataclass(frozen=True)
class ReviewDecision:
    """A decision taken: the query's status after it, its approvals so far and needed, and
    (for an approval) the conditions it recorded."""

    query_id: str
    status: QueryStatus
    approvals: int
    approvals_needed: int
    conditions: Conditions | None = None


def reviewer_of(caller: Caller) -> Reviewer:
    """The steward behind ``caller``: its subject, or the client when it acts for itself."""
    return Reviewer(caller.subject or caller.client_id, caller.organization, caller.client_id)


@dataclass(frozen=True)
class _Call:
    policy: Policy
    release: Releaser
    request: Request

    def refuse(self, refusal: ZoneError) -> NoReturn:
        self.release.refuse(self.request, refusal)


class QueryReviews:
    """The zone's side of ``StewardService``'s review calls (see the module docstring).

    ``max_epsilon_micro`` is the per-query limit of the privacy budget (an approval cannot
    spend more per run); ``default_epsilon_micro`` what a DP approval without an explicit
    epsilon spends; ``limits`` the engine's, for the checks a steward reads.
    """

    def __init__(
        self,
        policies: PolicySource,
        store: SqliteQueryStore,
        audit: ReviewTrail,
        limits: query_engine.ExecutionLimits,
        *,
        max_epsilon_micro: int = MICRO,
        default_epsilon_micro: int = MICRO,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        if not 1 <= default_epsilon_micro <= max_epsilon_micro:
            raise ValueError("default_epsilon_micro must be in 1..max_epsilon_micro")
        self._policies = policies
        self._store = store
        self._audit = audit
        self._limits = limits
        self._max_epsilon = max_epsilon_micro
        self._default_epsilon = default_epsilon_micro
        self._clock = clock

    def _begin(self, caller: Caller, method: str, *, effects: bool = False) -> _Call:
        policy = self._policies.current()  # one snapshot for the whole answer
        release = Releaser(self._audit, policy.version)
        request = release.begin(caller, method)
        # Durable first where the call has effects: an approval or rejection is a
        # steward_action and a stored decision after its request leaf; the decision and
        # release follow in one commit. A read (list, get) is ONE commit (issue 15).
        return _Call(policy, release, release.log_now(request) if effects else request)

    def _released(
        self, call: _Call, value: _V, fields: receipts.ResultFields, client_nonce: str
    ) -> Answer[_V]:
        receipt = call.release.release(call.request, fields, client_nonce=client_nonce)
        return Answer(value, receipt, call.request.request_id)

    def _stored(self, call: _Call, query_id: str) -> StoredQuery:
        found = self._store.find(query_id) if QUERY_ID.fullmatch(query_id) else None
        if found is None:
            call.refuse(QueryNotFound("no stored query has this id"))
        return found

    # -- reads ------------------------------------------------------------------------------------
    @answers
    def pending(
        self, caller: Caller, *, page_size: int, page_token: str = "", client_nonce: str = ""
    ) -> Answer[ReviewPage]:
        """A page of the queries PENDING_REVIEW under the policy in force, oldest first, each
        with its analysis. ``page_size`` 1..100; ``page_token`` empty or from the previous
        page (anything else is :class:`InvalidPageToken`)."""
        call = self._begin(caller, REVIEW_LIST)
        after = 0
        if page_token:
            if not _PAGE_TOKEN.fullmatch(page_token):
                call.refuse(InvalidPageToken())
            after = int(page_token[1:])
        rows = self._store.pending(call.policy.version, limit=page_size + 1, after=after)
        page = rows[:page_size]
        token = f"p{page[-1].seq}" if len(rows) > page_size and page else ""
        reviews = tuple(self._review(call.policy, stored) for stored in page)
        fields = receipts.review_list_fields(query_ids=[q.query_id for q in page])
        return self._released(call, ReviewPage(reviews, token), fields, client_nonce)

    @answers
    def review(self, caller: Caller, query_id: str, client_nonce: str = "") -> Answer[QueryReview]:
        """One stored query (any organization's, any status) with its analysis and the
        decisions taken on it; :class:`QueryNotFound` for an unknown id."""
        call = self._begin(caller, REVIEW_GET)
        stored = self._stored(call, query_id)
        review = self._review(call.policy, stored)
        fields = receipts.review_get_fields(
            query_id=stored.query_id,
            status=stored.status.value,
            approvals=[a.reviewer.subject for a in stored.approvals],
            policy_version=stored.policy_version,
        )
        return self._released(call, review, fields, client_nonce)

    def _review(self, policy: Policy, stored: StoredQuery) -> QueryReview:
        view = policy.views.get(stored.view)
        stored = replace(stored, approvals_needed=_needed(view) if view is not None else 1)
        rejections = tuple(_rejection(reason) for reason in stored.reasons)
        analysis: Analysis | None = None
        mode, epsilon = self._defaults(policy, stored, view) if view else ("exact", 0)
        if view is not None:
            try:
                analysis = analyse(query_engine.parse(stored.sql), view, mode)
            except query_engine.QueryRejected:  # stored under another grammar: nothing to say
                analysis = None
        if view is None or analysis is None:
            return QueryReview(stored, rejections, (), 0, (), "", 0, False, 1)
        return QueryReview(
            query=stored,
            rejections=rejections,
            columns=analysis.columns,
            cells=analysis.cells,
            checks=describe_checks(analysis.rule, view, analysis.measures, self._limits),
            default_mode=mode,
            default_epsilon_micro=epsilon,
            two_person=view.sensitive,
            approvals_needed=_needed(view),
        )

    # -- decisions --------------------------------------------------------------------------------
    @answers
    def approve(
        self, caller: Caller, query_id: str, asked: ConditionsAsked, client_nonce: str = ""
    ) -> Answer[ReviewDecision]:
        """Record the caller's approval of ``query_id`` under ``asked`` (see the module
        docstring); ACCEPTED once the view's number of approvals is reached."""
        call = self._begin(caller, REVIEW_APPROVE, effects=True)
        stored = self._stored(call, query_id)
        view = self._decidable_view(call, stored)
        conditions = self._conditions(call, asked, stored, view)
        reviewer = reviewer_of(caller)
        needed = _needed(view)
        try:
            after = self._store.approve(
                query_id,
                reviewer,
                conditions,
                needed=needed,
                policy_version=call.policy.version,
                now=self._clock(),
                record=self._recorder(call, reviewer, "approve_query"),
            )
        except AnalyticsError as refused:
            call.refuse(refused)
        decision = ReviewDecision(query_id, after.status, len(after.approvals), needed, conditions)
        fields = receipts.review_approve_fields(
            query_id=query_id,
            status=after.status.value,
            approvals=len(after.approvals),
            approvals_needed=needed,
            conditions=conditions_fields(conditions),
        )
        return self._released(call, decision, fields, client_nonce)

    @answers
    def reject(
        self, caller: Caller, query_id: str, reason: str, client_nonce: str = ""
    ) -> Answer[ReviewDecision]:
        """Record the caller's rejection of ``query_id`` with ``reason`` (the partner reads
        it; sealed, never logged): the query is REJECTED."""
        call = self._begin(caller, REVIEW_REJECT, effects=True)
        stored = self._stored(call, query_id)
        view = self._decidable_view(call, stored)
        text = reason.strip()
        if not text or len(text) > MAX_REASON_CHARACTERS or not text.isprintable():
            call.refuse(
                ReviewFieldInvalid(
                    "reason", f"required, 1..{MAX_REASON_CHARACTERS} printable characters"
                )
            )
        reviewer = reviewer_of(caller)
        try:
            after = self._store.reject(
                query_id,
                reviewer,
                text,
                policy_version=call.policy.version,
                now=self._clock(),
                record=self._recorder(call, reviewer, "reject_query"),
            )
        except AnalyticsError as refused:
            call.refuse(refused)
        decision = ReviewDecision(query_id, after.status, len(after.approvals), _needed(view))
        fields = receipts.review_reject_fields(query_id=query_id, status=after.status.value)
        return self._released(call, decision, fields, client_nonce)

    def _decidable_view(self, call: _Call, stored: StoredQuery) -> View:
        """The view of a query that can be decided now (the store checks again, atomically)."""
        if stored.status is not QueryStatus.PENDING_REVIEW:
            call.refuse(QueryNotPending(f"the query is {stored.status.value}, not pending review"))
        view = call.policy.views.get(stored.view)
        if view is None or stored.policy_version != call.policy.version:
            call.refuse(
                QueryNotPending(
                    "the query was judged under a policy no longer in force: the partner must "
                    "submit it again"
                )
            )
        return view

    def _recorder(
        self, call: _Call, reviewer: Reviewer, action: str
    ) -> Callable[[StoredQuery], None]:
        def record(after: StoredQuery) -> None:
            self._audit.steward_action(
                steward=reviewer.subject,
                action=action,
                target=after.query_id,
                detail=f"{call.request.request_id}/{after.status.value}",
            )

        return record

    def _defaults(self, policy: Policy, stored: StoredQuery, view: View) -> tuple[Mode, int]:
        """The release mode and epsilon an approval of ``stored`` gives without explicit ones:
        the policy's mode for the submitter (the view's, or DP where their grant demands it;
        templates release exactly) and, for DP, the view rule's epsilon per query (a template
        view's: the default), never past the per-query limit. For exact, 0."""
        mode = policy.release_for(stored.organization, stored.purpose, view.name)
        if mode != "dp":
            return "exact", 0
        rule = view.rule
        epsilon = rule.epsilon_micro if isinstance(rule, AggregationRule) else self._default_epsilon
        return "dp", min(epsilon, self._max_epsilon)

    def _exact_allowed(self, call: _Call, stored: StoredQuery, view: View) -> None:
        """Refuse an exact approval the policy cannot allow: one for an organization and
        purpose whose grant demands dp (only the policy relaxes a grant, never one steward),
        or of a query grouping by a dimension without a public domain (only dp selects the
        cells of such a dimension; exact release needs the whole grid)."""
        if call.policy.demands_dp(stored.organization, stored.purpose):
            call.refuse(
                ReviewFieldInvalid(
                    "conditions.mode",
                    "dp: the policy's grant releases to this organization and purpose only "
                    "with differential privacy (exact needs a policy change)",
                )
            )
        try:
            query = query_engine.parse(stored.sql)
        except query_engine.QueryRejected:
            return  # a query that does not parse was never pending; the run refuses it
        columns = {name.lower(): column for name, column in view.columns.items()}
        if any(columns[key].domain is None for key in query.group_by if key in columns):
            call.refuse(
                ReviewFieldInvalid(
                    "conditions.mode",
                    "dp: the query groups by a dimension without a public domain, which only "
                    "differential privacy can release",
                )
            )

    def _conditions(
        self, call: _Call, asked: ConditionsAsked, stored: StoredQuery, view: View
    ) -> Conditions:
        """``asked`` checked and completed with the defaults, or a logged refusal."""
        default, default_epsilon = self._defaults(call.policy, stored, view)
        mode = asked.mode or default
        if mode not in ("exact", "dp"):
            call.refuse(ReviewFieldInvalid("conditions.mode", "exact or dp"))
        if mode == "exact":
            self._exact_allowed(call, stored, view)
        epsilon = asked.epsilon
        limit = self._max_epsilon / MICRO
        if mode == "exact":
            if epsilon != 0:
                call.refuse(
                    ReviewFieldInvalid("conditions.epsilon", "0 for exact release (it spends none)")
                )
            micro = 0
        elif epsilon == 0:
            micro = default_epsilon or self._default_epsilon
        else:
            micro = round(epsilon * MICRO) if math.isfinite(epsilon) else 0
            # at least what a policy's rule may ask (0.001): shared across a query's noisy
            # columns, each share is at least one micro-epsilon
            if not MIN_EPSILON_MICRO <= micro <= self._max_epsilon or epsilon <= 0:
                call.refuse(ReviewFieldInvalid("conditions.epsilon", f"in [0.001, {limit:g}]"))
        now = self._clock()
        latest = now + MAX_LIFETIME
        if not now.timestamp() < asked.expires_at <= latest.timestamp():
            call.refuse(
                ReviewFieldInvalid(
                    "conditions.expires_at",
                    f"required: in the future, at most {MAX_LIFETIME.days} days ahead",
                )
            )
        if not 1 <= asked.max_runs <= MAX_RUNS:
            call.refuse(ReviewFieldInvalid("conditions.max_runs", f"required: 1..{MAX_RUNS}"))
        return Conditions(
            mode="dp" if mode == "dp" else "exact",
            epsilon_micro=micro,
            expires_at=dt.datetime.fromtimestamp(asked.expires_at, tz=dt.UTC),
            max_runs=asked.max_runs,
        )


def conditions_fields(conditions: Conditions) -> list[str]:
    """``conditions`` as result-field text (:func:`dataward.receipts.review_conditions`)."""
    return receipts.review_conditions(
        mode=conditions.mode,
        epsilon_micro=conditions.epsilon_micro,
        expires_at=int(conditions.expires_at.timestamp()),
        max_runs=conditions.max_runs,
    )


def _needed(view: View) -> int:
    return 2 if view.sensitive else 1


def _rejection(reason: str) -> QueryRejection:
    """A stored ``RULE(construct)`` as a rejection (stored already in its public form)."""
    rule, _, rest = reason.partition("(")
    construct = rest.removesuffix(")")
    return QueryRejection(rule, public_construct(rule, construct))

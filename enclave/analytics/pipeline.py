"""Aggregate queries, one function-level pipeline per call, every step through the release skeleton.

:class:`AggregateQueries` orders the steps of every QueryService call (DESIGN.md "Queries",
"Output gate"), so that every front end behaves the same. For :meth:`AggregateQueries.answer`
(``Run``):

1. snapshot the policy in force (one version for the whole answer) and log the request
   (``QueryService/Run``, who, organization, purpose; never the query text);
2. refuse a purpose the caller's app does not hold;
3. for a stored query, find it (the caller's organization's only) and check it is ACCEPTED
   under this policy version and purpose -- and, when a steward accepted it after review,
   that its approval has not expired and has runs left (:class:`ApprovalExpired`,
   :class:`RunsExhausted`);
4. parse the restricted SQL (:class:`QueryRejected` with the rejection's code as ``rule``);
5. look the view up and check the grant (:meth:`policies.Policy.grant_for`): a view the policy
   does not have is refused exactly like one not granted (:class:`ViewNotGranted`), so the
   answer does not tell a partner which views exist;
6. validate against the view's rule and rewrite (contribution bounding, clipping, the persons
   column, bound parameters); a query accepted after review is validated instead against the
   rule its approval gives it (:func:`query_engine.approved_view`) and released in the
   approval's mode at its epsilon;
7. run it on the engine within the limits (at most ``max_concurrent`` at once), over the
   live dataset version's Parquet files;
8. map the result's columns onto :class:`enclave.gate.GateRules` and pass the output gate;
9. serialise the gated table as an Arrow IPC stream and release it: the release leaf's result
   hash covers the IPC bytes' SHA-256, the suppressed-cell count, the policy version and the
   release mode (:func:`dataward.receipts.query_run_fields`). A run of a query accepted after
   review is counted durably just before (:meth:`SqliteQueryStore.count_run`): past its
   ``max_runs`` or its expiry it is a logged refusal, and nothing is released.

``Explain`` stops before the engine (a rejection is an answer there), ``Submit`` stores what
it accepted (the SQL sealed), ``Get`` and ``List`` read the store. Every refusal is a denying
decision leaf, durable before it is raised; an engine that stops a query (a limit, a failure)
is a logged :class:`QueryNotRun`. Anything else (a bug, a storage fault) propagates unlogged
as a denial.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import NoReturn, TypeVar

import pyarrow as pa

import query_engine
from dataward import receipts
from enclave import budget, gate
from enclave.analytics import _reviewable as reviewable
from enclave.analytics._store import QUERY_ID, QueryStatus, SqliteQueryStore, StoredQuery
from enclave.analytics.errors import (
    AnalyticsError,
    ApprovalExpired,
    DpModeRequired,
    InvalidPageToken,
    QueryNotFound,
    QueryNotRun,
    QueryNotRunnable,
    QueryRejected,
    RunsExhausted,
    ViewNotGranted,
)
from enclave.analytics.interface import Budget, PolicySource
from enclave.errors import ZoneError
from enclave.persons import Answer, PurposeNotGranted
from enclave.release import AuditTrail, Caller, Releaser, Request, answers
from policies import AggregationRule, Deny, Policy, View

__all__ = [
    "QUERY_BUDGET",
    "QUERY_EXPLAIN",
    "QUERY_GET",
    "QUERY_LIST",
    "QUERY_RUN",
    "QUERY_SUBMIT",
    "AggregateQueries",
    "DpRelease",
    "Explanation",
    "QueryAnswer",
    "QueryPage",
    "QueryRejection",
    "QueryRequest",
    "Submission",
    "column_kinds",
    "describe_checks",
    "dp_rules",
    "gate_rules",
    "ipc_stream",
    "query_key",
]

# The methods the zone logs (and hashes) for each answer, as dataward.receipts names them.
QUERY_RUN = receipts.QUERY_RUN
QUERY_EXPLAIN = receipts.QUERY_EXPLAIN
QUERY_SUBMIT = receipts.QUERY_SUBMIT
QUERY_GET = receipts.QUERY_GET
QUERY_LIST = receipts.QUERY_LIST
QUERY_BUDGET = receipts.QUERY_BUDGET

_T = TypeVar("_T")


@dataclass(frozen=True)
class DpRelease:
    """What a differentially private answer tells about its noise and its cost.

    ``epsilon_micro`` is the query's price (micro-epsilon), ``epsilon_spent_micro`` what
    THIS call spent: the price on the call that made the charge, 0 when the same query's
    stored answer comes back (``replayed``). ``noise`` per noisy column (the released
    aggregates, an average's two parts, the persons count behind the threshold); ``budget``
    what the partner has left after this call."""

    charge_id: str
    epsilon_micro: int
    epsilon_spent_micro: int
    replayed: bool
    noise: tuple[gate.NoiseInfo, ...]
    budget: budget.BudgetState
    #: partition selection's delta (a dimension without a public domain), else 0
    delta: float = 0.0


@dataclass(frozen=True)
class QueryAnswer:
    """A released aggregate: the gated ``table``, its Arrow IPC stream bytes (what the result
    hash covers), the cells the gate suppressed, the policy version it ran under, the release
    mode, each column's kind (``dimension``, ``count``, ``sum``, ``avg``, ``suppressed``) and,
    in ``dp`` mode, its noise and cost (:class:`DpRelease`)."""

    table: pa.Table
    ipc: bytes
    suppressed_cells: int
    policy_version: str
    release_mode: str = "exact"
    columns: tuple[tuple[str, str], ...] = ()
    dp: DpRelease | None = None


def gate_rules(rewritten: query_engine.Rewritten, rule: AggregationRule) -> gate.GateRules:
    """What the gate enforces for ``rewritten`` under ``rule``: :func:`enclave.gate.rules_for`
    with the rule's limits (an ``AVG`` leaves as one average column, its parts do not).

    Raises :class:`enclave.gate.GateRulesInvalid` if the rewritten columns do not fit the
    gate's input: a bug, never released.
    """
    return gate.rules_for(
        rewritten,
        min_persons=rule.min_persons,
        rounding_base=rule.rounding_base,
        row_cap=rule.row_cap,
    )


def ipc_stream(table: pa.Table) -> bytes:
    """``table`` as Arrow IPC stream bytes."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


@dataclass(frozen=True)
class QueryRequest:
    """What a partner asks: exactly one of ``sql``, ``template`` and ``query_id`` (a stored
    query), its named ``parameters``, the ``purpose`` and the partner's ``client_nonce``."""

    purpose: str
    sql: str = ""
    template: str = ""
    query_id: str = ""
    parameters: Mapping[str, query_engine.ParameterValue] = field(default_factory=dict)
    client_nonce: str = ""


@dataclass(frozen=True)
class QueryRejection:
    """Why a query is not allowed: the rule and the construct behind it (never a value)."""

    rule: str
    construct: str = ""

    def __str__(self) -> str:
        return f"{self.rule}({self.construct})" if self.construct else self.rule


@dataclass(frozen=True)
class Explanation:
    """A dry run's answer; ``allowed`` says Run would release this query's answer."""

    allowed: bool
    view: str
    rule: str
    release_mode: str
    rewritten_sql: str
    checks: tuple[str, ...]
    rejections: tuple[QueryRejection, ...]
    notices: tuple[str, ...]
    policy_version: str


@dataclass(frozen=True)
class Submission:
    """What ``submit`` decided; ``query_id`` is empty for a rejected (unstored) query."""

    query_id: str
    status: QueryStatus
    rejections: tuple[QueryRejection, ...]
    policy_version: str


@dataclass(frozen=True)
class QueryPage:
    """A page of an organization's stored queries, newest first; ``next_token`` is empty on
    the last page."""

    queries: tuple[StoredQuery, ...]
    next_token: str


@dataclass(frozen=True)
class _Plan:
    """A query the policy allows, rewritten and ready for the engine."""

    view: View
    rule: AggregationRule
    rewritten: query_engine.Rewritten
    measures: tuple[str, ...]
    #: how the answer is released (``exact`` or ``dp``) and, in ``dp``, what it costs
    release_mode: str = "exact"
    epsilon_micro: int = 0
    #: a stored query accepted after a steward's review: its runs are counted before release
    reviewed_query_id: str = ""


@dataclass(frozen=True)
class _Call:
    """One call in progress: its policy snapshot, its logged request and who asked."""

    policy: Policy
    release: Releaser
    request: Request
    caller: Caller

    def refuse(self, refusal: ZoneError) -> NoReturn:
        self.release.refuse(self.request, refusal)

    def granted_view(self, purpose: str, name: str) -> View:
        """The view ``name`` if a grant gives it to the caller for ``purpose``; a view the
        policy does not have is refused exactly like one not granted."""
        view = self.policy.views.get(name)
        grant = self.policy.grant_for(self.caller.organization, purpose, name)
        if view is None or isinstance(grant, Deny):
            self.refuse(ViewNotGranted())
        return view

    def require_a_grant(self, purpose: str) -> None:
        """Refuse, before any parsing, a caller no grant of the policy names for ``purpose``:
        its query could only be refused, and parsing 100 KB of it costs every partner."""
        organization = self.caller.organization
        if not any(
            g.organization == organization and g.purpose == purpose for g in self.policy.grants
        ):
            self.refuse(ViewNotGranted())

    def parse(self, sql: str) -> query_engine.Query:
        try:
            return query_engine.parse(sql)
        except query_engine.QueryRejected as rejected:
            self.refuse(_rejected(rejected))

    def released(
        self,
        value: _T,
        fields: receipts.ResultFields,
        client_nonce: str,
        *,
        epsilon_spent_micro: int = 0,
    ) -> Answer[_T]:
        receipt = self.release.release(
            self.request, fields, client_nonce=client_nonce, epsilon_spent_micro=epsilon_spent_micro
        )
        return Answer(value, receipt, self.request.request_id)


EXACT_NOTICE = (
    "exact release: the answer is exact after suppression and rounding, so a series of "
    "overlapping queries can be differenced to learn about groups smaller than the threshold; "
    "the steward chose exact release for this view"
)
DP_NOTICE = (
    "differential privacy: every cell of the public grid is released with OpenDP noise "
    "scaled to what one person can change; the run is charged to the organization's privacy "
    "budget before it runs, and the same query again returns the same numbers at no cost"
)
DP_UNAVAILABLE_NOTICE = (
    "this answer releases only with differential privacy, and this zone keeps no budget "
    "ledger: Run answers FAILED_PRECONDITION DP_MODE_REQUIRED"
)
TEMPLATE_NOTICE = (
    "an approved template: exact release (a steward approved this query by putting it in the "
    "policy); the gate still suppresses small cells"
)
TEMPLATE_ONLY_NOTICE = (
    "this view answers only the templates a steward approved (Run with template=NAME); "
    "Submit stores this query for a steward's review"
)


class AggregateQueries:
    """Aggregate queries over the live dataset version, under the policy in force.

    Every method logs the request first and answers through :class:`Releaser` (a refusal is a
    denying decision leaf; an answer an allowing decision and a release leaf whose result
    hash covers it, :mod:`dataward.receipts`), with one policy snapshot per call.
    ``store`` keeps submitted queries (None: Submit, Get, List and runs by id are refused).
    """

    def __init__(
        self,
        policies: PolicySource,
        engine: query_engine.Engine,
        files: Callable[[], Mapping[str, tuple[str, ...]]],
        audit: AuditTrail,
        limits: query_engine.ExecutionLimits,
        *,
        store: SqliteQueryStore | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        max_concurrent: int = 2,
        budget: Budget | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        # At most this many queries on the engine at once, so that memory stays within
        # max_concurrent x the memory limit however many calls arrive; a call that finds no
        # slot within the time limit is refused as QueryNotRun (UNAVAILABLE, retry).
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._max_concurrent = max_concurrent
        self._lock = threading.Lock()
        self._in_flight_by_organization: dict[str, int] = {}
        self._policies = policies
        self._engine = engine
        self._files = files
        self._limits = limits
        self._audit = audit
        self._store = store
        self._clock = clock
        self._budget = budget
        # One computation per query key at a time in this process: identical DP queries
        # arriving together are charged once and answered with the one stored result.
        self._keyed: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def _in_flight(self, call: _Call) -> Iterator[None]:
        """At most ``max_concurrent`` parsing or running calls per organization: a partner's
        flood of 100 KB queries (parsed outside the engine's slots) cannot stall the others.
        One over it is a logged QueryNotRun (UNAVAILABLE, retry)."""
        organization = call.caller.organization
        with self._lock:
            busy = self._in_flight_by_organization.get(organization, 0)
            if busy < self._max_concurrent:
                self._in_flight_by_organization[organization] = busy + 1
        if busy >= self._max_concurrent:
            call.refuse(QueryNotRun("this organization has its maximum of queries in flight"))
        try:
            yield
        finally:
            with self._lock:
                left = self._in_flight_by_organization[organization] - 1
                if left:
                    self._in_flight_by_organization[organization] = left
                else:
                    del self._in_flight_by_organization[organization]

    def _begin(
        self, caller: Caller, method: str, purpose: str | None, *, effects: bool = False
    ) -> _Call:
        """Snapshot the policy, begin the request, refuse a purpose the app does not hold.

        With ``effects`` (a run charges budget and counts runs, a submission stores the
        query) the request leaf is durable first, and the decision and release follow in one
        commit; a read (explain, get, list, budget) logs request, decision and release in ONE
        commit (issue 15), as a refusal does."""
        policy = self._policies.current()  # one snapshot for the whole answer
        release = Releaser(self._audit, policy.version)
        request = release.begin(caller, method, purpose=purpose or "")
        if effects:
            request = release.log_now(request)
        call = _Call(policy, release, request, caller)
        if purpose is not None and caller.purposes is not None and purpose not in caller.purposes:
            call.refuse(PurposeNotGranted())
        if purpose is not None:
            call.require_a_grant(purpose)
        return call

    # -- Run ------------------------------------------------------------------------------
    def run(
        self,
        caller: Caller,
        sql: str,
        parameters: Mapping[str, query_engine.ParameterValue],
        purpose: str,
        client_nonce: str = "",
    ) -> Answer[QueryAnswer]:
        """Answer the ad-hoc ``sql`` (see :meth:`answer`)."""
        asked = QueryRequest(purpose, sql=sql, parameters=parameters, client_nonce=client_nonce)
        return self.answer(caller, asked)

    @answers
    def answer(self, caller: Caller, asked: QueryRequest) -> Answer[QueryAnswer]:
        """Run ``asked`` (ad-hoc SQL, a template or a stored query) and release its answer.

        Refusals (logged as denying decisions first): ``PurposeNotGranted``,
        :class:`QueryRejected`, :class:`ViewNotGranted`, :class:`DpModeRequired`,
        :class:`QueryNotFound`, :class:`QueryNotRunnable`, :class:`QueryNotRun` and the gate's
        ``UnsupportedShape``.
        """
        call = self._begin(caller, QUERY_RUN, asked.purpose, effects=True)
        with self._in_flight(call):
            return self._answer(call, asked)

    def _answer(self, call: _Call, asked: QueryRequest) -> Answer[QueryAnswer]:
        stored = self._runnable(call, asked) if asked.query_id else None
        plan = self._plan(call, asked, stored.sql if stored else asked.sql, stored)
        if plan.release_mode == "dp":
            return self._answer_dp(call, asked, plan)
        rewritten, rule = plan.rewritten, plan.rule
        try:  # the rules are checked whole before the engine runs (a bad fit is a bug, logged)
            rules = gate.checked(gate_rules(rewritten, rule))
        except gate.GateError as error:
            call.refuse(error)
        result = self._execute(call, rewritten)
        try:
            gated = gate.release(result.table, rules)
        except gate.GateError as error:  # UnsupportedShape, or a bug: either way logged
            call.refuse(error)
        ipc = ipc_stream(gated.table)
        version = call.policy.version
        value = QueryAnswer(
            gated.table,
            ipc,
            gated.suppressed_cells,
            version,
            release_mode="exact",
            columns=column_kinds(gated.table, rewritten),
        )
        fields = receipts.query_run_fields(
            arrow_ipc=ipc,
            suppressed_cells=gated.suppressed_cells,
            policy_version=version,
            release_mode="exact",
            columns=value.columns,
        )
        self._count_run(call, plan)
        return call.released(value, fields, asked.client_nonce)

    def _count_run(self, call: _Call, plan: _Plan) -> None:
        """Count a run of a query accepted after review, durably, before its answer leaves
        (a logged refusal once its runs are used up or its approval expired)."""
        if not plan.reviewed_query_id:
            return
        assert self._store is not None  # the query was read from it
        try:
            self._store.count_run(
                plan.reviewed_query_id, request_id=call.request.request_id, now=self._clock()
            )
        except AnalyticsError as refused:
            call.refuse(refused)

    def _execute(
        self, call: _Call, rewritten: query_engine.Rewritten
    ) -> query_engine.ExecutionResult:
        """Run ``rewritten`` in one of the engine's slots; a limit or failure is a logged
        :class:`QueryNotRun`."""
        if not self._slots.acquire(timeout=self._limits.timeout_seconds):
            call.refuse(QueryNotRun("the zone is running its maximum of queries; retry"))
        try:
            return self._engine.execute(rewritten.request(self._files(), self._limits))
        except query_engine.EngineError:  # a timeout, the memory limit: logged, not a fault
            call.refuse(QueryNotRun())
        finally:
            self._slots.release()

    # -- differential privacy -------------------------------------------------------------
    def _answer_dp(self, call: _Call, asked: QueryRequest, plan: _Plan) -> Answer[QueryAnswer]:
        """A ``dp`` answer. Order: the DP rules and their noise are checked (nothing spent on
        a query that cannot be released); the ledger is charged BEFORE the query runs (one
        durable transaction, refused past any limit) and the charge is logged; if this
        query key's noisy result is stored, it is released again at no cost; otherwise the
        engine runs, OpenDP's noise is drawn once, the result stored with the charge
        (durable) and only then released. A crash anywhere leaves the charge spent and no
        noisy result released that is not stored: running the query again reuses the
        charge (never a double charge) and its stored result if there is one (never a
        second draw that could be released beside the first)."""
        funds = self._budget
        if funds is None:
            call.refuse(DpModeRequired("this zone keeps no privacy-budget ledger"))
        try:
            rules = dp_rules(plan)
            gate.noise_plan(rules)
        except (gate.GateError, QueryRejected) as error:
            call.refuse(error)
        dataset_version = funds.dataset_version()
        key = query_key(plan, call.policy.version, dataset_version)
        organization = call.caller.organization
        with self._one_at_a_time(f"{organization}\x00{key}"):  # the ledger is per partner
            try:
                charge = funds.ledger.charge(
                    organization, dataset_version, key, plan.epsilon_micro, self._clock()
                )
            except budget.BudgetExhausted as exhausted:
                call.refuse(exhausted)
            funds.trail.budget_charged(
                request_id=call.request.request_id,
                charge_id=charge.charge_id,
                micro_epsilon=charge.micro_epsilon,
                entry_hash=charge.entry_hash,
                new=charge.new,
            )
            stored = funds.ledger.result(charge.charge_id)
            replayed = stored is not None
            if stored is None:
                stored = self._noisy_result(call, plan, rules, charge.charge_id)
        spent = charge.micro_epsilon if charge.new else 0
        left = funds.ledger.state(organization, dataset_version, self._clock()).for_partner()
        value = _decoded(stored, call.policy.version, charge, spent, replayed, left)
        assert value.dp is not None
        fields = receipts.query_run_fields(
            arrow_ipc=value.ipc,
            suppressed_cells=value.suppressed_cells,
            policy_version=value.policy_version,
            release_mode="dp",
            columns=value.columns,
            dp=receipts.dp_run_fields(
                charge_id=charge.charge_id,
                epsilon_micro=charge.micro_epsilon,
                epsilon_spent_micro=spent,
                replayed=replayed,
                noise=[_noise_text(info) for info in value.dp.noise],
                budget_left_micro=left.available,
                delta=value.dp.delta,
            ),
        )
        self._count_run(call, plan)
        return call.released(value, fields, asked.client_nonce, epsilon_spent_micro=spent)

    def _noisy_result(self, call: _Call, plan: _Plan, rules: gate.DpRules, charge_id: str) -> bytes:
        """Run the charged query, noise it once and store it with its charge (durable); the
        stored bytes. Another process that stored first wins: its result is the answer."""
        assert self._budget is not None
        result = self._execute(call, plan.rewritten)
        try:
            noised = gate.release_dp(result.table, rules)
        except gate.GateError as error:  # a bug of the mapping: logged, nothing released
            call.refuse(error)
        blob = _encoded(noised, plan, rules.delta)
        ledger = self._budget.ledger
        try:
            ledger.store_result(charge_id, blob)
        except budget.ResultAlreadyStored:
            stored = ledger.result(charge_id)
            assert stored is not None
            return stored
        return blob

    @contextmanager
    def _one_at_a_time(self, key: str) -> Iterator[None]:
        with self._lock:
            lock, users = self._keyed.get(key, (threading.Lock(), 0))
            self._keyed[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._keyed[key]
                if users > 1:
                    self._keyed[key] = (lock, users - 1)
                else:
                    del self._keyed[key]

    def _runnable(self, call: _Call, asked: QueryRequest) -> StoredQuery:
        stored = self._stored(call, asked.query_id)
        if stored.status is not QueryStatus.ACCEPTED:
            call.refuse(QueryNotRunnable("the stored query is not ACCEPTED"))
        if stored.policy_version != call.policy.version:
            call.refuse(
                QueryNotRunnable(
                    "the stored query was accepted under a policy no longer in force: "
                    "submit it again"
                )
            )
        if stored.purpose != asked.purpose:
            call.refuse(QueryNotRunnable("the stored query was accepted for another purpose"))
        conditions = stored.conditions
        if conditions is not None:  # accepted after review: within its approval, or refused
            if self._clock() >= conditions.expires_at:
                call.refuse(ApprovalExpired())
            if stored.runs_left < 1:
                call.refuse(RunsExhausted())
        return stored

    def _stored(self, call: _Call, query_id: str) -> StoredQuery:
        found = None
        if self._store is not None and QUERY_ID.fullmatch(query_id):
            found = self._store.get(call.caller.organization, query_id)
        if found is None:
            call.refuse(QueryNotFound())
        return found

    def _plan(
        self, call: _Call, asked: QueryRequest, sql: str, stored: StoredQuery | None = None
    ) -> _Plan:
        """The allowed, rewritten query, or a logged refusal. A stored query accepted after
        review runs under its approval (:meth:`_approved`)."""
        if asked.template:
            try:
                return self._template(call, asked)
            except query_engine.QueryRejected as rejected:
                call.refuse(_rejected(rejected))
        query = call.parse(sql)
        view = call.granted_view(asked.purpose, query.view)
        if stored is not None and stored.conditions is not None:
            return self._approved(call, asked, query, view, stored)
        mode = call.policy.release_for(call.caller.organization, asked.purpose, view.name)
        rule, rewritten = self._rewritten(call, asked, query, view, mode)
        epsilon = rule.epsilon_micro if mode == "dp" else 0
        return _Plan(view, rule, rewritten, _measures(rewritten), mode, epsilon)

    def _rewritten(
        self,
        call: _Call,
        asked: QueryRequest,
        query: query_engine.Query,
        view: View,
        mode: str,
    ) -> tuple[AggregationRule, query_engine.Rewritten]:
        """``query`` checked against ``view``'s rule and rewritten for the engine (each
        person's cells bounded in ``dp`` mode), or a logged refusal."""
        try:
            rule = query_engine.check(query, view)
            rewritten = query_engine.rewrite(
                query,
                view,
                asked.parameters,
                dialect=self._engine.dialect,
                cells_per_person=rule.cells_per_person if mode == "dp" else None,
            )
        except query_engine.QueryRejected as rejected:
            call.refuse(_rejected(rejected))
        return rule, rewritten

    def _approved(
        self,
        call: _Call,
        asked: QueryRequest,
        query: query_engine.Query,
        view: View,
        stored: StoredQuery,
    ) -> _Plan:
        """A query a steward approved: under the rule derived from the query itself with the
        view rule's limits (:func:`query_engine.approved_view`), released in the approval's
        mode at its epsilon -- whatever the view's rule lists, the steward lifted it."""
        conditions = stored.conditions
        assert conditions is not None
        mode = conditions.mode
        approved = query_engine.approved_view(
            query, view, release=mode, epsilon_micro=conditions.epsilon_micro or None
        )
        rule, rewritten = self._rewritten(call, asked, query, approved, mode)
        # the approval's epsilon (0 in a stored approval would mean the rule's: never a
        # charge of nothing)
        epsilon = (conditions.epsilon_micro or rule.epsilon_micro) if mode == "dp" else 0
        return _Plan(view, rule, rewritten, _measures(rewritten), mode, epsilon, stored.query_id)

    def _template(self, call: _Call, asked: QueryRequest) -> _Plan:
        """An approved template the caller may use, rewritten with its parameters; raises
        ``query_engine.QueryRejected`` (``TEMPLATE_UNKNOWN``, ``PARAMETER_*``, ...)."""
        view = query_engine.find_template(
            call.policy,
            asked.template,
            organization=call.caller.organization,
            purpose=asked.purpose,
        )
        # a grant that demands dp covers the templates of the views it lists too
        mode = call.policy.release_for(call.caller.organization, asked.purpose, view.name)
        found = query_engine.rewrite_template(
            view,
            asked.template,
            asked.parameters,
            dialect=self._engine.dialect,
            release="dp" if mode == "dp" else "exact",
        )
        epsilon = found.rule.epsilon_micro if mode == "dp" else 0
        return _Plan(view, found.rule, found.rewritten, _measures(found.rewritten), mode, epsilon)

    # -- Explain ----------------------------------------------------------------------------
    @answers
    def explain(self, caller: Caller, asked: QueryRequest) -> Answer[Explanation]:
        """A dry run: what :meth:`answer` would do with ``asked``, touching no data.

        A query outside the grammar or the view's rule is an answer (``allowed=False`` with
        every rejection); a view not granted (or not existing) and a purpose not granted are
        refusals, as for Run.
        """
        call = self._begin(caller, QUERY_EXPLAIN, asked.purpose)
        with self._in_flight(call):
            explanation = self._explain(call, asked)
        fields = receipts.query_explain_fields(
            allowed=explanation.allowed,
            view=explanation.view,
            rule=explanation.rule,
            release_mode=explanation.release_mode,
            rewritten_sql=explanation.rewritten_sql,
            checks=explanation.checks,
            rejections=[str(r) for r in explanation.rejections],
            notices=explanation.notices,
            policy_version=explanation.policy_version,
        )
        return call.released(explanation, fields, asked.client_nonce)

    def _explain(self, call: _Call, asked: QueryRequest) -> Explanation:
        denied = partial(_not_allowed, call.policy.version)
        if asked.template:
            rule_name = f"template:{asked.template}"
            try:
                plan = self._template(call, asked)
            except query_engine.QueryRejected as rejected:
                return denied("", rule_name, "exact", (_rejection(rejected),))
            dp = plan.release_mode == "dp"
            checks = (
                self._dp_checks(call, plan)
                if dp
                else describe_checks(plan.rule, plan.view, plan.measures, self._limits)
            )
            notice = (
                (DP_NOTICE if self._budget is not None else DP_UNAVAILABLE_NOTICE)
                if dp
                else TEMPLATE_NOTICE
            )
            return Explanation(
                allowed=not dp or self._budget is not None,
                view=plan.view.name,
                rule=rule_name,
                release_mode=plan.release_mode,
                rewritten_sql=plan.rewritten.sql,
                checks=checks,
                rejections=(),
                notices=(notice,),
                policy_version=call.policy.version,
            )
        try:
            query = query_engine.parse(asked.sql)
        except query_engine.QueryRejected as rejected:
            return denied("", "", "", (_rejection(rejected),))
        view = call.granted_view(asked.purpose, query.view)
        rule = view.rule
        if not isinstance(rule, AggregationRule):
            refused = (QueryRejection("RULE_NOT_AD_HOC", view.name),)
            return denied(view.name, "template", "exact", refused, TEMPLATE_ONLY_NOTICE)
        mode = call.policy.release_for(call.caller.organization, asked.purpose, view.name)
        notice = EXACT_NOTICE
        if mode == "dp":
            notice = DP_NOTICE if self._budget is not None else DP_UNAVAILABLE_NOTICE
        validation = query_engine.validate(query, view)
        if isinstance(validation, query_engine.Rejected):
            found = _rejections(validation)
            return denied(view.name, "aggregation", mode, found, notice)
        try:
            rewritten = query_engine.rewrite(
                query,
                view,
                asked.parameters,
                dialect=self._engine.dialect,
                cells_per_person=rule.cells_per_person if mode == "dp" else None,
            )
        except query_engine.QueryRejected as rejected:
            found = (_rejection(rejected),)
            return denied(view.name, "aggregation", mode, found, notice)
        checks = describe_checks(rule, view, _measures(rewritten), self._limits)
        if mode == "dp":
            epsilon = rule.epsilon_micro
            plan = _Plan(view, rule, rewritten, _measures(rewritten), mode, epsilon)
            checks = self._dp_checks(call, plan)
        return Explanation(
            allowed=mode == "exact" or self._budget is not None,
            view=view.name,
            rule="aggregation",
            release_mode=mode,
            rewritten_sql=rewritten.sql,
            checks=checks,
            rejections=(),
            notices=(notice,),
            policy_version=call.policy.version,
        )

    def _dp_checks(self, call: _Call, plan: _Plan) -> tuple[str, ...]:
        """What a DP answer of ``plan`` does, in words: the bounds, each column's noise and
        error bound, the price and the budget left (nothing is charged by explaining)."""
        rule, view = plan.rule, plan.view
        try:
            rules = dp_rules(plan)
            noise = gate.noise_plan(rules)
        except (gate.GateError, QueryRejected) as error:
            call.refuse(error)
        checks = [
            f"each person contributes at most {rule.contribution_limit} rows to a cell and "
            f"counts in at most {rule.cells_per_person} cell(s) of the answer"
        ]
        for name in plan.measures:
            column = view.columns[name]
            unit = f" {column.unit}" if column.unit else ""
            checks.append(f"{name} clipped to [{column.lower}, {column.upper}]{unit} per row")
        checks.append(
            "every combination of the grouped dimensions' public values is a row, whatever the "
            "data holds; each is released with noise"
        )
        for info in noise:
            what = "the persons count behind the threshold (not released)"
            if info.column != gate.PERSONS_COLUMN:
                what = info.column
            checks.append(
                f"{what}: OpenDP {info.mechanism.replace('_', ' ')} noise of scale "
                f"{info.scale:.6g}; 95% of released values within {info.error_bound_95:.6g} "
                f"of the truth (rounding included); epsilon {info.epsilon_micro / 1e6:g}"
            )
            if info.threshold is not None:
                checks.append(
                    "a grouped dimension has no public domain: only the cells whose noisy "
                    f"{what} reaches {info.threshold} are released (OpenDP's noisy threshold; "
                    f"a cell one person alone makes shows with probability at most "
                    f"{rule.delta:g})"
                )
        checks += [
            f"a cell whose noisy persons count is under {rule.min_persons} is withheld (null, "
            "row marked)",
            f"counts rounded to multiples of 5, sums to multiples of {rule.rounding_base}; an "
            "average is the noisy sum over the noisy count",
            f"costs epsilon {plan.epsilon_micro / 1e6:g} of the organization's budget on the "
            "first run; the same query again returns the stored answer at no cost",
        ]
        if self._budget is not None:
            funds = self._budget
            state = funds.ledger.state(
                call.caller.organization, funds.dataset_version(), self._clock()
            )
            checks.append(
                f"budget available for the next new query: epsilon {state.available / 1e6:g}"
            )
        return tuple(checks)

    # -- Submit, Get, List --------------------------------------------------------------------
    @answers
    def submit(self, caller: Caller, asked: QueryRequest) -> Answer[Submission]:
        """Validate and store ``asked.sql``: ACCEPTED (runnable by id under this policy
        version), PENDING_REVIEW (a steward must approve it: a query over a template-only
        view, or one its view's rule refuses only for reasons a steward may lift,
        :mod:`enclave.analytics._reviewable`) or REJECTED with every reason (not stored). A
        view not granted is a refusal."""
        call = self._begin(caller, QUERY_SUBMIT, asked.purpose, effects=True)
        store = self._require_store(call)
        with self._in_flight(call):
            status, rejections, view = self._judge(call, asked)
        query_id = ""
        if status is not QueryStatus.REJECTED:
            query_id = store.add(
                organization=caller.organization,
                client_id=caller.client_id,
                purpose=asked.purpose,
                view=view,
                status=status,
                reasons=tuple(str(r) for r in rejections),
                policy_version=call.policy.version,
                sql=asked.sql,
                now=self._clock(),
            ).query_id
        submission = Submission(query_id, status, rejections, call.policy.version)
        fields = receipts.query_submit_fields(
            query_id=query_id,
            status=status.value,
            rejections=[str(r) for r in rejections],
            policy_version=call.policy.version,
        )
        return call.released(submission, fields, asked.client_nonce)

    def _judge(
        self, call: _Call, asked: QueryRequest
    ) -> tuple[QueryStatus, tuple[QueryRejection, ...], str]:
        try:
            query = query_engine.parse(asked.sql)
        except query_engine.QueryRejected as rejected:
            return QueryStatus.REJECTED, (_rejection(rejected),), ""
        view = call.granted_view(asked.purpose, query.view)
        status, found = reviewable.judge(query, view, dialect=self._engine.dialect)
        rejections = tuple(
            QueryRejection(str(r.reason), public_construct(str(r.reason), r.construct))
            for r in found
        )
        return status, rejections, view.name

    @answers
    def get(self, caller: Caller, query_id: str, client_nonce: str = "") -> Answer[StoredQuery]:
        """The caller's organization's stored query ``query_id`` (:class:`QueryNotFound` for
        any other id: another organization's queries do not exist for it)."""
        call = self._begin(caller, QUERY_GET, None)
        stored = _with_needed(call.policy, self._stored(call, query_id))
        return call.released(stored, get_fields(stored), client_nonce)

    @answers
    def list(
        self, caller: Caller, *, page_size: int, page_token: str, client_nonce: str = ""
    ) -> Answer[QueryPage]:
        """A page of the caller's organization's stored queries, newest first.

        ``page_size`` is 1..100; ``page_token`` empty or from the previous page (anything
        else is :class:`InvalidPageToken`)."""
        call = self._begin(caller, QUERY_LIST, None)
        before = None
        if page_token:
            if not _PAGE_TOKEN.fullmatch(page_token):
                call.refuse(InvalidPageToken())
            before = int(page_token[1:])
        store = self._require_store(call)
        rows = store.page(caller.organization, limit=page_size + 1, before=before)
        page = tuple(_with_needed(call.policy, q) for q in rows[:page_size])
        token = f"p{page[-1].seq}" if len(rows) > page_size and page else ""
        fields = receipts.query_list_fields(query_ids=[q.query_id for q in page])
        return call.released(QueryPage(page, token), fields, client_nonce)

    @answers
    def budget(self, caller: Caller, client_nonce: str = "") -> Answer[budget.BudgetState]:
        """What the caller's organization has spent and has left on the live dataset
        version (a zone without a ledger refuses: :class:`DpModeRequired`)."""
        call = self._begin(caller, QUERY_BUDGET, None)
        funds = self._budget
        if funds is None:
            call.refuse(DpModeRequired("this zone keeps no privacy-budget ledger"))
        state = funds.ledger.state(
            caller.organization, funds.dataset_version(), self._clock()
        ).for_partner()
        fields = receipts.query_budget_fields(
            dataset_version=state.dataset_version,
            day=state.day.isoformat(),
            per_query_micro=state.per_query,
            limits=[(lim.name, lim.limit, lim.spent, lim.left) for lim in state.limits],
            available_micro=state.available,
        )
        return call.released(state, fields, client_nonce)

    def _require_store(self, call: _Call) -> SqliteQueryStore:
        if self._store is None:
            call.refuse(QueryNotRunnable("this zone stores no queries"))
        return self._store


_PAGE_TOKEN = re.compile(r"p[1-9][0-9]{0,17}")


def column_kinds(table: pa.Table, rewritten: query_engine.Rewritten) -> tuple[tuple[str, str], ...]:
    """Each released column and its kind: dimension, count, sum, avg or suppressed."""
    kinds: dict[str, str] = {gate.MARKER_COLUMN: "suppressed"}
    for column in rewritten.columns:
        if column.kind is query_engine.OutputKind.TOP:  # the gate's own input, never released
            continue
        kinds[column.name] = column.kind.value
        if column.name != column.item:  # the parts of an AVG
            kinds[column.item] = "avg"
    return tuple((name, kinds.get(name, "dimension")) for name in table.column_names)


def describe_checks(
    rule: AggregationRule,
    view: View,
    measures: tuple[str, ...],
    limits: query_engine.ExecutionLimits,
) -> tuple[str, ...]:
    """The checks an answer under ``rule`` passes, in words a partner can read."""
    checks = [f"each person contributes at most {rule.contribution_limit} rows to a cell"]
    for name in measures:
        column = view.columns[name]
        unit = f" {column.unit}" if column.unit else ""
        checks.append(f"{name} clipped to [{column.lower}, {column.upper}]{unit} per row")
    checks += [
        "every combination of the grouped dimensions' public values is a row, whatever the "
        "data holds (values outside the public domains are not released)",
        f"a cell of fewer than {rule.min_persons} distinct persons is suppressed (null, row "
        "marked), and so is any cell that could be recomputed from the answer's other cells",
        "a cell where one person holds more than half of a sum is suppressed too",
        f"counts rounded to multiples of 5, sums to multiples of {rule.rounding_base}; an "
        "average is the rounded sum over the rounded count",
        f"at most {rule.row_cap} rows released",
        f"the query is stopped after {limits.timeout_seconds:g} s or "
        f"{limits.memory_bytes // (1024 * 1024)} MiB",
    ]
    return tuple(checks)


def dp_rules(plan: _Plan) -> gate.DpRules:
    """What the gate enforces for ``plan``'s DP answer: the rule's limits, the sensitivities
    the rewrite's bounds give, the plan's epsilon. Raises ``enclave.gate.GateError``, or
    :class:`QueryRejected` (``EPSILON_TOO_SMALL``) when the epsilon cannot give every noisy
    column a share of at least one micro-epsilon."""
    view, rule = plan.view, plan.rule
    noisy = sum(
        1
        for c in plan.rewritten.columns
        if c.kind not in (query_engine.OutputKind.DIMENSION, query_engine.OutputKind.TOP)
    )
    if plan.epsilon_micro < noisy:
        raise QueryRejected("EPSILON_TOO_SMALL", f"{noisy} noisy columns")
    signed = frozenset(name for name in plan.measures if (view.columns[name].lower or 0) < 0)
    return gate.dp_rules_for(
        plan.rewritten,
        min_persons=rule.min_persons,
        rounding_base=rule.rounding_base,
        row_cap=rule.row_cap,
        epsilon_micro=plan.epsilon_micro,
        signed_measures=signed,
        delta=rule.delta,
    )


def query_key(plan: _Plan, policy_version: str, dataset_version: str) -> str:
    """The budget ledger's key of ``plan``: the SHA-256 of the rewritten SQL, its bound
    values (with their types), the view, the policy and dataset versions and the price.
    Two requests with the same key are the same question on the same data: the second gets
    the first's stored answer. A query phrased differently rewrites differently and is a
    new question, charged again."""
    rewritten = plan.rewritten
    form = {
        "view": plan.view.name,
        "sql": rewritten.sql,
        "dialect": rewritten.dialect,
        "parameters": sorted(
            (name, type(value).__name__, str(value)) for name, value in rewritten.parameters.items()
        ),
        "policy_version": policy_version,
        "dataset_version": dataset_version,
        "epsilon_micro": plan.epsilon_micro,
        "cells_per_person": rewritten.cells_per_person,
    }
    text = json.dumps(form, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _with_noise_metadata(
    table: pa.Table, noised: gate.DpResult, averages: frozenset[str]
) -> pa.Table:
    """``table`` with each noisy column's noise in its Arrow field metadata (an average:
    its parts') and the release in the schema's, so the IPC bytes the result hash covers
    carry them."""
    infos = {info.column: info for info in noised.noise}
    fields = []
    for field_ in table.schema:
        meta: dict[bytes | str, bytes | str] = {}
        parts = (f"{field_.name}__sum", f"{field_.name}__count")
        for name in (field_.name, *(parts if field_.name in averages else ())):
            info = infos.get(name)
            if info is None:
                continue
            prefix = (
                "dataward." if name == field_.name else f"dataward.{name[len(field_.name) + 2 :]}."
            )
            meta |= {
                f"{prefix}noise_scale": repr(info.scale),
                f"{prefix}error_bound_95": repr(info.error_bound_95),
                f"{prefix}epsilon_micro": str(info.epsilon_micro),
                f"{prefix}mechanism": info.mechanism,
            }
        fields.append(field_.with_metadata(meta) if meta else field_)
    schema = pa.schema(
        fields,
        metadata={
            "dataward.release_mode": "dp",
            "dataward.epsilon_micro": str(noised.epsilon_micro),
        },
    )
    return table.cast(schema)


def _encoded(noised: gate.DpResult, plan: _Plan, delta: float) -> bytes:
    """The stored form of a noisy answer (what the ledger keeps with its charge)."""
    averages = frozenset(
        c.item
        for c in plan.rewritten.columns
        if c.name != c.item and c.kind is not query_engine.OutputKind.TOP
    )
    table = _with_noise_metadata(noised.table, noised, averages)
    form = {
        "format": 1,
        "ipc": base64.b64encode(ipc_stream(table)).decode("ascii"),
        "suppressed_cells": noised.suppressed_cells,
        "columns": [list(pair) for pair in column_kinds(table, plan.rewritten)],
        "noise": [
            [i.column, i.epsilon_micro, i.scale, i.error_bound_95, i.mechanism, i.threshold]
            for i in noised.noise
        ],
        "epsilon_micro": noised.epsilon_micro,
        "delta": delta,
    }
    return json.dumps(form, sort_keys=True, separators=(",", ":")).encode("ascii")


def _decoded(  # noqa: PLR0917 (the parts of one answer)
    stored: bytes,
    policy_version: str,
    charge: budget.Charge,
    spent: int,
    replayed: bool,
    left: budget.BudgetState,
) -> QueryAnswer:
    """The answer of a stored noisy result, exactly as first released."""
    form = json.loads(stored)
    ipc = base64.b64decode(form["ipc"])
    table = pa.ipc.open_stream(ipc).read_all()
    noise = tuple(
        gate.NoiseInfo(str(c), int(e), float(s), float(b), str(m), None if t is None else int(t))
        for c, e, s, b, m, t in form["noise"]
    )
    return QueryAnswer(
        table,
        ipc,
        int(form["suppressed_cells"]),
        policy_version,
        release_mode="dp",
        columns=tuple((str(n), str(k)) for n, k in form["columns"]),
        dp=DpRelease(
            charge.charge_id,
            charge.micro_epsilon,
            spent,
            replayed,
            noise,
            left,
            float(form.get("delta", 0.0)),
        ),
    )


def _noise_text(info: gate.NoiseInfo) -> str:
    """One column's noise as the receipt's fields carry it."""
    return receipts.noise_text(
        column=info.column,
        mechanism=info.mechanism,
        scale=info.scale,
        error_bound_95=info.error_bound_95,
        epsilon_micro=info.epsilon_micro,
        threshold=info.threshold,
    )


def _with_needed(policy: Policy, stored: StoredQuery) -> StoredQuery:
    """``stored`` with the approvals its view needs under ``policy`` (2 if sensitive)."""
    view = policy.views.get(stored.view)
    return replace(stored, approvals_needed=2 if view is not None and view.sensitive else 1)


def get_fields(stored: StoredQuery) -> receipts.ResultFields:
    """What ``QueryService.Get``'s result hash covers (:func:`dataward.receipts.query_get_fields`),
    with a steward's decision on ``stored`` when there is one."""
    conditions = stored.conditions
    return receipts.query_get_fields(
        query_id=stored.query_id,
        status=stored.status.value,
        rejection_reason=stored.rejection.reason if stored.rejection is not None else None,
        conditions=None
        if conditions is None
        else receipts.review_conditions(
            mode=conditions.mode,
            epsilon_micro=conditions.epsilon_micro,
            expires_at=int(conditions.expires_at.timestamp()),
            max_runs=conditions.max_runs,
        ),
        runs_left=stored.runs_left if conditions is not None else None,
    )


def _measures(rewritten: query_engine.Rewritten) -> tuple[str, ...]:
    """The view measures the rewritten query sums (each once, in order)."""
    summed = (c.measure for c in rewritten.columns if c.kind is query_engine.OutputKind.SUM)
    return tuple(dict.fromkeys(m for m in summed if m is not None))


def _not_allowed(
    version: str,
    view: str,
    rule: str,
    mode: str,
    rejections: tuple[QueryRejection, ...],
    *notices: str,
) -> Explanation:
    return Explanation(False, view, rule, mode, "", (), rejections, notices, version)


def public_construct(reason: str, construct: str) -> str:
    """``construct`` as an answer may carry it. For the reasons whose construct is a name the
    query itself chose (an unknown column, an alias, a parameter), which may be anything -- an
    ID number or a name typed as an identifier -- one with seven digits in all or any
    non-ASCII character is replaced by a fixed word, so a rejection never echoes what could
    be a person's identifier. Other constructs are grammar words, policy names or counts."""
    if reason in _NAMED_BY_THE_QUERY and (
        sum(c.isdigit() for c in construct) >= 7 or not construct.isascii()
    ):
        return "a name of the query"
    return construct


_NAMED_BY_THE_QUERY = frozenset(
    {
        "COLUMN_UNKNOWN",
        "ORDER_BY_NOT_OUTPUT",
        "OUTPUT_NAME_AMBIGUOUS",
        "SELECTED_NOT_GROUPED",
        "GROUPED_NOT_SELECTED",
        "PARAMETER_UNKNOWN",
        "PARAMETER_MISSING",
        "PARAMETER_INVALID",
        "IDENTIFIER_NOT_ALLOWED",
        "NOT_A_DIMENSION",
        "DIMENSION_NOT_ALLOWED",
        "WHERE_COLUMN_NOT_ALLOWED",
        "DIMENSION_REPEATED",
        "VIEW_UNKNOWN",
    }
)


def _rejection(rejected: query_engine.QueryRejected) -> QueryRejection:
    reason = str(rejected.reason)
    return QueryRejection(reason, public_construct(reason, rejected.construct))


def _rejections(validation: query_engine.Rejected) -> tuple[QueryRejection, ...]:
    return tuple(
        QueryRejection(str(r.reason), public_construct(str(r.reason), r.construct))
        for r in validation.rejections
    )


def _rejected(rejected: query_engine.QueryRejected) -> QueryRejected:
    """The zone's refusal for the engine's rejection: its code and construct, nothing else."""
    reason = str(rejected.reason)
    return QueryRejected(reason, public_construct(reason, rejected.construct))

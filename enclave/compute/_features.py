"""Feature vectors: a feature set of the policy computed for persons on the live dataset version.

Every feature becomes one SQL over the zone tables yielding ``(person_key, value)`` per person:
a declarative definition is compiled here, a steward's SQL is taken as
the policy loader checked it, its ``:as_of`` bound as a DATE. One query per call joins them
all to the persons asked for, on the query engine's DuckDB (:class:`query_engine.DuckDBEngine`:
a fresh in-memory connection, only the version's Parquet files readable, no other file or
network, settings locked, time and memory limits). Every value the query depends on -- the
persons, the day, a window, visit types -- is a bound parameter, never spliced into the text;
the only names written into it are the policy's, from closed sets.

A raw value is clipped into the feature's bounds and coarsened (:meth:`policies.Feature.value_of`)
before it leaves this module; nothing here logs, and no error carries a person id or a value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import sqlglot
from sqlglot import exp

from enclave.compute._ckks import FeatureBound
from enclave.compute.errors import (
    FeatureBatchTooLarge,
    FeatureComputationFailed,
    FeaturePersonUnknown,
    FeatureRequestInvalid,
    FeatureSetUnknown,
)
from policies import (
    ClaimCount,
    ClaimSum,
    EnrolmentMax,
    Feature,
    FeatureSet,
    FeatureSql,
    MonthsEnrolled,
    Policy,
)
from query_engine import (
    DuckDBEngine,
    Engine,
    EngineError,
    ExecutionLimits,
    ExecutionRequest,
    ParameterValue,
)

__all__ = [
    "DEFAULT_FEATURE_LIMITS",
    "MAX_BATCH_PERSONS",
    "DatasetFiles",
    "FeatureComputer",
    "FeatureVector",
    "feature_bounds",
]

#: The most persons one batch computes (a CKKS ciphertext has 4096 slots).
MAX_BATCH_PERSONS = 4096
DEFAULT_FEATURE_LIMITS = ExecutionLimits(timeout_seconds=30.0, memory_bytes=1 << 30, threads=1)

_AS_OF = "CAST($as_of AS DATE)"
_WANTED = "__wanted"
# Identifiers from the policy's closed sets (checked at load), mapped again here so that
# nothing but these names can reach the text.
_CLAIM_AMOUNTS = {name: name for name in ("total_cents", "fund_paid_cents", "self_paid_cents")}
_ENROLMENT_INTS = {"arrears_months": "arrears_months"}


class DatasetFiles(Protocol):
    """The live dataset version's tables (:class:`enclave.dataset.Zone`)."""

    @property
    def version(self) -> str: ...

    def table_files(self) -> Mapping[str, tuple[str, ...]]: ...


@dataclass(frozen=True, slots=True)
class FeatureVector:
    """One person's features, in the set's order, each within its declared `bounds`.

    Never released in clear: it feeds a scorecard or an encryption. Its repr shows no value.
    """

    feature_set: str
    values: tuple[int, ...]
    bounds: tuple[tuple[int, int], ...]
    dataset_version: str
    as_of: dt.date

    def __repr__(self) -> str:
        return f"FeatureVector({self.feature_set!r}, {len(self.values)} values)"


def feature_bounds(features: FeatureSet) -> tuple[FeatureBound, ...]:
    """The set's features as the encrypted scorers take them: name and declared bounds, in
    the vector's order (the policy keeps every bound within what they hold)."""
    return tuple(FeatureBound(f.name, f.lower, f.upper) for f in features.features)


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    parameters: dict[str, ParameterValue]
    tables: frozenset[str]


def _compile(feature: Feature, prefix: str) -> _Compiled:
    definition = feature.definition
    wanted = f"IN (SELECT person_key FROM {_WANTED})"  # noqa: S608 (names are ours; values bound)
    if isinstance(definition, FeatureSql):
        return _steward_sql(definition.sql, wanted)
    if isinstance(definition, MonthsEnrolled):
        window = f"${prefix}_window"
        sql = (
            "SELECT e.person_id AS person_key, COUNT(DISTINCT m.month) AS value "  # noqa: S608 (names are ours; values bound)
            "FROM enrolments AS e JOIN ("
            f"SELECT unnest(generate_series(date_trunc('month', {_AS_OF}) - "
            f"to_months(CAST({window} AS INTEGER) - 1), date_trunc('month', {_AS_OF}), "
            "INTERVAL 1 MONTH)) AS month) AS m "
            "ON e.start_date < m.month + INTERVAL 1 MONTH "
            f"AND coalesce(e.end_date, {_AS_OF}) >= m.month "
            f"WHERE e.start_date <= {_AS_OF} AND e.person_id {wanted} "
            "GROUP BY e.person_id"
        )
        return _Compiled(sql, {window[1:]: definition.window_months}, frozenset({"enrolments"}))
    if isinstance(definition, EnrolmentMax):
        column = _ENROLMENT_INTS[definition.column]
        sql = (
            f"SELECT e.person_id AS person_key, MAX(e.{column}) AS value FROM enrolments AS e "  # noqa: S608 (names are ours; values bound)
            f"WHERE e.start_date <= {_AS_OF} AND e.person_id {wanted} GROUP BY e.person_id"
        )
        return _Compiled(sql, {}, frozenset({"enrolments"}))
    if isinstance(definition, ClaimCount | ClaimSum):
        window = f"${prefix}_window"
        parameters: dict[str, ParameterValue] = {window[1:]: definition.window_months}
        value = "COUNT(*)"
        if isinstance(definition, ClaimSum):
            value = f"SUM(c.{_CLAIM_AMOUNTS[definition.column]})"
        types = ""
        if definition.visit_types is not None:
            name = f"${prefix}_types"
            parameters[name[1:]] = ",".join(sorted(definition.visit_types))
            types = f"AND list_contains(string_split({name}, ','), c.visit_type) "
        sql = (
            f"SELECT c.person_id AS person_key, {value} AS value FROM claims AS c "  # noqa: S608 (names are ours; values bound)
            f"WHERE c.visit_date > {_AS_OF} - to_months(CAST({window} AS INTEGER)) "
            f"AND c.visit_date <= {_AS_OF} {types}AND c.person_id {wanted} "
            "GROUP BY c.person_id"
        )
        return _Compiled(sql, parameters, frozenset({"claims"}))
    raise TypeError(f"no SQL for {type(definition).__name__}")  # a bug: the loader built it


def _steward_sql(sql: str, wanted: str) -> _Compiled:
    """A steward's SQL (checked by the loader) with ``:as_of`` a bound DATE, restricted to
    the persons asked for."""
    statement = sqlglot.parse_one(sql, read="duckdb")
    local = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    tables = frozenset(t.name for t in statement.find_all(exp.Table)) - local

    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            return exp.cast(exp.Placeholder(this="as_of"), exp.DataType.build("DATE"))
        return node

    inner = statement.transform(bind).sql(dialect="duckdb")
    return _Compiled(
        f"SELECT s.person_key AS person_key, s.value AS value FROM ({inner}) AS s "  # noqa: S608 (names are ours; values bound)
        f"WHERE s.person_key {wanted}",
        {},
        tables,
    )


class FeatureComputer:
    """Computes a policy's feature sets for persons of the live dataset version."""

    def __init__(
        self,
        dataset: DatasetFiles,
        *,
        engine: Engine | None = None,
        limits: ExecutionLimits = DEFAULT_FEATURE_LIMITS,
        max_batch: int = MAX_BATCH_PERSONS,
    ) -> None:
        self._dataset = dataset
        self._engine: Engine = engine if engine is not None else DuckDBEngine()
        self._limits = limits
        self._max_batch = max_batch

    def vector(
        self, policy: Policy, feature_set: str, person_id: int, as_of: dt.date
    ) -> FeatureVector:
        """The features of the person with registry id `person_id` (``persons.person_id``;
        look a token up with :meth:`enclave.dataset.Zone.person_id_by_token`) on `as_of`."""
        return self.vectors(policy, feature_set, (person_id,), as_of)[0]

    def vectors(
        self, policy: Policy, feature_set: str, person_ids: Sequence[int], as_of: dt.date
    ) -> tuple[FeatureVector, ...]:
        """The features of each person, in the order given (one query for all of them).

        Raises :class:`FeatureSetUnknown`, :class:`FeatureRequestInvalid` (no person, or an
        id that is not an int), :class:`FeatureBatchTooLarge`, :class:`FeaturePersonUnknown`
        (a person the registry does not hold: the batch is refused whole) and
        :class:`FeatureComputationFailed`.
        """
        features = policy.feature_sets.get(feature_set)
        if features is None:
            raise FeatureSetUnknown(feature_set)
        if not person_ids or any(type(p) is not int for p in person_ids):
            raise FeatureRequestInvalid
        if len(person_ids) > self._max_batch:
            raise FeatureBatchTooLarge(self._max_batch)
        if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
            raise FeatureRequestInvalid("as_of must be a date")
        raw = self._run(features, person_ids, as_of)
        version = self._dataset.version
        bounds = features.bounds
        return tuple(
            FeatureVector(
                feature_set=feature_set,
                values=tuple(
                    f.value_of(value) for f, value in zip(features.features, raw[p], strict=True)
                ),
                bounds=bounds,
                dataset_version=version,
                as_of=as_of,
            )
            for p in person_ids
        )

    def _run(
        self, features: FeatureSet, person_ids: Sequence[int], as_of: dt.date
    ) -> dict[int, tuple[int, ...]]:
        """Each distinct person's raw values (0 where a feature yields no row or NULL)."""
        parts = [_compile(f, f"f{i}") for i, f in enumerate(features.features)]
        parameters: dict[str, ParameterValue] = {
            "as_of": as_of.isoformat(),
            "persons": ",".join(str(p) for p in dict.fromkeys(person_ids)),
        }
        tables = {"persons"}
        for part in parts:
            parameters.update(part.parameters)
            tables |= part.tables
        ctes = ", ".join(f"__f{i} AS ({part.sql})" for i, part in enumerate(parts))
        joins = " ".join(
            f"LEFT JOIN __f{i} ON __f{i}.person_key = w.person_key" for i in range(len(parts))
        )
        values = ", ".join(f"CAST(__f{i}.value AS BIGINT) AS f{i}" for i in range(len(parts)))
        sql = (
            f"WITH {_WANTED} AS (SELECT DISTINCT CAST(unnest(string_split($persons, ',')) "  # noqa: S608 (names are ours; values bound)
            f"AS BIGINT) AS person_key), {ctes} "
            "SELECT w.person_key AS person_key, p.person_id IS NOT NULL AS known, "
            f"{values} FROM {_WANTED} AS w "
            f"LEFT JOIN (SELECT person_id FROM persons WHERE person_id IN "
            f"(SELECT person_key FROM {_WANTED})) AS p ON p.person_id = w.person_key {joins}"
        )
        files = self._dataset.table_files()
        missing = sorted(tables - files.keys())
        if missing:
            raise FeatureComputationFailed(features.name, "the dataset version lacks a table")
        request = ExecutionRequest(
            sql=sql,
            parameters=parameters,
            tables={name: tuple(files[name]) for name in sorted(tables)},
            limits=self._limits,
        )
        try:
            result = self._engine.execute(request)
        except EngineError as exc:
            raise FeatureComputationFailed(features.name, type(exc).__name__) from None
        rows = result.table.to_pylist()
        found: dict[int, tuple[int, ...]] = {}
        unknown = 0
        for row in rows:
            person = int(row["person_key"])
            if person in found:
                raise FeatureComputationFailed(
                    features.name, "a feature's SQL yields more than one row for a person"
                )
            if not row["known"]:
                unknown += 1
            found[person] = tuple(int(row[f"f{i}"] or 0) for i in range(len(parts)))
        if unknown:
            raise FeaturePersonUnknown(unknown)
        return found

"""The policy in force: applied policy versions, their history, the ``policy_changed`` leaf.

:class:`PolicyStore` keeps every applied version in ``ZONE/state/policy.db`` (SQLite, WAL,
append-only: version = the policy's content hash, the document's text, when, by whom, a
sequence number) and serves the latest as the policy in force (:meth:`PolicyStore.current`,
a :class:`enclave.analytics.PolicySource`). **With no applied version the policy in force is
EMPTY** -- no views, no grants -- so every query is refused (fail closed). So it is when the
last applied version can no longer be put in force (it no longer loads, or no longer hashes to
its recorded version): :attr:`InForce.unusable` says which and why, and applying a valid
document recovers.

:meth:`PolicyStore.apply` validates the document first (any error is a logged denial,
:class:`enclave.errors.PolicyInvalid`, and changes nothing), then follows the release
skeleton: request leaf ``StewardService/ApplyPolicy``, a ``policy_changed`` leaf durable
before the new version is stored and swapped in, the release with its receipt. The version
already in force changes nothing (``changed=False``) and is logged all the same.
:meth:`PolicyStore.read` (``StewardService/GetPolicy``) is logged too, with a receipt.
"""

from enclave.policy._store import POLICY_DB, PolicyStore, empty_policy, template_problem
from enclave.policy._values import (
    APPLY_POLICY,
    GET_POLICY,
    AppliedVersion,
    GrantSummary,
    InForce,
    PolicyApplied,
    PolicyRead,
    PolicyTrail,
    ViewSummary,
    apply_fields,
    read_fields,
    summarize,
)

__all__ = [
    "APPLY_POLICY",
    "GET_POLICY",
    "POLICY_DB",
    "AppliedVersion",
    "GrantSummary",
    "InForce",
    "PolicyApplied",
    "PolicyRead",
    "PolicyStore",
    "PolicyTrail",
    "ViewSummary",
    "apply_fields",
    "empty_policy",
    "read_fields",
    "summarize",
    "template_problem",
]

"""Refusals made by the API front end become audit leaves before the call is answered.

Every :class:`~grpc_api.errors.ApiError` the guard or a servicer raises happens before the zone
logs the request, so :class:`Refusals` hands it to the zone's
:class:`enclave.refusal_audit.RefusalTrail` first. If that log fails, the call fails with
UNAVAILABLE instead of being answered (fail closed: no unlogged decision leaves).
"""

from __future__ import annotations

from enclave.refusal_audit import RefusalTrail
from grpc_api._tokens import Principal
from grpc_api.errors import ApiError, Unavailable

__all__ = ["Refusals", "short_method"]

_PACKAGE_PREFIX = "/dataward.v1."


def short_method(method: str) -> str:
    """``/dataward.v1.EligibilityService/Check`` -> ``EligibilityService/Check`` (as the zone
    names methods in its own leaves)."""
    return method.removeprefix(_PACKAGE_PREFIX).lstrip("/")[:200] or "unknown"


class Refusals:
    def __init__(self, trail: RefusalTrail) -> None:
        self._trail = trail

    def record(
        self, method: str, principal: Principal | None, purpose: str, exc: ApiError
    ) -> ApiError:
        """Log ``exc`` as a refused request; returns the error to answer with.

        That is ``exc`` once its leaves are durable, or :class:`Unavailable` if the audit log
        failed (its cause chained, never shown to the caller).
        """
        try:
            self._trail.refusal(
                client_id=principal.client_id if principal else "",
                organization=principal.organization if principal else "",
                method=short_method(method),
                purpose=purpose,
                reason=exc.reason,
            )
        except Exception as failure:
            unavailable = Unavailable("the zone cannot record the request now; retry later")
            unavailable.__cause__ = failure
            return unavailable
        return exc

"""The composition root: settings, the ``dataward`` command, and the wiring of all the parts.

Its face is what the benchmarks and tests build a serving zone with: :func:`start_serving`
(the gRPC API and the portal process over a zone) and the :class:`Serving` it returns, and
:func:`query_engine_for` (the query engine the ``[query]`` settings choose, as ``serve``
builds it).
"""

from launcher._wiring import Serving, query_engine_for, start_serving

__all__ = ["Serving", "query_engine_for", "start_serving"]

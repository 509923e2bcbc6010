"""Many concurrent unary calls through the real server on a small WorkerPool (issue 15
review): each answered, no more threads than its bound, every call's done-callback run."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.grpc_stack import grpc_stack


def test_many_concurrent_unary_calls_on_four_workers(tmp_path: Path) -> None:
    with grpc_stack(tmp_path, max_workers=4) as stack:
        pool = stack.server.pool
        assert pool is not None
        state = stack.server.server._state  # type: ignore[attr-defined]
        assert state.maximum_concurrent_rpcs is None  # not set by build_server
        errors: list[BaseException] = []
        ok = [0]
        lock = threading.Lock()

        def client() -> None:
            with grpc.insecure_channel(stack.target) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                for _ in range(150):
                    try:
                        r = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=20)
                        assert r.status == health_pb2.HealthCheckResponse.SERVING
                        with lock:
                            ok[0] += 1
                    except BaseException as exc:
                        errors.append(exc)

        threads = [threading.Thread(target=client) for _ in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[:3]
        assert ok[0] == 32 * 150
        assert pool.threads <= 4
        for _ in range(200):  # the done-callbacks have all run: no active call left counted
            with state.lock:
                if state.active_rpc_count == 0:
                    break
            threading.Event().wait(0.01)
        with state.lock:
            assert state.active_rpc_count == 0

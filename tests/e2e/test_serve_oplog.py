"""`dataward serve`'s stderr is its operational log (issue 14): JSON lines from both processes
(the serving one and the portal's), with the configuration in force but no secret, start and
stop, every refused call with its reason code and request id, and never a request's value --
no ID number, name or phone of the zone's persons in any line, although the refused calls
carried ID numbers. A real `serve` subprocess, real gRPC calls, a real portal request."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pyarrow.parquet as pq
import pytest

from dataward.v1 import eligibility_pb2, eligibility_pb2_grpc
from enclave.audit import zone_log_name
from enclave.keys import open_keyring
from grpc_api import REQUEST_ID_KEY, mint_operator_token, operator_issuer
from tests.support.query_export import Export, synthetic_export
from tests.support.serve_process import DATAWARD, Served, start_serve, stop_serve
from tests.support.zone_source import MASTER_KEY


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return synthetic_export(tmp_path_factory.mktemp("oplog"), persons=40)


@pytest.fixture
def serving(export: Export) -> Iterator[Served]:
    served = start_serve(export.zone, {"DATAWARD_LOG_LEVEL": "INFO"})
    try:
        yield served
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.communicate(timeout=30)


def _id_numbers(export: Export) -> list[str]:
    persons = export.zone.parent / "src" / "persons.parquet"
    return [str(v) for v in pq.read_table(persons, columns=["id_number"])[0].to_pylist()]


def _operator_token(zone: Path) -> str:
    keyring = open_keyring(zone, MASTER_KEY)
    issuer = operator_issuer(zone_log_name(keyring.zone_id))
    return mint_operator_token(keyring.signing_key, issuer=issuer, audience="dataward-zone")


def _refused_check(
    port: int, id_number: str, token: str | None
) -> tuple[grpc.StatusCode, str, str]:
    """A Check carrying an ID number; its status, details and the request id it was given."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        request = eligibility_pb2.CheckRequest(id_number=id_number)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Check(request, metadata=metadata, timeout=10)
    error: Any = refused.value
    request_id = dict(error.trailing_metadata() or ()).get(REQUEST_ID_KEY, "")
    return error.code(), error.details(), request_id


def test_serve_logs_json_lines_with_reasons_and_request_ids_never_values(
    export: Export, serving: Served
) -> None:
    ids = _id_numbers(export)
    anonymous = _refused_check(serving.grpc_port, ids[0], None)
    assert anonymous[0] is grpc.StatusCode.UNAUTHENTICATED and len(anonymous[2]) == 16
    # the operator's token holds steward:admin only: a Check is refused for its scope
    scoped = _refused_check(serving.grpc_port, ids[1], _operator_token(export.zone))
    assert scoped[0] is grpc.StatusCode.PERMISSION_DENIED and scoped[2] != anonymous[2]
    # a refused portal request: a client that does not exist asks for a token
    token_url = f"{serving.portal_url}/oauth/token"
    body = f"grant_type=client_credentials&client_id={ids[2]}&client_secret=x".encode()
    with pytest.raises(urllib.error.HTTPError) as portal_refused:
        urllib.request.urlopen(urllib.request.Request(token_url, data=body), timeout=10)
    portal_request_id = portal_refused.value.headers["X-Request-Id"]
    portal_refused.value.close()

    code, lines, err = stop_serve(serving)
    assert code == 0, err
    assert all({"ts", "level", "logger", "event"} <= line.keys() for line in lines)
    by_event = {line["event"]: line for line in lines}
    # start, configuration, stop -- of both processes
    assert {"config", "serve_started", "serve_stopped"} <= by_event.keys(), lines
    assert {"portal_started", "portal_stopped"} <= by_event.keys(), lines
    assert by_event["serve_stopped"]["why"] == "SIGTERM"
    assert by_event["serve_started"]["grpc_port"] == serving.grpc_port
    settings = by_event["config"]["settings"]
    assert settings["grpc"]["bind"] == "127.0.0.1:0" and settings["log"]["level"] == "INFO"
    assert settings["zone"]["master_key"] == "set"  # said to be set, never shown
    assert MASTER_KEY.decode() not in err
    # each refused call: its reason and the request id the caller was given
    refusals = {line["request_id"]: line for line in lines if line["event"] == "call_refused"}
    assert refusals[anonymous[2]]["reason"] == "TOKEN_MISSING"
    assert refusals[anonymous[2]]["status"] == "UNAUTHENTICATED"
    assert refusals[anonymous[2]]["method"] == "EligibilityService/Check"
    assert refusals[anonymous[2]]["logger"] == "dataward.grpc"
    assert refusals[scoped[2]]["reason"] == "SCOPE_NOT_GRANTED"
    assert refusals[scoped[2]]["duration_ms"] >= 0
    portal_lines = [line for line in lines if line.get("request_id") == portal_request_id]
    assert [(p["event"], p["route"], p["status"]) for p in portal_lines] == [
        ("request_refused", "/oauth/token", portal_refused.value.code)
    ]
    # no value of any request or person in any line
    for value in export.clear_values:
        assert value not in err, "a person's value reached the operational log"
    assert not any(identifier in err for identifier in ids)


def test_log_level_warning_keeps_refusals_and_drops_the_rest(export: Export) -> None:
    served = start_serve(export.zone, {"DATAWARD_LOG_LEVEL": "warning"})
    try:
        _refused_check(served.grpc_port, _id_numbers(export)[0], None)
    finally:
        code, lines, err = stop_serve(served)
    assert code == 0, err
    assert [line["event"] for line in lines] == ["call_refused"], lines
    assert all(line["level"] in ("WARNING", "ERROR") for line in lines)


def test_an_unknown_log_level_is_a_settings_error(export: Export) -> None:
    done = subprocess.run(
        [*DATAWARD, "serve", "--zone", str(export.zone)],
        env={"PATH": "/usr/bin:/bin", "DATAWARD_LOG_LEVEL": "LOUD"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 78, done.stderr
    assert "log.level must be one of DEBUG, INFO, WARNING, ERROR" in done.stderr

"""The operational log's lines: one JSON object each, extra fields kept, an exception as its
type and frames only (its message may hold a value); the configuration summary without
secrets or URL passwords."""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path

import pytest

from launcher._oplog import LOGGERS, JsonLinesFormatter, configure, settings_summary
from launcher.settings import SettingsError, load_settings

VALUE = "110101199003077777"  # an ID number-shaped value that must never be written


def _line(record: logging.LogRecord) -> dict[str, object]:
    text = JsonLinesFormatter().format(record)
    assert "\n" not in text
    parsed: dict[str, object] = json.loads(text)
    return parsed


def test_a_record_is_one_json_object_with_its_extra_fields() -> None:
    record = logging.makeLogRecord(
        {"name": "dataward.grpc", "levelno": 30, "levelname": "WARNING", "msg": "call_refused"}
    )
    record.request_id, record.reason = "abc", "TOKEN_MISSING"
    line = _line(record)
    assert line["event"] == "call_refused" and line["logger"] == "dataward.grpc"
    assert line["level"] == "WARNING" and str(line["ts"]).endswith("+00:00")
    assert line["request_id"] == "abc" and line["reason"] == "TOKEN_MISSING"


def test_an_exception_is_its_type_and_frames_never_its_message() -> None:
    try:
        raise ValueError(f"bad id number {VALUE}")
    except ValueError:
        logger = logging.getLogger("dataward.test.oplog")
        record = logger.makeRecord(
            logger.name, logging.ERROR, __file__, 1, "call_failed", (), exc_info=sys.exc_info()
        )
    line = _line(record)
    assert line["exception"] == "ValueError"
    assert any("test_oplog.py" in frame for frame in line["stack"])  # type: ignore[attr-defined]
    assert VALUE not in json.dumps(line)


def test_configure_installs_one_handler_however_often_it_is_called() -> None:
    stream = io.StringIO()
    try:
        configure("INFO", stream)
        configure("WARNING", stream)
        logger = logging.getLogger("dataward.zone")
        assert [h.get_name() for h in logging.getLogger("dataward").handlers].count(
            "dataward-oplog"
        ) == 1
        logger.info("hidden")
        logger.warning("shown", extra={"why": "test"})
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [(line["event"], line["why"]) for line in lines] == [("shown", "test")]
    finally:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            for handler in [h for h in logger.handlers if h.get_name() == "dataward-oplog"]:
                logger.removeHandler(handler)
            logger.setLevel(logging.NOTSET)


def test_the_summary_has_every_section_and_no_secret(tmp_path: Path) -> None:
    key_file = tmp_path / "portal.key"
    key_file.write_text("a portal key of enough bytes")
    settings = load_settings(
        environ={
            "DATAWARD_MASTER_KEY": "the master key, long enough",
            "DATAWARD_PORTAL_KEY_FILE": str(key_file),
            "DATAWARD_PORTAL_DATABASE_URL": "postgresql://portal:hunter2@db.example:5432/p",
        }
    )
    summary = settings_summary(settings)
    text = json.dumps(summary)
    assert "the master key" not in text and "a portal key" not in text
    assert "hunter2" not in text
    assert summary["zone"]["master_key"] == "set" and summary["portal"]["key"] == "set"
    assert summary["portal"]["database_url"] == "postgresql://portal:***@db.example:5432/p"
    assert summary["log"] == {"level": "INFO", "slow_ms": 500}
    assert set(summary) == {f for f in type(settings).__dataclass_fields__}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATAWARD_LOG_LEVEL", "LOUD", "log.level must be one of"),
        ("DATAWARD_LOG_SLOW_MS", "0", "log.slow_ms must be at least 1"),
        ("DATAWARD_METRICS_BIND", "0.0.0.0:9100", "metrics.bind must be a loopback address"),
        ("DATAWARD_METRICS_BIND", "10.0.0.5:9100", "metrics.bind must be a loopback address"),
        ("DATAWARD_METRICS_BIND", "127.0.0.1:99999", "metrics.bind needs a port from 0 to 65535"),
        # issue 14 review: names starting "127." resolve to whatever their DNS says
        ("DATAWARD_METRICS_BIND", "127.0.0.1.nip.io:9100", "metrics.bind must be a loopback"),
        ("DATAWARD_METRICS_BIND", "127.evil.example:9100", "metrics.bind must be a loopback"),
        ("DATAWARD_METRICS_BIND", "[::ffff:0.0.0.0]:9100", "metrics.bind must be a loopback"),
        ("DATAWARD_METRICS_BIND", "[::]:9100", "metrics.bind must be a loopback"),
        ("DATAWARD_METRICS_BIND", "::1:9100", "metrics.bind must be a loopback"),
        ("DATAWARD_METRICS_BIND", "[::1:9100", "metrics.bind must be a loopback"),
    ],
)
def test_bad_log_and_metrics_settings_are_refused(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(environ={variable: value})


@pytest.mark.parametrize("bind", ["127.0.0.1:0", "127.0.0.2:9100", "localhost:0", "[::1]:0"])
def test_every_loopback_form_is_a_metrics_bind(bind: str) -> None:
    assert load_settings(environ={"DATAWARD_METRICS_BIND": bind}).metrics.bind == bind


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://db.example/p?user=portal&password=hunter2&sslmode=require",
            "postgresql://db.example/p?user=portal&password=***&sslmode=require",
        ),
        (
            "postgresql://portal@db.example/p?sslpassword=hunter2",
            "postgresql://portal@db.example/p?sslpassword=***",
        ),
        (
            "postgresql://portal:hunter2@db.example:notaport/p",
            "postgresql://portal:***@db.example:notaport/p",
        ),
        ("postgresql://portal:hunter2@[::1]:5432/p", "postgresql://portal:***@[::1]:5432/p"),
    ],
)
def test_a_url_in_the_summary_hides_every_password_form(url: str, shown: str) -> None:
    settings = load_settings(environ={"DATAWARD_PORTAL_DATABASE_URL": url})
    assert settings_summary(settings)["portal"]["database_url"] == shown


def test_the_level_is_case_insensitive_and_loopback_binds_pass() -> None:
    settings = load_settings(
        environ={"DATAWARD_LOG_LEVEL": "debug", "DATAWARD_METRICS_BIND": "[::1]:0"}
    )
    assert settings.log.level == "DEBUG" and settings.metrics.bind == "[::1]:0"


def test_a_foreign_loggers_message_keeps_only_its_fixed_text() -> None:
    # waitress pastes the client's path into its message (issue 14 review)
    pasted = logging.makeLogRecord(
        {
            "name": "waitress",
            "levelno": 20,
            "levelname": "INFO",
            "msg": f"Client disconnected while serving /partner/{VALUE}",
        }
    )
    templated = logging.makeLogRecord(
        {"name": "waitress.queue", "msg": "Task queue depth is %d", "args": (int(VALUE[:6]),)}
    )
    assert _line(pasted)["event"] == "Client disconnected while serving"
    assert _line(templated)["event"] == "Task queue depth is %d"
    assert VALUE not in json.dumps([_line(pasted), _line(templated)])


def test_flask_and_grpc_exceptions_are_json_lines_without_their_values() -> None:
    # Flask logs an unhandled exception under the app's name (portal._app) with the path,
    # grpc "Exception calling application: %s" with the message: Python's last-resort handler
    # printed both in clear (issue 14 review)
    stream = io.StringIO()
    try:
        configure("INFO", stream)
        try:
            raise KeyError(VALUE)
        except KeyError as exc:
            logging.getLogger("portal._app").error(
                f"Exception on /partner/{VALUE} [GET]", exc_info=True
            )
            logging.getLogger("grpc._server").exception("Exception calling application: %s", exc)
    finally:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            for handler in [h for h in logger.handlers if h.get_name() == "dataward-oplog"]:
                logger.removeHandler(handler)
            logger.setLevel(logging.NOTSET)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["event"], line["exception"]) for line in lines] == [
        ("Exception on", "KeyError"),
        ("Exception calling application: %s", "KeyError"),
    ]
    assert VALUE not in stream.getvalue()

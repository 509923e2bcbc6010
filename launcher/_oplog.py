"""The servers' operational log: one JSON object per line on stderr (issue 14).

``dataward serve`` and the portal process it starts write what an operator needs to run them
-- start, stop, the configuration in force (never a secret), every refused or failed call
with its reason code and request id, slow calls -- through stdlib :mod:`logging`, under the
loggers ``dataward.zone`` (the serving process), ``dataward.grpc`` (the API's calls) and
``dataward.portal`` (the portal process), plus ``waitress`` (the portal's HTTP server, so its
rare warnings are JSON lines too). :func:`configure` installs the handler; components only
call ``logging.getLogger(name).info("event_name", extra={...})``, so nothing below the
launcher depends on it.

Each line: ``ts`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``, ``event`` (the
message), then the record's extra fields (``request_id``, ``method``, ``status``, ``reason``,
``duration_ms``, ...). The log is not the audit log: it carries no request values (no ID
number, name or free text ever reaches a logger; a test greps a real server's stderr for
them), and an exception is written as its type and stack frames only -- its message may hold
a value.

The configuration summary (:func:`settings_summary`) leaves out every secret (the
:class:`~launcher.settings.Secret` fields) and the password of any URL (``database_url``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import sys
import traceback
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from launcher.settings import Secret, Settings

__all__ = ["LOGGERS", "JsonLinesFormatter", "configure", "settings_summary"]

# "portal": Flask's app logger ("portal._app") writes an unhandled exception as "Exception on
# /the/path [GET]" with its message; "grpc": the library's "Exception calling application:
# %s". Without a handler there, Python's last-resort handler printed both to stderr in clear
# (issue 14 review); here each is a JSON line, its fixed text and stack frames only.
LOGGERS = ("dataward", "waitress", "portal", "grpc")
# A LogRecord's own attributes: everything else on a record came in through ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonLinesFormatter(logging.Formatter):
    """A record as one JSON line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": _event(record),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, trace = record.exc_info
            line["exception"] = kind.__name__
            # frames only: the exception's message may carry a value
            line["stack"] = [
                f"{Path(frame.filename).name}:{frame.lineno} {frame.name}"
                for frame in traceback.extract_tb(trace)
            ]
        return json.dumps(line, default=str, ensure_ascii=False)


# A message of a logger that is not ours (waitress) is the library's text with values pasted
# in: "Client disconnected while serving /the/path" carries the client's path (issue 14
# review). Only its fixed part is kept: a %-template as written (never its arguments), a
# preformatted text up to the first character that may start a value.
_VALUE_STARTS = re.compile(r"""[/\\(\[{'"%:=0-9]""")


def _event(record: logging.LogRecord) -> str:
    if record.name == "dataward" or record.name.startswith("dataward."):
        return record.getMessage()
    text = str(record.msg)
    if not record.args:
        text = _VALUE_STARTS.split(text, maxsplit=1)[0]
    return text.strip() or "message"


def configure(level: str, stream: IO[str] | None = None) -> None:
    """Send the ``dataward`` and ``waitress`` loggers to ``stream`` (stderr) as JSON lines at
    ``level`` (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``). Calling it again replaces the
    handler it installed, never adds a second one."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLinesFormatter())
    handler.set_name("dataward-oplog")
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == "dataward-oplog"]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(level)


def settings_summary(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every setting in force, by section, without secrets (see the module docstring)."""
    summary: dict[str, dict[str, Any]] = {}
    for section in dataclasses.fields(settings):
        values: dict[str, Any] = {}
        part = getattr(settings, section.name)
        for item in dataclasses.fields(part):
            value = getattr(part, item.name)
            if isinstance(value, Secret) or item.metadata.get("secret"):
                values[item.name] = "set" if value is not None else None
            elif isinstance(value, str) and "://" in value:
                values[item.name] = _without_password(value)
            elif isinstance(value, Path):
                values[item.name] = str(value)
            elif value is None or isinstance(value, str | int | float | bool):
                values[item.name] = value
            else:
                values[item.name] = str(value)
        summary[section.name] = values
    return summary


# A query parameter of a URL whose value is a credential (libpq's password/sslpassword,
# a token in a webhook URL, ...): its value is written as ***.
_SECRET_PARAMETER = re.compile(r"pass|secret|token|key|credential|auth|sig", re.IGNORECASE)


def _without_password(url: str) -> str:
    """``url`` with the password of its userinfo and the values of credential-like query
    parameters (``?password=``, ``?sslpassword=``, ``?token=``) as ``***``. Never raises:
    a malformed port must not stop the server from starting (issue 14 review: libpq's
    ``?password=`` reached the summary in clear)."""
    parts = urllib.parse.urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = parts.netloc
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = "&".join(_hide_value(pair) for pair in parts.query.split("&")) if parts.query else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def _hide_value(pair: str) -> str:
    name, equals, _ = pair.partition("=")
    return f"{name}=***" if equals and _SECRET_PARAMETER.search(name) else pair

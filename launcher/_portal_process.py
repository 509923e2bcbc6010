"""The portal as a separate OS process, started and stopped by ``dataward serve``.

Why a process: the portal is the internet-facing part (Flask, Authlib, HTML forms); the gRPC
side holds the unsealed zone keyring. In one process a single portal RCE would read every
zone key. The child is ``python -m launcher portal --zone DIR --bind BIND`` and gets:

- an environment without ``DATAWARD_MASTER_KEY`` / ``DATAWARD_MASTER_KEY_FILE``
  (:func:`launcher.settings.child_environment`), so it never sees the master key;
- its settings from a private (0600) TOML file holding the parent's effective ``[portal]``
  and ``[log]`` sections and the zone directory, removed as soon as the child has started
  (it is read once, at start-up). Nothing in it is secret: the portal key is never written to it;
- the portal key (:func:`portal_key`), which unseals the portal's private keys in
  ``ZONE/portal/keys``: written into a pipe the child inherits, named to it as
  ``DATAWARD_PORTAL_KEY_FILE=/dev/fd/N``. A pipe rather than a file or a variable: the key
  never touches a disk (nothing is left behind if the parent is killed during start-up) and
  it is not in the child's ``/proc/PID/environ`` for its whole life. Its write end is closed
  at once, so the child reads it to end-of-file.

Ready means: the child printed ``portal listening on URL`` and ``URL/.well-known/jwks.json``
answers 200. :meth:`PortalProcess.stop` sends SIGTERM (the portal signs a last checkpoint
and exits 0), waits, then kills; it is safe when the child already died.

If the child dies while serving, the watcher logs it and calls ``on_exit`` (``dataward serve``
then stops the gRPC API and exits non-zero). Even without that, the zone fails closed: once
the revocation feed is stale, every call is refused UNAVAILABLE.

The child dies with its parent, however the parent ends (SIGKILL included): it inherits the
read end of a pipe (``--parent-lifeline-fd``) whose only write end this process holds, and
:func:`exit_with_parent` stops it (SIGTERM to itself: the usual clean stop) when a read
returns end-of-file, which the kernel delivers when the last write end closes, i.e. when the
parent is gone. Why not ``PR_SET_PDEATHSIG``: it fires when the *thread* that forked the
child exits, not the process, so a portal started from any thread but the main one would be
killed early; and it needs a ``getppid`` check for a parent that died before the ``prctl``.
The pipe has neither problem and is not Linux-only.
"""

from __future__ import annotations

import base64
import collections
import hmac
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from launcher.settings import (
    PORTAL_KEY_FILE_VARIABLE,
    PORTAL_KEY_VARIABLE,
    Secret,
    Settings,
    SettingsError,
    child_environment,
)

__all__ = [
    "PortalProcess",
    "PortalProcessError",
    "exit_with_parent",
    "portal_key",
    "portal_settings_toml",
]

_log = logging.getLogger("dataward.zone")
_READY_PREFIX = "portal listening on "
_STDERR_TAIL_LINES = 40
# The label of the portal key derived from the master key when none is configured.
_DERIVED_KEY_INFO = b"dataward portal key v1"
# After its parent is gone the child stops cleanly; if that hangs, it exits anyway this late.
_ORPHAN_GRACE_SECONDS = 15.0


class PortalProcessError(Exception):
    """The portal process could not be started, or died while serving."""


def portal_key(settings: Settings) -> Secret | None:
    """The key that seals the portal's private keys at rest (``ZONE/portal/keys``).

    ``portal.key`` (``DATAWARD_PORTAL_KEY`` / ``DATAWARD_PORTAL_KEY_FILE``) when it is set:
    the portal's own secret, which may not equal the master key. Otherwise, where the master
    key is present (``dataward serve``, the operator's ``dataward portal`` subcommands), a key
    derived from it with HKDF-SHA256 (label ``dataward portal key v1``): distinct from it, and
    revealing nothing of it, so the portal process still never holds the master key, and a
    zone run with the master key alone (the demo) needs nothing more. Otherwise ``None``.
    The serving ``dataward portal`` never derives: it takes only an explicit portal key.
    """
    explicit, master = settings.portal.key, settings.zone.master_key
    if explicit is not None:
        if master is not None and hmac.compare_digest(explicit.value, master.value):
            raise SettingsError(
                f"the portal key ({PORTAL_KEY_VARIABLE} or {PORTAL_KEY_FILE_VARIABLE}) must "
                "not be the master key: the portal process may never hold the master key"
            )
        return explicit
    if master is None:
        return None
    derived = HKDF(algorithm=SHA256(), length=32, salt=None, info=_DERIVED_KEY_INFO)
    # Text, not raw bytes: a key passes through a file, which settings strip of whitespace.
    return Secret(base64.urlsafe_b64encode(derived.derive(master.value)).rstrip(b"="))


def portal_settings_toml(settings: Settings, bind: str) -> str:
    """The child's config file: ``[zone] dir``, the full ``[portal]`` section (``bind``
    replaced) except the portal key, which never goes into a file (see :class:`PortalProcess`),
    and the ``[log]`` section (the child logs as this process does). Strings are written as
    JSON strings, which TOML basic strings accept."""
    lines = ["[zone]", f"dir = {json.dumps(str(settings.zone.dir.resolve()))}", "", "[portal]"]
    values = {**asdict(settings.portal), "bind": bind}
    for name, value in values.items():
        if value is None or name == "key":
            continue
        if isinstance(value, bool):
            rendered = "true" if value else "false"
        elif isinstance(value, int | float):
            rendered = repr(value)
        else:
            rendered = json.dumps(str(value))
        lines.append(f"{name} = {rendered}")
    lines += ["", "[log]", f"level = {json.dumps(settings.log.level)}"]
    lines.append(f"slow_ms = {settings.log.slow_ms}")
    return "\n".join(lines) + "\n"


class PortalProcess:
    """A running portal child. Build with :meth:`start`."""

    def __init__(
        self, process: subprocess.Popen[str], on_exit: Callable[[int], None], lifeline: int
    ) -> None:
        self._process = process
        self._lifeline = lifeline  # the write end: the child lives while it is open
        self._on_exit = on_exit
        self._stopping = threading.Event()
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True, name="portal-stdout"),
            threading.Thread(target=self._read_stderr, daemon=True, name="portal-stderr"),
        ]
        for thread in self._threads:
            thread.start()
        self.url = ""

    @classmethod
    def start(
        cls,
        settings: Settings,
        bind: str,
        *,
        timeout: float = 90.0,
        on_exit: Callable[[int], None] = lambda _code: None,
    ) -> PortalProcess:
        """Start the child and wait until it serves its JWKS; raise PortalProcessError (with
        the tail of its stderr) when it exits or is not ready within ``timeout`` seconds (90:
        a loaded small machine took 14-34 s to import the portal; a child that dies is
        reported at once, so the bound only matters for one that hangs), and
        SettingsError when there is no portal key to give it (see :func:`portal_key`)."""
        key = portal_key(settings)
        if key is None:
            raise SettingsError(
                f"the portal process needs the portal key: set {PORTAL_KEY_VARIABLE} or "
                f"{PORTAL_KEY_FILE_VARIABLE} (or the master key, from which it is derived)"
            )
        fd, name = tempfile.mkstemp(prefix="dataward-portal-", suffix=".toml")
        config = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(portal_settings_toml(settings, bind))
            # os.pipe() fds are not inheritable: only the child gets the read end (pass_fds),
            # and no other child of ours ever holds the write end open.
            key_read, key_write = os.pipe()
            try:  # at most 4096 bytes (settings): one atomic write, never blocks
                os.write(key_write, key.value)
            finally:
                os.close(key_write)
            lifeline_read, lifeline_write = os.pipe()
            command = [sys.executable, "-m", "launcher", "portal"]
            command += ["--zone", str(settings.zone.dir.resolve()), "--bind", bind]
            command += ["--parent-lifeline-fd", str(lifeline_read)]
            env = child_environment(config_file=config)
            env[PORTAL_KEY_FILE_VARIABLE] = f"/dev/fd/{key_read}"
            try:
                process = subprocess.Popen(  # noqa: S603 (our own interpreter, no shell)
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                    pass_fds=(key_read, lifeline_read),
                )
            except BaseException:
                os.close(lifeline_write)
                raise
            finally:
                os.close(key_read)
                os.close(lifeline_read)
            child = cls(process, on_exit, lifeline_write)
            try:
                child._wait_ready(time.monotonic() + timeout)
            except BaseException:
                child.stop()
                raise
        finally:
            config.unlink(missing_ok=True)
        threading.Thread(target=child._watch, daemon=True, name="portal-watch").start()
        return child

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.poll()

    @property
    def died(self) -> bool:
        """The child exited on its own, not through :meth:`stop`."""
        return self._process.poll() is not None and not self._stopping.is_set()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL; idempotent, fine if already dead."""
        self._stopping.set()
        if self._process.poll() is None:
            try:
                self._process.send_signal(signal.SIGTERM)
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                _log.error("portal_process_killed", extra={"why": "no stop on SIGTERM"})
                self._process.kill()
                self._process.wait()
            except ProcessLookupError:
                pass  # exited between poll and signal
        self._process.wait()
        if self._lifeline >= 0:
            os.close(self._lifeline)
            self._lifeline = -1
        for thread in self._threads:
            thread.join(timeout)
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()

    def _wait_ready(self, deadline: float) -> None:
        while not self.url:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise self._failure("did not print its address in time") from None
            if line is None:
                raise self._failure("exited before serving")
            if line.startswith(_READY_PREFIX):
                self.url = line[len(_READY_PREFIX) :].strip()
        jwks = f"{self.url}/.well-known/jwks.json"
        while True:
            try:
                with urllib.request.urlopen(jwks, timeout=2.0) as response:  # noqa: S310 (http://loopback by construction)
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if self._process.poll() is not None:
                raise self._failure("exited before serving")
            if time.monotonic() > deadline:
                raise self._failure("did not serve its JWKS in time")
            time.sleep(0.05)

    def _failure(self, what: str) -> PortalProcessError:
        if self._process.poll() is not None:
            self._threads[1].join(2.0)  # the whole stderr, up to its end
        tail = "\n".join(self._stderr).strip() or "(nothing on stderr)"
        return PortalProcessError(f"the portal process {what}; its stderr ends with:\n{tail}")

    def _read_stdout(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _read_stderr(self) -> None:
        """Keep a tail for error messages and pass every line on to our own stderr."""
        assert self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr.append(line.rstrip("\n"))
            sys.stderr.write(line)

    def _watch(self) -> None:
        code = self._process.wait()
        if self._stopping.is_set():
            return
        _log.error("portal_process_exited", extra={"exit_code": code})
        self._on_exit(code)


def exit_with_parent(lifeline_fd: int) -> None:
    """In the child: stop this process when the parent holding the pipe's write end is gone.

    A daemon thread blocks reading ``lifeline_fd``; end-of-file means no write end is left. It
    then sends SIGTERM to this process (the portal's clean stop: a last checkpoint, exit 0),
    and if that has not ended the process within a grace period, exits at once.
    """

    def watch() -> None:
        while os.read(lifeline_fd, 1):  # the parent never writes; data would be ignored
            pass
        logging.getLogger("dataward.portal").error("parent_process_gone")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(_ORPHAN_GRACE_SECONDS)
        os._exit(70)  # EX_SOFTWARE: the clean stop hung

    threading.Thread(target=watch, daemon=True, name="portal-lifeline").start()

"""Every failure README's "Exit codes" table documents, run, its exit code compared (issue 14).

The table is read from README.md: each row's failure text must have a scenario here and each
scenario a row, so a row added, removed or given another code fails until the two agree.
The commands run in this process through ``launcher.cli.main`` (the same table, the same
``sys.exit``), on real zones, real sockets and real files, with the environment of each run
set here and every other ``DATAWARD_*`` variable removed.

The exit codes the Commands table's rows name ("exit 65 for a malformed map") are held to the
same rule: each (command, code) a row names is run here, or, where it needs a running server
with a partner app, names the test that runs it (which must exist and assert that code).
"""

from __future__ import annotations

import io
import re
import shutil
import socket
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from enclave.audit import AuditLog
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from launcher._wiring import AUDIT_DB
from launcher.cli import main
from launcher.settings import (
    CONFIG_VARIABLE,
    ENVIRONMENT,
    MASTER_KEY_FILE_VARIABLE,
    MASTER_KEY_VARIABLE,
    PORTAL_KEY_FILE_VARIABLE,
    PORTAL_KEY_VARIABLE,
    load_settings,
)
from tests.support.zone_source import MASTER_KEY, bad_check, make_source

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
_TABLE = README.split("\n### Exit codes\n", 1)[1].split("\n## ", 1)[0]
# failure text -> exit code, in the table's order
DOCUMENTED: dict[str, int] = {
    match[1]: int(match[2])
    for match in re.finditer(r"^\| (.+?) \| (\d+) \|$", _TABLE, re.M)
    if match[1] != "failure"
}
KEY = {MASTER_KEY_VARIABLE: MASTER_KEY.decode()}
DEFAULT_POLICY = Path(__file__).parents[2] / "policies" / "default.yaml"
PORTAL_KEY = {PORTAL_KEY_VARIABLE: "the portal's own key, not the master key"}


@dataclass(frozen=True)
class Run:
    """One command line, its environment and stdin, and what its message must say."""

    args: list[str]
    says: str
    env: dict[str, str] = field(default_factory=lambda: dict(KEY))
    stdin: str = ""
    code: int | None = None  # None: the row's; 0 for a step that prepares the next
    then: Callable[[], None] | None = None  # run after it


@dataclass
class Place:
    """The directories a scenario works in."""

    tmp: Path
    served: Path  # an initialized zone with a dataset, a fresh copy per scenario
    ids: list[str]  # valid ID numbers of its persons

    def fresh(self, name: str) -> Path:
        """A new, initialized zone without a dataset."""
        zone = self.tmp / name
        init_zone(zone, MASTER_KEY)
        return zone


@pytest.fixture(scope="module")
def zone_with_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("readme-exit")
    source = make_source(10)
    zone = root / "zone"
    init_zone(zone, MASTER_KEY)
    ingest(zone, source.write(root / "src"), open_keyring(zone, MASTER_KEY))
    return zone, source.column("persons", "id_number")


@pytest.fixture
def place(tmp_path: Path, zone_with_data: tuple[Path, list[str]]) -> Place:
    zone, ids = zone_with_data
    served = tmp_path / "served"
    shutil.copytree(zone, served)
    return Place(tmp_path, served, ids)


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


# -- the scenarios, by the README's failure text ------------------------------------------------

Scenario = Callable[[Place, int], list[Run]]
_HELD: list[AuditLog] = []  # audit logs a scenario holds open while its commands run


def _id_on_argv(p: Place, _port: int) -> list[Run]:
    args = ["zone", "lookup", "--zone", str(p.served), "--id-number", p.ids[0]]
    return [Run(args, "shell history")]


def _usage(p: Place, _port: int) -> list[Run]:
    return [
        Run(["zone", "inspect", "--zone", str(p.served), "--bogus"], "No such option '--bogus'"),
        Run(["zone", "ingest", "--zone", str(p.served)], "Missing option '--source'"),
    ]


def _too_many_rejects(p: Place, _port: int) -> list[Run]:
    source = make_source(10)
    ids = source.column("persons", "id_number")
    ids[0] = bad_check(ids[0])
    src = source.write(p.tmp / "bad-src")
    return [Run(["zone", "ingest", "--zone", str(p.served), "--source", str(src)], "1 of 10 rows")]


def _missing_table_or_column(p: Place, _port: int) -> list[Run]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    missing = make_source(10).write(p.tmp / "missing", skip=("claims",))
    typed = make_source(10).write(p.tmp / "typed")
    table = pq.read_table(typed / "persons.parquet")
    column = table.schema.get_field_index("status")
    table = table.set_column(column, "status", pa.array([1] * table.num_rows, pa.int32()))
    pq.write_table(table, typed / "persons.parquet")
    return [
        Run(["zone", "ingest", "--zone", str(p.served), "--source", str(missing)], "'claims'"),
        Run(
            ["zone", "ingest", "--zone", str(p.served), "--source", str(typed)],
            "table 'persons', column 'status'",
        ),
    ]


def _invalid_id(p: Place, _port: int) -> list[Run]:
    bad = bad_check(p.ids[1])
    return [
        Run(["zone", "lookup", "--zone", str(p.served)], "check character", stdin=bad + "\n"),
        Run(["audit", "who-checked", "--zone", str(p.served)], "check character", stdin=bad + "\n"),
    ]


def _tampered_log(p: Place, _port: int) -> list[Run]:
    def tamper() -> None:
        db = sqlite3.connect(p.served / AUDIT_DB)
        with db:
            db.execute("UPDATE leaves SET leaf = leaf || x'20' WHERE idx = 0")
        db.close()

    apply = ["policy", "apply", "--zone", str(p.served), str(DEFAULT_POLICY)]
    return [
        Run(apply, "", code=0, then=tamper),  # its policy_changed leaf, then changed
        Run(["audit", "verify", "--zone", str(p.served)], "entry 0", env={}),
    ]


def _bad_policy(p: Place, _port: int) -> list[Run]:
    document = p.tmp / "policy.yaml"
    document.write_text("views: 7\n")
    return [
        Run(["policy", "check", str(document)], str(document), env={}),
        Run(["policy", "apply", "--zone", str(p.served), str(document)], str(document)),
    ]


def _not_a_zone(p: Place, _port: int) -> list[Run]:
    empty = p.tmp / "empty"
    empty.mkdir()
    missing = p.tmp / "nowhere"
    return [
        Run(["zone", "inspect", "--zone", str(missing)], "is not a zone (does not exist)"),
        Run(["audit", "tail", "--zone", str(missing)], "is not a zone (does not exist)", env={}),
        Run(["audit", "tail", "--zone", str(empty)], "is not a zone (has no keyring.json)", env={}),
        Run(
            ["portal", "--zone", str(missing), "--bind", "127.0.0.1:0"], "is not a zone", PORTAL_KEY
        ),
        Run(
            ["portal", "--zone", str(missing), "create-steward", "--username", "s"],
            "is not a zone",
            PORTAL_KEY,
            "a long enough password\n",
        ),
    ]


def _no_source(p: Place, _port: int) -> list[Run]:
    args = ["zone", "ingest", "--zone", str(p.served), "--source", str(p.tmp / "absent")]
    return [Run(args, "source directory does not exist")]


def _no_dataset(p: Place, _port: int) -> list[Run]:
    zone = p.fresh("no-data")
    return [
        Run(["zone", "inspect", "--zone", str(zone)], "no dataset yet", env={}),
        Run(["zone", "lookup", "--zone", str(zone)], "no dataset yet", stdin=p.ids[0] + "\n"),
    ]


def _address_in_use(p: Place, port: int) -> list[Run]:
    taken = f"127.0.0.1:{port}"
    free = "127.0.0.1:0"
    zone = ["--zone", str(p.served)]
    return [
        Run(["serve", *zone, "--grpc-bind", taken, "--portal-bind", free], f"--grpc-bind: {taken}"),
        Run(
            ["serve", *zone, "--grpc-bind", free, "--portal-bind", taken], f"--portal-bind: {taken}"
        ),
        Run(["portal", *zone, "--bind", taken], f"--bind: {taken} is already in use", PORTAL_KEY),
    ]


def _init_on_a_zone(p: Place, _port: int) -> list[Run]:
    return [Run(["zone", "init", "--zone", str(p.served)], "already initialized")]


def _init_not_empty(p: Place, _port: int) -> list[Run]:
    used = p.tmp / "used"
    used.mkdir()
    (used / "notes.txt").write_text("someone's file\n")
    return [Run(["zone", "init", "--zone", str(used)], "is not empty")]


def _init_cannot_create(p: Place, _port: int) -> list[Run]:
    in_the_way = p.tmp / "a-file"
    in_the_way.write_text("")
    return [
        Run(["zone", "init", "--zone", str(in_the_way / "zone")], "a file is in the way"),
        Run(["zone", "init", "--zone", "/proc/dataward-zone"], "cannot create the zone in /proc"),
    ]


def _datagen_not_empty(p: Place, _port: int) -> list[Run]:
    out = p.tmp / "out"
    out.mkdir()
    (out / "x").write_text("")
    return [Run(["datagen", "--out", str(out), "--persons", "5"], "is not empty", env={})]


def _log_removed(p: Place, _port: int) -> list[Run]:
    (p.served / AUDIT_DB).unlink()
    return [Run(["audit", "tail", "--zone", str(p.served)], "no audit log", env={})]


def _zone_busy(p: Place, _port: int) -> list[Run]:
    # another writer holds the zone's log: a process that is not a server (nothing to hand
    # the write to); held by this process, released when the scenario's runs are done
    settings = load_settings(environ={})
    keyring = open_keyring(p.served, MASTER_KEY)
    name = f"dataward-zone-{keyring.zone_id}"
    _HELD.append(
        AuditLog.open(p.served / AUDIT_DB, settings.audit, keyring.signing_key, name, name)
    )
    return [Run(["policy", "apply", "--zone", str(p.served), str(DEFAULT_POLICY)], "audit log")]


def _wrong_key(p: Place, _port: int) -> list[Run]:
    corrupt = p.fresh("corrupt")
    raw = bytearray((corrupt / "keyring.json").read_bytes())
    raw[raw.index(b'"ciphertext"') + 20] ^= 0x01
    (corrupt / "keyring.json").write_bytes(bytes(raw))
    other = {MASTER_KEY_VARIABLE: "some other master key!"}
    return [
        Run(["zone", "lookup", "--zone", str(p.served)], "wrong master key", other, p.ids[0]),
        Run(["zone", "lookup", "--zone", str(corrupt)], "corrupt keyring", stdin=p.ids[0]),
    ]


def _no_master_key(p: Place, _port: int) -> list[Run]:
    return [Run(["zone", "lookup", "--zone", str(p.served)], "master key is missing", {}, p.ids[0])]


def _key_twice(p: Place, _port: int) -> list[Run]:
    key_file = p.tmp / "master.key"
    key_file.write_bytes(MASTER_KEY)
    portal_file = p.tmp / "portal.key"
    portal_file.write_text(PORTAL_KEY[PORTAL_KEY_VARIABLE])
    both = {**KEY, MASTER_KEY_FILE_VARIABLE: str(key_file)}
    both_portal = {**PORTAL_KEY, PORTAL_KEY_FILE_VARIABLE: str(portal_file)}
    return [
        Run(
            ["zone", "init", "--zone", str(p.tmp / "z")],
            f"both {MASTER_KEY_VARIABLE} and {MASTER_KEY_FILE_VARIABLE} are set",
            both,
        ),
        Run(
            ["portal", "--zone", str(p.served), "--bind", "127.0.0.1:0"],
            f"both {PORTAL_KEY_VARIABLE} and {PORTAL_KEY_FILE_VARIABLE} are set",
            both_portal,
        ),
    ]


def _malformed_setting(p: Place, _port: int) -> list[Run]:
    bad = {**KEY, "DATAWARD_AUDIT_SYNCHRONOUS": "SOMETIMES"}
    return [
        Run(["audit", "tail", "--zone", str(p.served)], "audit.sqlite_synchronous", bad),
        Run(["zone", "init", "--zone", str(p.tmp / "z")], "audit.sqlite_synchronous", bad),
    ]


def _malformed_address(p: Place, _port: int) -> list[Run]:
    zone = ["--zone", str(p.served)]
    free = "127.0.0.1:0"
    return [
        Run(["serve", *zone, "--grpc-bind", "127.0.0.1:99999"], "port 99999"),
        Run(["serve", *zone, "--grpc-bind", "127.0.0.1"], "is not HOST:PORT"),
        Run(["serve", *zone, "--grpc-bind", free, "--portal-bind", "::1:80"], "in brackets"),
        Run(["serve", *zone, "--grpc-bind", "192.0.2.1:0", "--portal-bind", free], "cannot listen"),
        Run(["portal", *zone, "--bind", "127.0.0.1:70000"], "--bind: port 70000", PORTAL_KEY),
        Run(
            ["serve", *zone],
            "setting grpc.bind: port 65536",
            {**KEY, "DATAWARD_GRPC_BIND": "127.0.0.1:65536"},
        ),
        Run(["serve", *zone], "setting metrics.bind", {**KEY, "DATAWARD_METRICS_BIND": ":9"}),
        Run(
            ["serve", *zone], "setting metrics.bind", {**KEY, "DATAWARD_METRICS_BIND": "10.1.2.3:9"}
        ),
    ]


def _portal_with_master_key(p: Place, _port: int) -> list[Run]:
    env = {**PORTAL_KEY, **KEY}
    args = ["portal", "--zone", str(p.served), "--bind", "127.0.0.1:0"]
    return [Run(args, "the serving portal must not hold the master key", env)]


def _unknown_partner(p: Place, _port: int) -> list[Run]:
    args = ["consent", "grant", "--zone", str(p.served), "--partner", "nobody"]
    return [
        Run(
            [*args, "--purpose", "INSURANCE_UNDERWRITING"],
            "no partner organization has the slug 'nobody'",
            stdin=p.ids[0] + "\n",
        )
    ]


def _portal_run(
    p: Place, *args: str, says: str = "", stdin: str = "", code: int | None = None
) -> Run:
    return Run(["portal", "--zone", str(p.served), *args], says, dict(PORTAL_KEY), stdin, code)


def _portal_refusal(p: Place, _port: int) -> list[Run]:
    password = "correct horse battery"
    return [
        _portal_run(
            p, "org", "create", "--name", "Acme", "--kind", "insurer", "--slug", "acme", code=0
        ),
        _portal_run(p, "org", "suspend", "nope", says="no organization has the slug 'nope'"),
        _portal_run(
            p,
            "org",
            "create",
            "--name",
            "B",
            "--kind",
            "bank",
            "--slug",
            "Not A Slug",
            says="the slug must be",
        ),
        _portal_run(
            p,
            "user",
            "create",
            "--username",
            "u",
            "--org",
            "acme",
            says="at least 10 characters",
            stdin="short\n",
        ),
        _portal_run(
            p,
            "user",
            "create",
            "--username",
            "u",
            "--org",
            "nope",
            says="slug 'nope'",
            stdin=password,
        ),
        _portal_run(p, "org", "suspend", "acme", code=0),
        _portal_run(p, "org", "suspend", "acme", says="is already suspended"),
        _portal_run(p, "user", "disable", "nobody", says="no user has the username 'nobody'"),
    ]


def _portal_taken(p: Place, _port: int) -> list[Run]:
    password = "correct horse battery"
    return [
        _portal_run(
            p, "org", "create", "--name", "Acme", "--kind", "insurer", "--slug", "acme", code=0
        ),
        _portal_run(
            p, "org", "create", "--name", "Acme", "--kind", "bank", says="this name exists"
        ),
        _portal_run(
            p,
            "org",
            "create",
            "--name",
            "B",
            "--kind",
            "bank",
            "--slug",
            "acme",
            says="the slug 'acme' exists",
        ),
        _portal_run(
            p, "user", "create", "--username", "ann", "--org", "acme", stdin=password, code=0
        ),
        _portal_run(
            p,
            "user",
            "create",
            "--username",
            "ann",
            "--org",
            "acme",
            stdin=password,
            says="this username is taken",
        ),
    ]


def _check_args(p: Place, batch: Path, out: Path) -> list[str]:
    options = ["--benefit", "OUTPATIENT", "--purpose", "INSURANCE_UNDERWRITING", "--client-id", "a"]
    return ["check", "--zone", str(p.served), "--batch", str(batch), "--out", str(out), *options]


def _check_bad_file(p: Place, _port: int) -> list[Run]:
    no_header, other, latin = p.tmp / "ids.csv", p.tmp / "more.csv", p.tmp / "latin.csv"
    no_header.write_text("".join(f"{i}\n" for i in p.ids))  # the header is an ID number
    other.write_text(f"id_number,name\n{p.ids[0]},x\n")
    latin.write_bytes(b"id_number\n\xff\n")
    out = p.tmp / "results.csv"
    return [
        Run(_check_args(p, no_header, out), "must name an id_number column", env={}),
        Run(_check_args(p, other, out), "1 column(s) other than id_number", env={}),
        Run(_check_args(p, latin, out), "line 2 is not UTF-8 text", env={}),
    ]


def _check_no_file(p: Place, _port: int) -> list[Run]:
    return [Run(_check_args(p, p.tmp / "nope.csv", p.tmp / "r.csv"), "no such file", env={})]


def _check_out_exists(p: Place, _port: int) -> list[Run]:
    out = p.tmp / "results.csv"
    out.write_text("earlier results\n")
    return [Run(_check_args(p, p.tmp / "any.csv", out), "give --force", env={})]


SCENARIOS: dict[str, Scenario] = {
    "`check --batch`: a file whose header names no `id_number` column, names other columns, "
    "or that is not UTF-8 text (the row or column named, never a value)": _check_bad_file,
    "`check --batch`: a file that does not exist": _check_no_file,
    "`check --out`: a file that exists, without `--force`": _check_out_exists,
    "a person's ID number written on the command line (`--id-number 1234...`)": _id_on_argv,
    "an unknown option, or a required one missing": _usage,
    "`zone ingest`: a table's rejected share passes `zone.max_reject_share` (nothing published)": (
        _too_many_rejects
    ),
    "`zone ingest`: a table missing from the export, or a column missing or of the wrong type": (
        _missing_table_or_column
    ),
    "`zone lookup`, `audit who-checked`: an invalid ID number": _invalid_id,
    "`audit verify`: an entry of the log changed behind the zone's back": _tampered_log,
    "`policy check`, `policy apply`: a policy document with an error (file and path named)": (
        _bad_policy
    ),
    "a directory that is not a zone (`zone inspect`, `audit tail`, `portal --zone`: never "
    "created)": _not_a_zone,
    "`consent grant --partner`: a slug that is not an active partner organization of the zone's "
    "portal": _unknown_partner,
    "`portal org`, `portal user`: an unknown slug or username, a malformed slug, a short "
    "password, or a change the state does not allow (already suspended, already disabled)": (
        _portal_refusal
    ),
    "`portal org create`, `portal user create`: a name, slug or username that is taken": (
        _portal_taken
    ),
    "`zone ingest --source`: a directory that does not exist": _no_source,
    "`zone inspect`, `zone lookup`: a zone with no dataset yet": _no_dataset,
    "`serve --grpc-bind`, `serve --portal-bind`, `portal --bind`: an address another program "
    "listens on": _address_in_use,
    "`zone init` on a zone": _init_on_a_zone,
    "`zone init` into a directory that is not empty": _init_not_empty,
    "`zone init` where the directory cannot be created (a file in the way, a read-only place)": (
        _init_cannot_create
    ),
    "`datagen --out`: a directory that is not empty": _datagen_not_empty,
    "a zone whose audit log was removed": _log_removed,
    "another process writes the zone (a second `serve`, a command while one runs that cannot "
    "hand its write to it)": _zone_busy,
    "a wrong master key, or a corrupt keyring": _wrong_key,
    "the master key missing": _no_master_key,
    "a key given twice: both `DATAWARD_MASTER_KEY` and `DATAWARD_MASTER_KEY_FILE` set (or both "
    "portal key variables)": _key_twice,
    "a malformed setting (`DATAWARD_AUDIT_SYNCHRONOUS=SOMETIMES`: the message names the "
    "setting)": _malformed_setting,
    "a listening address that is not `HOST:PORT`, a port outside 1–65535 (0: any free port), or "
    "not an address of this machine": _malformed_address,
    "serving `portal` with the master key in its environment": _portal_with_master_key,
}


def test_every_documented_failure_has_a_scenario_and_every_scenario_a_row() -> None:
    assert len(DOCUMENTED) >= 20
    assert set(DOCUMENTED) - set(SCENARIOS) == set(), "README rows no scenario here runs"
    assert set(SCENARIOS) - set(DOCUMENTED) == set(), "scenarios for rows the README lost"


def test_every_exit_code_the_readme_names_is_in_the_table() -> None:
    named = {int(code) for code in re.findall(r"\bexits? (\d\d)\b", README)}
    assert named - {*DOCUMENTED.values(), 70} == set()


def _dataward(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], run: Run
) -> tuple[int, str]:
    variables = {*ENVIRONMENT, MASTER_KEY_VARIABLE, MASTER_KEY_FILE_VARIABLE, CONFIG_VARIABLE}
    for name in variables | {PORTAL_KEY_VARIABLE, PORTAL_KEY_FILE_VARIABLE}:
        monkeypatch.delenv(name, raising=False)
    for name, value in run.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdin", io.StringIO(run.stdin))
    capsys.readouterr()
    try:
        main(run.args)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("failure", "code"),
    DOCUMENTED.items(),
    ids=[
        f"{code}-" + re.sub(r"[^a-z0-9]+", "-", text.lower())[:40]
        for text, code in DOCUMENTED.items()
    ],
)
def test_a_documented_failure_exits_with_its_documented_code(
    failure: str,
    code: int,
    place: Place,
    taken_port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    try:
        runs = SCENARIOS[failure](place, taken_port)
        for run in runs:
            got, stderr = _dataward(monkeypatch, capsys, run)
            if run.code == 0:
                assert got == 0, stderr
                if run.then is not None:
                    run.then()
                continue
            assert (got, run.says in stderr) == (code, True), (
                f"`dataward {' '.join(run.args)}`: exit {got}, README says {code} for "
                f"{failure!r}; stderr: {stderr}"
            )
            assert "Traceback" not in stderr and "this is a bug" not in stderr
            assert not any(number in stderr for number in place.ids)
    finally:
        while _HELD:
            _HELD.pop().close()
    if failure.startswith("a directory that is not a zone"):
        assert not (place.tmp / "nowhere").exists()  # never created, by `portal` either


# -- the exit codes the Commands table's rows name ------------------------------------------------
# Each "exit NN" in a row of README's Commands table, by the row's (first) command: run here,
# or, where the failure needs a running server and a partner app, the test that runs it.

_COMMANDS = README.split("\n## Commands\n", 1)[1].split("\n### Exit codes\n", 1)[0]
ROW_CODES: list[tuple[str, int]] = sorted(
    {
        (" ".join(_row[1].split("\\|")[0].split()[:3]).split(" -")[0].strip(), int(code))
        for _row in re.finditer(
            r"^\| `dataward ([a-z -]+(?:\\\|[a-z-]+)*)[^`]*`.*?\| (.*) \|$", _COMMANDS, re.M
        )
        for code in re.findall(r"\bexits? (\d\d)\b", _row[2])
    }
)


def _rollback_unknown(p: Place, _port: int) -> list[Run]:
    return [Run(["zone", "rollback", "--zone", str(p.served), "v-never-kept"], "v-never-kept")]


def _enroll_bad_map(p: Place, _port: int) -> list[Run]:
    images = p.tmp / "images"
    images.mkdir()
    bad_map = p.tmp / "map.csv"
    bad_map.write_text("not,the,header\n")
    zone = ["zone", "enroll-faces", "--zone", str(p.served), "--map", str(bad_map)]
    return [
        Run([*zone, "--images", str(images)], "the map's header must be exactly"),
        Run([*zone, "--images", str(p.tmp / "no-images")], "the images directory does not exist"),
    ]


def _calibrate_bad_pairs(p: Place, _port: int) -> list[Run]:
    pairs = p.tmp / "pairs.tsv"
    pairs.write_text("label\timg_a\timg_b\nmaybe\ta.jpg\tb.jpg\n")
    args = ["faces", "calibrate", "--pairs", str(pairs), "--images", str(p.tmp), "--workers", "0"]
    return [Run([*args, "--no-progress"], "line 2", env={})]


def _org_taken(p: Place, _port: int) -> list[Run]:
    org = ["portal", "--zone", str(p.served), "org", "create", "--name", "Acme", "--kind", "bank"]
    return [Run(org, "", PORTAL_KEY, code=0), Run(org, "exists", PORTAL_KEY)]


def _org_unknown(p: Place, _port: int) -> list[Run]:
    portal = ["portal", "--zone", str(p.served), "org"]
    return [
        Run([*portal, "suspend", "nope"], "no organization has the slug 'nope'", PORTAL_KEY),
        Run([*portal, "resume", "nope"], "no organization has the slug 'nope'", PORTAL_KEY),
    ]


def _user_bad_org_or_password(p: Place, _port: int) -> list[Run]:
    user = ["portal", "--zone", str(p.served), "user", "create", "--username", "ann"]
    org = ["portal", "--zone", str(p.served), "org", "create", "--name", "Acme", "--kind", "bank"]
    return [
        Run([*user, "--org", "nope"], "'nope'", PORTAL_KEY, "a long enough password\n"),
        Run(org, "", PORTAL_KEY, code=0),
        Run([*user, "--org", "acme"], "at least 10 characters", PORTAL_KEY, "short\n"),
    ]


def _user_unknown(p: Place, _port: int) -> list[Run]:
    disable = ["portal", "--zone", str(p.served), "user", "disable", "nobody"]
    return [Run(disable, "no user has the username 'nobody'", PORTAL_KEY)]


def _user_taken(p: Place, _port: int) -> list[Run]:
    org = ["portal", "--zone", str(p.served), "org", "create", "--name", "Acme", "--kind", "bank"]
    user = ["portal", "--zone", str(p.served), "user", "create", "--username", "ann"]
    password = "a long enough password\n"
    return [
        Run(org, "", PORTAL_KEY, code=0),
        Run([*user, "--org", "acme"], "", PORTAL_KEY, password, code=0),
        Run([*user, "--org", "acme"], "this username is taken", PORTAL_KEY, password),
    ]


ROW_FAILURES: dict[tuple[str, int], Scenario | str] = {
    ("zone rollback", 65): _rollback_unknown,
    ("zone enroll-faces", 65): _enroll_bad_map,
    ("faces calibrate", 65): _calibrate_bad_pairs,
    ("portal org create", 73): _org_taken,
    ("portal org list", 65): _org_unknown,
    ("portal user create", 65): _user_bad_org_or_password,
    ("portal user create", 73): _user_taken,
    ("portal user disable", 65): _user_unknown,
    ("policy apply", 65): _bad_policy,
    ("policy check", 65): _bad_policy,
    # a running server, a partner app, a real JVM-less environment: run by their own tests
    # (test file :: test name, which asserts the code)
    (
        "serve",
        69,
    ): "tests/e2e/test_serve_engine_cli.py::test_without_pyspark_serve_says_to_install_the_extra",
    (
        "query explain",
        65,
    ): "tests/e2e/test_query_cli.py::test_explain_of_a_refused_query_names_the_rule_and_exits_65",
    ("query explain", 75): "tests/e2e/test_query_cli.py::"
    "test_a_dp_run_prints_its_noise_and_cost_and_the_same_query_again_is_free",
    (
        "compute sign-model",
        65,
    ): "tests/e2e/test_compute_cli.py::test_an_altered_or_malformed_card_exits_65",
    ("check", 65): "tests/e2e/test_check_batch_cli.py::"
    "test_a_bad_file_exits_65_naming_the_row_or_column_never_a_value",
    ("check", 66): "tests/e2e/test_check_batch_cli.py::"
    "test_a_missing_file_exits_66_and_a_bad_parquet_column_65",
    ("check", 73): "tests/e2e/test_check_batch_cli.py::"
    "test_stdin_in_parquet_out_and_an_all_answered_run_exits_0",
}


def test_every_exit_code_a_command_row_names_has_a_scenario_or_its_test() -> None:
    assert len(ROW_CODES) >= 10
    assert set(ROW_CODES) - set(ROW_FAILURES) == set(), "Commands rows' codes nothing runs"
    assert set(ROW_FAILURES) - set(ROW_CODES) == set(), "scenarios for codes the rows lost"


@pytest.mark.parametrize(
    ("row", "code"),
    [key for key, runner in ROW_FAILURES.items() if isinstance(runner, str)],
    ids=str,
)
def test_a_row_failure_run_elsewhere_has_its_test(row: str, code: int) -> None:
    runner = ROW_FAILURES[(row, code)]
    assert isinstance(runner, str)
    path, _, name = runner.partition("::")
    source = (Path(__file__).parents[2] / path).read_text(encoding="utf-8")
    assert f"def {name}(" in source and f"== {code}" in source, runner


@pytest.mark.parametrize(
    ("row", "code"),
    [key for key, runner in ROW_FAILURES.items() if not isinstance(runner, str)],
    ids=str,
)
def test_a_row_failure_exits_with_the_code_its_row_names(
    row: str,
    code: int,
    place: Place,
    taken_port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runner = ROW_FAILURES[(row, code)]
    assert not isinstance(runner, str)
    for run in runner(place, taken_port):
        got, stderr = _dataward(monkeypatch, capsys, run)
        expected = code if run.code is None else run.code
        assert got == expected and run.says in stderr, (
            f"`dataward {' '.join(run.args)}`: exit {got}, README's `{row}` row says {expected}; "
            f"stderr: {stderr}"
        )
        assert "Traceback" not in stderr and "this is a bug" not in stderr

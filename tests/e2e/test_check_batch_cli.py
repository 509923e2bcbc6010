"""`dataward check --batch` (issue 15) as a partner runs it, through ``launcher.cli.main``,
against a real gRPC server over a real zone and audit log, the app's token from a client
credentials endpoint, the zone's key pinned: CSV in (a file or stdin) or Parquet, CSV or
Parquet out, each row by its number and never its ID number; the exit codes of a bad file."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from enclave.errors import NoDataset
from launcher.cli import main
from tests.support.grpc_stack import Stack, grpc_stack
from tests.support.person_fakes import ALICE, BOB, CAROL, DAVE, KEY_NAME

CLIENT_ID, SECRET = "renewals-app", "check-batch-test-secret"
UW = "INSURANCE_UNDERWRITING"
BAD_CHECK = ALICE[:-1] + ("1" if ALICE[-1] != "1" else "2")
ALL_IDS = (ALICE, BOB, CAROL, DAVE, BAD_CHECK)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with grpc_stack(tmp_path_factory.mktemp("check-batch"), max_batch_items=3) as s:
        s.issuer.clients[CLIENT_ID] = (SECRET, ["eligibility:check", "audit:read"], [UW])
        for person in (ALICE, BOB, CAROL):
            s.consent(person)
        yield s


@pytest.fixture
def files(stack: Stack, tmp_path: Path) -> dict[str, Path]:
    key = tmp_path / "zone-signing-key.pub"
    pem = stack.audit.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    key.write_bytes(pem)
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    return {"key": key, "secret": secret}


def _run(
    stack: Stack,
    files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    argv = [
        "check",
        *args,
        "--benefit",
        "OUTPATIENT",
        "--purpose",
        UW,
        "--target",
        stack.target,
        "--token-url",
        stack.issuer.token_url,
        "--audit-key",
        str(files["key"]),
        "--audit-key-name",
        KEY_NAME,
        "--client-id",
        CLIENT_ID,
        "--client-secret-file",
        str(files["secret"]),
    ]
    assert not any(number in " ".join(argv) for number in ALL_IDS)  # never on argv
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    capsys.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "this is a bug" not in err
    assert not any(number in out + err for number in ALL_IDS), "an ID number was printed"
    return code, out, err


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(
    stack: Stack,
    files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Run:
    """``dataward check`` with these arguments against the stack: its exit code, stdout, stderr."""

    def call(*args: str, stdin: str = "") -> tuple[int, str, str]:
        return _run(stack, files, monkeypatch, capsys, *args, stdin=stdin)

    return call


def _no_ids_in(path: Path) -> None:
    raw = path.read_bytes()
    assert not any(number.encode() in raw for number in ALL_IDS), "an ID number was written"


ROWS = [ALICE, BOB, "", CAROL, DAVE, BAD_CHECK, "9" * 70, ALICE]


def _csv_text(ids: list[str]) -> str:
    return "id_number,consent_ref\n" + "".join(f"{i},\n" for i in ids)


def _assert_rows(rows: list[dict[str, str]]) -> None:
    assert [r["row"] for r in rows] == [str(n) for n in range(1, len(ROWS) + 1)]
    by_row = {int(r["row"]): r for r in rows}
    assert (by_row[1]["eligible"], by_row[1]["coverage_class"]) == ("true", "EMPLOYEE")
    assert (by_row[2]["eligible"], by_row[2]["reasons"]) == ("false", "SUSPENDED_ARREARS")
    assert by_row[3]["error_reason"] == "ID_NUMBER_MISSING" and by_row[3]["eligible"] == ""
    assert by_row[4]["reasons"] == "DECEASED"
    assert (by_row[5]["error_code"], by_row[5]["error_reason"]) == (
        "FAILED_PRECONDITION",
        "CONSENT_REQUIRED",
    )
    assert by_row[6]["error_reason"] == "ID_NUMBER_INVALID"
    assert by_row[7]["error_reason"] == "ID_NUMBER_TOO_LONG"
    assert by_row[8]["eligible"] == "true"
    for n in (1, 2, 4, 8):
        assert by_row[n]["request_id"] and int(by_row[n]["receipt_leaf_index"]) >= 0
    assert len({by_row[n]["request_id"] for n in (1, 2, 4, 8)}) == 4


def test_a_csv_file_in_a_csv_file_out_by_row_number_never_the_id_number(
    run: Run,
    tmp_path: Path,
) -> None:
    batch = tmp_path / "renewals.csv"
    batch.write_text(_csv_text(ROWS))
    out = tmp_path / "results.csv"
    code, stdout, stderr = run("--batch", str(batch), "--out", str(out))
    # some rows refused: the output is written, and the exit says so
    assert code == 65, stderr
    assert "4 of 8 rows were refused" in stderr
    assert "8 rows checked" in stdout and "4 answered (2 eligible)" in stdout
    assert "CONSENT_REQUIRED: 1" in stdout
    assert "check: rows 100%" in stderr  # the progress, off a terminal: by tenths
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    _assert_rows(rows)
    _no_ids_in(out)
    assert not list(tmp_path.glob(".*partial"))


def test_stdin_in_parquet_out_and_an_all_answered_run_exits_0(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "results.parquet"
    ids = [ALICE, BOB, CAROL, ALICE, BOB]  # five rows over two streams of three
    code, stdout, stderr = run("--batch", "-", "--out", str(out), stdin=_csv_text(ids))
    assert code == 0, stderr
    assert "5 rows checked" in stdout and "0 refused" in stdout
    assert "check: rows 5" in stderr  # stdin: a count, the total unknown
    table = pq.read_table(out)
    assert table.column_names == [
        "row",
        "eligible",
        "coverage_class",
        "reasons",
        "request_id",
        "receipt_leaf_index",
        "error_code",
        "error_reason",
    ]
    assert table.column("row").to_pylist() == [1, 2, 3, 4, 5]
    assert table.column("eligible").to_pylist() == [True, False, False, True, False]
    _no_ids_in(out)
    # an existing --out is refused (73) unless --force
    code, _, stderr = run("--batch", "-", "--out", str(out), stdin=_csv_text(ids))
    assert code == 73 and "give --force" in stderr


def test_a_parquet_file_in(run: Run, tmp_path: Path) -> None:
    batch = tmp_path / "renewals.parquet"
    pq.write_table(pa.table({"id_number": ROWS, "consent_ref": [""] * len(ROWS)}), batch)
    out = tmp_path / "results.csv"
    code, _, stderr = run("--batch", str(batch), "--out", str(out))
    assert code == 65 and "4 of 8 rows were refused" in stderr
    with out.open(newline="") as f:
        _assert_rows(list(csv.DictReader(f)))
    _no_ids_in(out)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (f"{ALICE}\n{BOB}\n", "must name an id_number column"),  # no header: never echoed
        (f"id_number,name\n{ALICE},张伟\n", "1 column(s) other than id_number"),
        ("", "the input is empty"),
        (b"id_number\n\xff\xfe\n".decode("latin-1"), "line 2 is not UTF-8"),
    ],
    ids=["no-header", "other-column", "empty", "not-utf8"],
)
def test_a_bad_file_exits_65_naming_the_row_or_column_never_a_value(
    run: Run,
    content: str,
    says: str,
    stack: Stack,
    tmp_path: Path,
) -> None:
    batch = tmp_path / "bad.csv"
    if says.startswith("line 2 is not"):
        batch.write_bytes(b"id_number\n\xff\xfe\n")
    else:
        batch.write_text(content)
    out = tmp_path / "results.csv"
    before = len(stack.store.appends)
    code, _, stderr = run("--batch", str(batch), "--out", str(out))
    assert code == 65 and says in stderr, stderr
    assert "张伟" not in stderr
    assert not out.exists() and len(stack.store.appends) == before  # nothing checked


def test_a_missing_file_exits_66_and_a_bad_parquet_column_65(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    code, _, stderr = run("--batch", str(tmp_path / "nope.csv"), "--out", str(out))
    assert code == 66 and "no such file" in stderr
    typed = tmp_path / "typed.parquet"
    pq.write_table(pa.table({"id_number": [1, 2]}), typed)
    code, _, stderr = run("--batch", str(typed), "--out", str(out))
    assert code == 65 and "column id_number is int64, not a string" in stderr
    assert not out.exists()


def test_an_outage_of_the_zone_exits_69_not_as_refused_rows(
    run: Run,
    stack: Stack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The dataset gone for every person (review of issue 15): the stream ends UNAVAILABLE once
    # the group is answered, so the command says "unavailable, retry" (69), never a complete
    # file of refused rows with 65.
    def person_by_token(token: bytes) -> object:
        raise NoDataset()

    monkeypatch.setattr(stack.directory, "person_by_token", person_by_token)
    batch = tmp_path / "renewals.csv"
    batch.write_text(_csv_text([ALICE, BOB, CAROL, ALICE]))
    out = tmp_path / "results.csv"
    code, _, stderr = run("--batch", str(batch), "--out", str(out))
    assert code == 69, stderr
    assert ALICE not in stderr

"""The SDK installs alone (issue 14).

The ``dataward-sdk`` wheel is built from ``sdk/`` with ``uv build``, installed into a clean venv
(``python -m venv``, its own pip, the versions of ``uv.lock``), and the insurer's program
``sdk_insurer.py`` runs with that venv's interpreter against the real gRPC server this test
starts (its audit log and consent store real, the registry a fake, the app's token from a
client-credentials endpoint): an eligibility check whose receipt verifies under the pinned
zone key, with a consistency proof, and a refusal decoded from its ``google.rpc.ErrorInfo``.
No server distribution is installed and no server package imports.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from packaging.markers import Marker

from tests.support.grpc_stack import Stack, grpc_stack
from tests.support.person_fakes import ALICE, BOB, KEY_NAME
from tools.sdk_wheel import (
    ROOT,
    Installed,
    build_wheel,
    install,
    lock_constraints,
    normalize,
    report,
)

pytestmark = pytest.mark.slow

CLIENT_ID, SECRET = "underwriting-app", "sdk-wheel-test-secret"
UW = "INSURANCE_UNDERWRITING"
INSURER = Path(__file__).with_name("sdk_insurer.py")
# Packages of this repository that are not the SDK: none may be importable in the venv.
SERVER_PACKAGES = ("launcher", "grpc_api", "portal", "enclave", "query_engine", "policies")
# Server-side libraries by their import names (the distributions are checked separately).
SERVER_IMPORTS = ("flask", "duckdb", "tenseal", "dlib", "sqlalchemy", "authlib", "pyarrow")


def _requirements(pyproject: Path) -> dict[str, str]:
    """``{normalized name: requirement}`` of a pyproject's dependencies and extras."""
    project = tomllib.loads(pyproject.read_text())["project"]
    listed = [*project["dependencies"]]
    for extra in project.get("optional-dependencies", {}).values():
        listed += extra
    return {normalize(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]): r for r in listed}


def _base_requirements() -> set[str]:
    """The SDK's requirements without its extras."""
    project = tomllib.loads((ROOT / "sdk" / "pyproject.toml").read_text())["project"]
    return {normalize(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]) for r in project["dependencies"]}


def _lock_closure(names: set[str]) -> set[str]:
    """``names`` and everything they depend on in uv.lock, on this interpreter's platform."""
    packages = {
        normalize(p["name"]): p for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    }
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for dependency in packages[name].get("dependencies", []):
            marker = dependency.get("marker")
            if marker is None or Marker(marker).evaluate():
                todo.append(normalize(dependency["name"]))
    return seen


SERVER_REQUIREMENTS = _requirements(ROOT / "pyproject.toml")
SDK_REQUIREMENTS = _requirements(ROOT / "sdk" / "pyproject.toml")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("sdk")
    wheel = build_wheel(work / "dist")
    return install(wheel, work / "venv", constraints=lock_constraints(work / "constraints.txt"))


def _run_in_venv(
    installed: Installed, cwd: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    # -I: no PYTHONPATH, no user site, not the script's directory: only the venv's packages.
    return subprocess.run(
        [str(installed.python), "-I", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_wheel_holds_only_the_dataward_package(installed: Installed) -> None:
    listing = subprocess.run(
        [str(installed.python), "-I", "-m", "zipfile", "-l", str(installed.wheel)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    tops = {line.split()[0].split("/")[0] for line in listing.splitlines()[1:] if line.strip()}
    assert tops == {"dataward", "dataward_sdk-0.1.0.dist-info"}
    assert "dataward/v1/eligibility_pb2.pyi" in listing  # typed stubs ship
    assert "dataward/py.typed" in listing
    assert "__pycache__" not in listing


def test_only_the_sdk_and_its_dependencies_are_installed(installed: Installed) -> None:
    assert {"dataward-sdk", "grpcio", "protobuf", "googleapis-common-protos", "cryptography"} <= (
        installed.keys
    )
    server_only = set(SERVER_REQUIREMENTS) - set(SDK_REQUIREMENTS)
    assert {"flask", "duckdb", "dlib-bin", "sqlalchemy", "authlib"} <= server_only
    assert not (server_only | {"dataward"}) & installed.keys
    # The extras' libraries are not installed without the extras.
    assert not {"pyarrow", "tenseal", "phe", "gmpy2"} & installed.keys
    # Everything installed is what the SDK's requirements pull in, by uv.lock: nothing more.
    assert installed.keys == {"dataward-sdk", *_lock_closure(_base_requirements())}
    printed = report(installed)
    assert "installed into a clean venv:" in printed
    assert re.search(r"^  grpcio +\S+ +\d+\.\d\d MB$", printed, re.MULTILINE)


def test_sdk_requirements_are_the_server_projects(installed: Installed) -> None:
    # One lower bound per library for the repository: the SDK cannot claim an older grpcio
    # or cryptography than the one its tests ran against.
    for name, requirement in SDK_REQUIREMENTS.items():
        assert SERVER_REQUIREMENTS[name] == requirement


def test_every_sdk_module_imports_and_no_server_package_does(
    installed: Installed, tmp_path: Path
) -> None:
    script = f"""
import importlib, json, pkgutil
import dataward
modules = [m.name for m in pkgutil.walk_packages(dataward.__path__, "dataward.")]
for name in modules:
    if name != "dataward.client.compute":  # the [compute] extra's (phe, TenSEAL)
        importlib.import_module(name)
missing = []
for name in {SERVER_PACKAGES + SERVER_IMPORTS!r}:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        missing.append(name)
print(json.dumps({{"modules": modules, "missing": missing, "file": dataward.__file__}}))
"""
    done = _run_in_venv(installed, tmp_path, "-c", script)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert {"dataward.client", "dataward.v1.eligibility_pb2", "dataward.receipts"} <= set(
        seen["modules"]
    )
    assert seen["missing"] == [*SERVER_PACKAGES, *SERVER_IMPORTS]
    assert Path(seen["file"]).is_relative_to(installed.python.parent.parent)


def test_run_query_without_pyarrow_says_what_to_install(
    installed: Installed, tmp_path: Path
) -> None:
    script = """
from dataward.client import Client, StaticTokenSource
with Client("127.0.0.1:9", StaticTokenSource("t")) as c:
    try:
        c.run_query("SELECT 1", purpose="INSURANCE_UNDERWRITING")
    except ModuleNotFoundError as error:
        print(error)
"""
    done = _run_in_venv(installed, tmp_path, "-c", script)
    assert done.returncode == 0, done.stderr
    # Refused before the call (port 9 would have answered UNAVAILABLE).
    assert "pip install 'dataward-sdk[query]'" in done.stdout


def test_private_key_jwt_without_joserfc_says_what_to_install(
    installed: Installed, tmp_path: Path
) -> None:
    script = """
from cryptography.hazmat.primitives.asymmetric import ec
from dataward.client import PrivateKeyJwtTokenSource
key = ec.generate_private_key(ec.SECP256R1())
try:
    PrivateKeyJwtTokenSource("http://127.0.0.1:9/oauth/token", "app", key, "eligibility:check")
except ModuleNotFoundError as error:
    print(error)
"""
    done = _run_in_venv(installed, tmp_path, "-c", script)
    assert done.returncode == 0, done.stderr
    assert "pip install 'dataward-sdk[jwt]'" in done.stdout


def test_every_extra_the_sdk_names_is_declared() -> None:
    # A message telling a partner to install dataward-sdk[X] must name an extra that exists.
    project = tomllib.loads((ROOT / "sdk" / "pyproject.toml").read_text())["project"]
    named = {
        match
        for path in (ROOT / "dataward").rglob("*.py")
        for match in re.findall(r"dataward-sdk\[(\w+)\]", path.read_text(encoding="utf-8"))
    }
    assert {"query", "jwt"} <= named
    assert named <= set(project["optional-dependencies"])


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """The real gRPC API on loopback with its real audit log and consent store, over the fake
    registry, and an OAuth token endpoint (client credentials) for the insurer's app."""
    with grpc_stack(tmp_path, log_checks=True) as s:
        s.issuer.clients[CLIENT_ID] = (SECRET, ["eligibility:check", "audit:read"], [UW])
        yield s


def test_insurer_checks_eligibility_with_the_installed_sdk(
    installed: Installed, stack: Stack, tmp_path: Path
) -> None:
    stack.consent(ALICE)  # for the token's organization; BOB has none
    pem = stack.audit.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    config = {
        "token_url": stack.issuer.token_url,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "target": stack.target,
        "key_name": KEY_NAME,
        "public_key_pem": pem.decode(),
        "person": ALICE,
        "other": BOB,
    }
    done = _run_in_venv(installed, tmp_path, str(INSURER), stdin=json.dumps(config))
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["eligible"] is True
    assert seen["coverage_class"] == "EMPLOYEE"
    assert seen["checkpoint_size"] > seen["leaf_index"]
    assert seen["refused"] == "CONSENT_REQUIRED"
    # The zone logged both calls of that app: the answer and the refusal.
    assert stack.log.size >= 2
    assert SECRET not in done.stdout + done.stderr

"""TLS and mutual TLS on the real gRPC server (``ServerOptions.tls_*``), driven by the SDK.

Every certificate is a throwaway made here with ``cryptography``: a CA, a server certificate
for 127.0.0.1/localhost, client certificates; a second, unrelated CA stands for "someone
else's PKI". Refusals happen in the TLS handshake, so the SDK sees transport-level UNAVAILABLE
(no ErrorInfo reason: the server never saw the call).
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dataward.client import Client, StaticTokenSource, Unavailable
from enclave.audit import AuditLogRefusals
from enclave.consent import SqliteConsentStore
from enclave.persons import PersonChecks
from grpc_api import JwksCache, ServerOptions, TokenVerifier, build_server, raw_public_key
from tests.support.grpc_stack import Stack, audit_log, grpc_stack
from tests.support.person_fakes import ALICE, KEY_NAME, MemoryAuditTrail, standard_directory
from tests.support.token_issuer import AUDIENCE

UW = "INSURANCE_UNDERWRITING"


@dataclass(frozen=True)
class Issued:
    key_pem: bytes
    cert_pem: bytes


class Authority:
    """A throwaway certificate authority."""

    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name: str, *, server: bool) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return Issued(key_pem, cert.public_bytes(serialization.Encoding.PEM))


@dataclass(frozen=True)
class Pki:
    ca: Authority
    other_ca: Authority
    cert_file: Path
    key_file: Path
    ca_file: Path


@pytest.fixture(scope="module")
def authorities() -> tuple[Authority, Authority]:
    return Authority("dataward test CA"), Authority("somebody else's CA")


@pytest.fixture
def pki(tmp_path: Path, authorities: tuple[Authority, Authority]) -> Pki:
    ca, other = authorities
    server = ca.issue("zone.test", server=True)
    files = tmp_path / "tls"
    files.mkdir()
    (files / "server.crt").write_bytes(server.cert_pem)
    (files / "server.key").write_bytes(server.key_pem)
    (files / "ca.crt").write_bytes(ca.pem)
    return Pki(ca, other, files / "server.crt", files / "server.key", files / "ca.crt")


@pytest.fixture
def tls_stack(tmp_path: Path, pki: Pki) -> Iterator[Stack]:
    with grpc_stack(tmp_path, tls_cert_file=pki.cert_file, tls_key_file=pki.key_file) as s:
        s.consent(ALICE)
        yield s


@pytest.fixture
def mtls_stack(tmp_path: Path, pki: Pki) -> Iterator[Stack]:
    with grpc_stack(
        tmp_path,
        tls_cert_file=pki.cert_file,
        tls_key_file=pki.key_file,
        tls_client_ca_file=pki.ca_file,
    ) as s:
        s.consent(ALICE)
        yield s


def _client(stack: Stack, credentials: grpc.ChannelCredentials | None) -> Client:
    return Client(
        stack.target, StaticTokenSource(stack.issuer.token()), credentials=credentials, timeout=5
    )


def _eligible(stack: Stack, credentials: grpc.ChannelCredentials | None) -> bool:
    with _client(stack, credentials) as c:
        return c.check_eligibility(ALICE, "OUTPATIENT", UW).eligible


def _refused_in_handshake(stack: Stack, credentials: grpc.ChannelCredentials | None) -> None:
    audited = stack.log.size
    with _client(stack, credentials) as c, pytest.raises(Unavailable) as excinfo:
        c.check_eligibility(ALICE, "OUTPATIENT", UW)
    assert excinfo.value.code == grpc.StatusCode.UNAVAILABLE
    # The server never saw a call: no ErrorInfo reason, nothing audited.
    assert excinfo.value.reason == ""
    assert stack.log.size == audited


# -- server-authenticated TLS ---------------------------------------------------------------


def test_tls_client_trusting_the_ca_gets_an_answer(tls_stack: Stack, pki: Pki) -> None:
    assert _eligible(tls_stack, grpc.ssl_channel_credentials(root_certificates=pki.ca.pem))


def test_tls_server_name_is_checked_against_the_certificate(tls_stack: Stack, pki: Pki) -> None:
    # The certificate names 127.0.0.1 and localhost; a client expecting another host refuses it,
    # and overriding the expected name to one the certificate carries is accepted.
    credentials = grpc.ssl_channel_credentials(root_certificates=pki.ca.pem)
    for name, accepted in (("localhost", True), ("zone.elsewhere.example", False)):
        channel = grpc.secure_channel(
            tls_stack.target, credentials, options=[("grpc.ssl_target_name_override", name)]
        )
        with channel:
            future = grpc.channel_ready_future(channel)
            if accepted:
                future.result(timeout=5)
            else:
                with pytest.raises(grpc.FutureTimeoutError):
                    future.result(timeout=1)


def test_tls_plaintext_client_is_unavailable(tls_stack: Stack) -> None:
    _refused_in_handshake(tls_stack, None)


def test_tls_client_trusting_another_ca_is_unavailable(tls_stack: Stack, pki: Pki) -> None:
    _refused_in_handshake(
        tls_stack, grpc.ssl_channel_credentials(root_certificates=pki.other_ca.pem)
    )


# -- mutual TLS -----------------------------------------------------------------------------


def test_mtls_client_certificate_signed_by_the_ca_gets_an_answer(
    mtls_stack: Stack, pki: Pki
) -> None:
    mine = pki.ca.issue("acme-insurance", server=False)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.pem, private_key=mine.key_pem, certificate_chain=mine.cert_pem
    )
    assert _eligible(mtls_stack, credentials)


def test_mtls_client_without_a_certificate_is_refused(mtls_stack: Stack, pki: Pki) -> None:
    _refused_in_handshake(mtls_stack, grpc.ssl_channel_credentials(root_certificates=pki.ca.pem))


def test_mtls_client_certificate_from_another_ca_is_refused(mtls_stack: Stack, pki: Pki) -> None:
    stranger = pki.other_ca.issue("acme-insurance", server=False)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.pem,
        private_key=stranger.key_pem,
        certificate_chain=stranger.cert_pem,
    )
    _refused_in_handshake(mtls_stack, credentials)


def test_mtls_plaintext_client_is_unavailable(mtls_stack: Stack) -> None:
    _refused_in_handshake(mtls_stack, None)


# -- misconfiguration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (("tls_cert_file",), "TLS needs both tls_cert_file and tls_key_file"),
        (("tls_key_file",), "TLS needs both tls_cert_file and tls_key_file"),
        (("tls_client_ca_file",), "mutual TLS needs tls_cert_file and tls_key_file too"),
        (("tls_cert_file", "tls_client_ca_file"), "TLS needs both tls_cert_file and tls_key_file"),
    ],
    ids=["cert-only", "key-only", "client-ca-only", "no-key-with-client-ca"],
)
def test_half_a_tls_configuration_is_refused_before_serving(
    tmp_path: Path, pki: Pki, given: tuple[str, ...], message: str
) -> None:
    # Never silently fall back to plaintext when TLS was asked for.
    files = {
        "tls_cert_file": pki.cert_file,
        "tls_key_file": pki.key_file,
        "tls_client_ca_file": pki.ca_file,
    }
    directory = standard_directory()
    audit = MemoryAuditTrail()
    consents = SqliteConsentStore.open(tmp_path / "state" / "consent.db")
    try:
        checks = PersonChecks(
            directory=directory, tokenizer=directory.tokenizer, consents=consents, audit=audit
        )
        verifier = TokenVerifier(
            issuer="http://127.0.0.1:9",
            audience=AUDIENCE,
            jwks=JwksCache("http://127.0.0.1:9/jwks.json"),
            revocations=None,
        )
        options = ServerOptions(bind="127.0.0.1:0", **{name: files[name] for name in given})  # type: ignore[arg-type]
        with (
            audit_log(tmp_path, audit.key) as (log, _store),
            pytest.raises(ValueError, match=f"^{message}$"),
        ):
            build_server(
                options,
                checks=checks,
                verifier=verifier,
                receipts=log,
                refusals=AuditLogRefusals(log),
                audit_key_name=KEY_NAME,
                audit_public_key=raw_public_key(audit.key.public_key()),
            )
    finally:
        consents.close()

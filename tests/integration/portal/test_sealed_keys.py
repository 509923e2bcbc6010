"""The portal's private keys are sealed at rest under the portal key (issue 8, item 9).

The attack: anyone who could read ``ZONE/portal/keys/`` got the JWT signing key in clear and
could mint ``steward:admin`` tokens the zone accepts. Now every private key (the JWT keys, the
portal-log key, the session-cookie key) is AES-256-GCM ciphertext under a key derived from the
portal key, which is not stored in the zone.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from portal import Portal, PortalConfig, PortalKey, rotate_signing_key, seal_unsealed_keys
from portal._keys import load_log_key
from portal.errors import SigningKeyError, UnsealedKeysError, WrongPortalKeyError
from tests.support.portal_keys import write_legacy_keys

KEY = PortalKey(b"the portal's own key, not the zone's")
OTHER = PortalKey(b"some other key of at least 16 bytes")


def _config(state: Path, key: PortalKey | None = KEY) -> PortalConfig:
    return PortalConfig(state_dir=state, key=key, cookie_secure=False)


def _files(state: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(state.rglob("*")) if p.is_file()}


def _encodings(secret: bytes) -> list[bytes]:
    """The ways a key's bytes could sit in a file."""
    return [
        secret,
        secret.hex().encode(),
        base64.b64encode(secret),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
    ]


def _private_material(portal: Portal) -> list[bytes]:
    secrets: list[bytes] = []
    for key in portal.keys.published(time.time()).keys:
        d = str(key.as_dict(private=True)["d"])
        secrets += [d.encode(), *_encodings(base64.urlsafe_b64decode(d + "=" * (-len(d) % 4)))]
    log_key = load_log_key(portal.sealer)
    secrets += _encodings(
        log_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    )
    secrets.append(
        log_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    secrets += _encodings(portal.session_secret)
    return secrets


def test_no_private_key_is_on_disk_in_clear(tmp_path: Path) -> None:
    state = tmp_path / "portal"
    portal = Portal.open(_config(state))
    try:
        rotate_signing_key(portal)  # two JWT keys: the active one and a retired one
        secrets = _private_material(portal)
        assert len(portal.keys.published(time.time()).keys) == 2
    finally:
        portal.close()
    files = _files(state)
    assert any(p.suffix == ".sealed" for p in files)
    for path, data in files.items():
        assert b"PRIVATE KEY" not in data, path
        assert b'"d"' not in data, path
        for secret in [*secrets, *_encodings(KEY.value)]:
            assert secret not in data, path


def test_the_wrong_portal_key_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "portal"
    Portal.open(_config(state)).close()
    keys_before = {p: b for p, b in _files(state).items() if "keys" in p.parts}
    with pytest.raises(WrongPortalKeyError, match="wrong portal key") as raised:
        Portal.open(_config(state, OTHER))
    assert str(state / "keys") in str(raised.value)
    with pytest.raises(WrongPortalKeyError, match="no portal key was given"):
        Portal.open(_config(state, None))
    assert {p: b for p, b in _files(state).items() if "keys" in p.parts} == keys_before
    Portal.open(_config(state)).close()  # the right key still opens it


def test_an_altered_or_moved_sealed_file_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "portal"
    Portal.open(_config(state)).close()
    (sealed,) = (state / "keys" / "jwt").glob("*.sealed")
    good = sealed.read_bytes()
    document = json.loads(good)
    ciphertext = bytearray(base64.b64decode(document["ciphertext"]))
    ciphertext[5] ^= 1
    document["ciphertext"] = base64.b64encode(bytes(ciphertext)).decode()
    sealed.write_text(json.dumps(document))
    with pytest.raises(SigningKeyError, match="corrupt or was altered"):
        Portal.open(_config(state))

    sealed.write_bytes(good)
    # The portal-log key's (valid) ciphertext under a JWT key's name: bound to its own name.
    sealed.write_bytes((state / "keys" / "portal-log-key.sealed").read_bytes())
    with pytest.raises(SigningKeyError, match="corrupt or was altered"):
        Portal.open(_config(state))


def test_rotation_with_sealed_keys_signs_with_the_new_key_and_publishes_both(
    tmp_path: Path,
) -> None:
    state = tmp_path / "portal"
    serving = Portal.open(_config(state))
    try:
        old = serving.keys.signing_key().kid
        operator = Portal.open(_config(state))  # e.g. `dataward portal rotate-key`
        try:
            new = rotate_signing_key(operator)
        finally:
            operator.close()
        # The serving portal picks the new sealed key up without a restart.
        assert serving.keys.signing_key().kid == new != old
        published = serving.keys.published(time.time())
        assert {k.kid for k in published.keys} == {old, new}
        token = jwt.encode({"alg": "ES256", "kid": new}, {"sub": "x"}, serving.keys.signing_key())
        public = KeySet(
            [ECKey.import_key(k) for k in serving.keys.public_jwks(time.time())["keys"]]
        )
        assert jwt.decode(token, public).claims == {"sub": "x"}
    finally:
        serving.close()
    assert len(list((state / "keys" / "jwt").glob("*.sealed"))) == 2


def test_plain_key_files_of_an_older_release_are_refused_until_sealed(tmp_path: Path) -> None:
    state = tmp_path / "portal"
    kid, log_public = write_legacy_keys(state)
    with pytest.raises(UnsealedKeysError, match="seal-keys") as raised:
        Portal.open(_config(state))
    assert "3 key files" in str(raised.value)
    assert not (state / "keys" / "seal.json").exists()  # refused before anything was written

    with pytest.raises(WrongPortalKeyError):
        seal_unsealed_keys(_config(state, None))  # sealing needs a real portal key
    sealed = seal_unsealed_keys(_config(state))
    assert sorted(sealed) == sorted([f"jwt/{kid}.json", "portal-log-key.pem", "session.key"])
    assert [p.name for p in (state / "keys").rglob("*.json")] == ["seal.json"]
    assert not (state / "keys" / "portal-log-key.pem").exists()
    assert not (state / "keys" / "session.key").exists()

    portal = Portal.open(_config(state))
    try:  # the same keys, now sealed: old tokens verify, old checkpoints verify
        assert portal.keys.signing_key().kid == kid
        assert (state / "public" / "portal-log-key.pub").read_bytes() == log_public
        assert portal.session_secret != b"s" * 32  # it was readable: replaced, not carried
    finally:
        portal.close()
    assert seal_unsealed_keys(_config(state)) == ()  # nothing left to do

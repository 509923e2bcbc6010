import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from enclave import CorruptKeyring, WrongMasterKey, ZoneAlreadyInitialized, ZoneNotInitialized
from enclave.keys import PUBLIC_KEY_FILE, init_zone, normalize, open_keyring
from tests.support.zone_source import MASTER_KEY


def test_keyring_round_trip_signs_and_verifies_with_the_published_key(tmp_path: Path) -> None:
    init_zone(tmp_path, MASTER_KEY)
    keyring = open_keyring(tmp_path, MASTER_KEY)
    published = serialization.load_pem_public_key((tmp_path / PUBLIC_KEY_FILE).read_bytes())
    signature = keyring.signing_key.sign(b"receipt")
    assert isinstance(published, Ed25519PublicKey)
    published.verify(signature, b"receipt")
    assert keyring.zone_id.startswith("zone-")
    assert open_keyring(tmp_path, MASTER_KEY).token("id_number", "x") == keyring.token(
        "id_number", "x"
    )


def test_secrets_are_not_in_repr_and_keyring_file_holds_no_key_material(tmp_path: Path) -> None:
    init_zone(tmp_path, MASTER_KEY)
    keyring = open_keyring(tmp_path, MASTER_KEY)
    text = repr(keyring)
    assert "token_key" not in text and "data_key" not in text and "signing" not in text
    document = json.loads((tmp_path / "keyring.json").read_text())
    assert set(document) == {"format", "version", "zone_id", "kdf", "check", "nonce", "ciphertext"}
    assert document["kdf"]["name"] == "scrypt"


def test_tokens_normalize_and_separate_columns(tmp_path: Path) -> None:
    init_zone(tmp_path, MASTER_KEY)
    k = open_keyring(tmp_path, MASTER_KEY)
    assert k.token("id_number", " 11010119900307123x ") == k.token(
        "id_number", "11010119900307123X"
    )
    assert k.token("name", "Ｚｈａｎｇ ") == k.token("name", "Zhang")  # NFKC full-width
    assert k.token("phone", "+86 139-0000-1111") == k.token("phone", "8613900001111")
    assert k.token("name", "Zhang") != k.token("phone", "Zhang")
    assert len(k.token("name", "Zhang")) == 32
    assert k.tokens("name", ["Zhang", None]) == [k.token("name", "Zhang"), None]
    assert normalize("phone", "a1b2") == "12"


def test_encrypt_is_randomized_and_bound_to_the_column(tmp_path: Path) -> None:
    init_zone(tmp_path, MASTER_KEY)
    k = open_keyring(tmp_path, MASTER_KEY)
    a, b = k.encrypt("name", "Wang Fang"), k.encrypt("name", "Wang Fang")
    assert a != b and b"Wang" not in a
    assert k.decrypt("name", a) == "Wang Fang"
    with pytest.raises(InvalidTag):
        k.decrypt("phone", a)
    [c, none] = k.encrypt_many("phone", ["139", None])
    assert none is None and c is not None and k.decrypt("phone", c) == "139"


def test_wrong_master_key(tmp_path: Path) -> None:
    init_zone(tmp_path, MASTER_KEY)
    with pytest.raises(WrongMasterKey) as info:
        open_keyring(tmp_path, b"not the master key at all")
    assert info.value.public_message == "wrong master key or corrupt keyring"


@pytest.mark.parametrize("field", ["ciphertext", "zone_id", "nonce"])
def test_altered_keyring_is_corrupt(tmp_path: Path, field: str) -> None:
    init_zone(tmp_path, MASTER_KEY)
    path = tmp_path / "keyring.json"
    document = json.loads(path.read_text())
    value = document[field]
    document[field] = value[:5] + ("A" if value[5] != "A" else "B") + value[6:]
    path.write_text(json.dumps(document))
    with pytest.raises(CorruptKeyring):
        open_keyring(tmp_path, MASTER_KEY)


def test_flipped_byte_anywhere_never_opens(tmp_path: Path) -> None:
    init_zone(tmp_path, MASTER_KEY)
    path = tmp_path / "keyring.json"
    raw = bytearray(path.read_bytes())
    middle = raw.index(b'"ciphertext"') + 20
    raw[middle] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises((CorruptKeyring, WrongMasterKey)):
        open_keyring(tmp_path, MASTER_KEY)


def test_weakened_kdf_is_refused(tmp_path: Path) -> None:
    init_zone(tmp_path, MASTER_KEY)
    path = tmp_path / "keyring.json"
    document = json.loads(path.read_text())
    document["kdf"]["n"] = 2
    path.write_text(json.dumps(document))
    with pytest.raises(CorruptKeyring):
        open_keyring(tmp_path, MASTER_KEY)


def test_init_twice_and_open_missing(tmp_path: Path) -> None:
    with pytest.raises(ZoneNotInitialized):
        open_keyring(tmp_path / "nowhere", MASTER_KEY)
    init_zone(tmp_path, MASTER_KEY)
    before = (tmp_path / "keyring.json").read_bytes()
    with pytest.raises(ZoneAlreadyInitialized):
        init_zone(tmp_path, MASTER_KEY)
    assert (tmp_path / "keyring.json").read_bytes() == before


def test_the_published_key_file_names_the_key_the_zone_log_signs_under(tmp_path: Path) -> None:
    """Issue 14: pinning needs no guessing -- the file carries the signed-note key name."""
    from dataward.transparency import load_named_public_key
    from enclave.audit import zone_log_name

    init_zone(tmp_path, MASTER_KEY)
    keyring = open_keyring(tmp_path, MASTER_KEY)
    name, key = load_named_public_key((tmp_path / PUBLIC_KEY_FILE).read_bytes())
    assert name == zone_log_name(keyring.zone_id)
    assert key.public_bytes_raw() == keyring.public_key.public_bytes_raw()


def test_a_token_is_the_documented_hmac_however_often_and_in_whatever_order_asked(
    tmp_path: Path,
) -> None:
    """Issue 15 keeps each column's keyed HMAC and copies it per token: the tokens stay
    HMAC-SHA256(token key, column || 0x00 || normalized value), column by column."""
    import hmac
    from hashlib import sha256

    init_zone(tmp_path, MASTER_KEY)
    k = open_keyring(tmp_path, MASTER_KEY)
    key = k._token_key
    asked = [("id_number", "11010119900307123X"), ("name", "Zhang"), ("id_number", "2")] * 2
    asked += [(f"column{i}", "v") for i in range(40)]  # past the columns a keyring keeps
    for column, value in asked:
        expected = hmac.digest(key, f"{column}\0{normalize(column, value)}".encode(), sha256)
        assert k.token(column, value) == expected
    assert "keyed" not in repr(k)

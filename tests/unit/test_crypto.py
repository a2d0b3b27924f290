"""AES-GCM token encryption: round trip, versioned format, tamper and context checks."""

import base64
import secrets

import pytest

from shared.crypto import VERSION, Cipher, DecryptionError, InvalidKey


@pytest.fixture
def cipher():
    return Cipher(secrets.token_urlsafe(32))


def test_round_trip_and_format(cipher):
    token = cipher.encrypt("1//refresh-token", context="acct_sub")
    assert token.startswith(f"{VERSION}.")
    assert "refresh-token" not in token
    assert cipher.decrypt(token, context="acct_sub") == "1//refresh-token"


def test_each_encryption_uses_a_fresh_nonce(cipher):
    assert cipher.encrypt("same", context="c") != cipher.encrypt("same", context="c")


def test_other_context_is_rejected(cipher):
    token = cipher.encrypt("secret", context="account-a_sub")
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, context="account-b_sub")


def test_other_key_is_rejected(cipher):
    token = cipher.encrypt("secret", context="c")
    with pytest.raises(DecryptionError):
        Cipher(secrets.token_urlsafe(32)).decrypt(token, context="c")


def test_tampered_ciphertext_is_rejected(cipher):
    token = cipher.encrypt("secret", context="c")
    raw = bytearray(base64.urlsafe_b64decode(token[3:] + "=" * (-len(token[3:]) % 4)))
    raw[-1] ^= 1
    forged = f"{VERSION}." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(DecryptionError):
        cipher.decrypt(forged, context="c")


@pytest.mark.parametrize("bad", ["", "v1.", "v2.AAAA", "plaintext", "v1.!!!", "v1.AAAA"])
def test_malformed_ciphertexts_are_rejected(cipher, bad):
    with pytest.raises(DecryptionError):
        cipher.decrypt(bad, context="c")


@pytest.mark.parametrize("key", ["", "short", secrets.token_urlsafe(16), "not base64 !!"])
def test_key_must_be_32_bytes(key):
    with pytest.raises(InvalidKey):
        Cipher(key)

"""Encryption of secrets we must keep (Google refresh tokens) with AES-256-GCM.

The key is the `token-encryption-key` secret: 32 random bytes, base64url-encoded (Secret
Manager in the cloud, .local/secrets.json locally). Ciphertexts are text so they fit a Firestore
string field: `v1.<base64url(nonce ‖ ciphertext ‖ tag)>`. The version prefix names the format
and key generation, so a later key rotation can add `v2` and still read `v1`.

Every ciphertext is bound to a context (associated data, e.g. the Google account's document id):
a token copied into another document does not decrypt there.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os

from shared import secrets

VERSION = "v1"
_NONCE_BYTES = 12  # AES-GCM's native nonce size; random nonces are safe far beyond our volume
_TAG_BYTES = 16


class DecryptionError(ValueError):
    """The ciphertext is malformed, of an unknown version, tampered with, or for another context."""


class InvalidKey(ValueError):
    pass


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Cipher:
    def __init__(self, encoded_key: str):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            key = _b64decode(encoded_key.strip())
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise InvalidKey(
                f"secret {secrets.TOKEN_ENCRYPTION_KEY!r} must be 32 random bytes, base64url-encoded"
                " (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"

    def decrypt(self, token: str, *, context: str) -> str:
        from cryptography.exceptions import InvalidTag

        version, _, body = token.partition(".")
        if version != VERSION or not body:
            raise DecryptionError(f"unknown ciphertext format {version[:8]!r}")
        try:
            raw = _b64decode(body)
        except (binascii.Error, ValueError):
            raise DecryptionError("ciphertext is not base64url") from None
        if len(raw) <= _NONCE_BYTES + _TAG_BYTES:
            raise DecryptionError("ciphertext is too short")
        try:
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
        except InvalidTag:
            raise DecryptionError(
                "ciphertext was altered, or belongs to another context or key"
            ) from None
        return plain.decode()


@functools.cache
def default_cipher() -> Cipher:
    return Cipher(secrets.get(secrets.TOKEN_ENCRYPTION_KEY))


def encrypt(plaintext: str, *, context: str) -> str:
    return default_cipher().encrypt(plaintext, context=context)


def decrypt(token: str, *, context: str) -> str:
    return default_cipher().decrypt(token, context=context)

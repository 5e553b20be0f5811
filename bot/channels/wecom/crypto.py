"""WeCom callback message encryption (the WXBizMsgCrypt scheme), over ``cryptography``.

- signature: sha1 of the sorted, concatenated [token, timestamp, nonce, encrypt], hex
- key: base64-decode(EncodingAESKey + "=") (32 bytes); IV: the key's first 16 bytes
- cipher: AES-256-CBC, PKCS#7 padding to a multiple of 32 bytes
- plaintext: 16 random bytes + 4-byte big-endian length + message + receive id (corp id)

Errors (all ``CryptoError``) never carry the token or the key::

    CryptoError
     ├── BadSignature     the msg_signature does not match
     ├── BadCiphertext    not base64, bad length, bad padding, bad inner length
     └── WrongReceiver    decrypts, but for another corp id
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


class CryptoError(Exception):
    """A callback message that cannot be trusted or read."""


class BadSignature(CryptoError):
    pass


class BadCiphertext(CryptoError):
    pass


class WrongReceiver(CryptoError):
    pass


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """The msg_signature WeCom computes over one message."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode("utf-8")).hexdigest()


def pkcs7_pad(data: bytes, block: int = BLOCK) -> bytes:
    n = block - len(data) % block
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes, block: int = BLOCK) -> bytes:
    if not data:
        raise BadCiphertext("empty plaintext")
    n = data[-1]
    if not 1 <= n <= block or data[-n:] != bytes([n]) * n:
        raise BadCiphertext("bad padding")
    return data[:-n]


class WeComCrypto:
    """Encrypts and decrypts callback messages for one app (token, EncodingAESKey, corp id)."""

    def __init__(self, token: str, encoding_aes_key: str, corp_id: str) -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("EncodingAESKey is not valid base64") from None
        if len(key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes (43 characters)")
        self._token = token
        self._key = key
        self.corp_id = corp_id

    def __repr__(self) -> str:
        return f"WeComCrypto(corp_id={self.corp_id!r})"

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return signature(self._token, timestamp, nonce, encrypt)

    def check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        expected = self.sign(timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode("ascii"), (msg_signature or "").lower().encode("utf-8", "replace")):
            raise BadSignature("message signature does not match")

    def encrypt(self, message: str | bytes, random16: bytes | None = None) -> str:
        """Base64 ciphertext of ``message`` addressed to this corp id."""
        body = message.encode("utf-8") if isinstance(message, str) else message
        prefix = random16 if random16 is not None else os.urandom(16)
        if len(prefix) != 16:
            raise ValueError("random prefix must be 16 bytes")
        plain = prefix + struct.pack(">I", len(body)) + body + self.corp_id.encode("utf-8")
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(pkcs7_pad(plain)) + enc.finalize()).decode("ascii")

    def decrypt(self, encrypt: str) -> bytes:
        """The message inside ``encrypt``; raises unless it is addressed to this corp id."""
        try:
            raw = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise BadCiphertext("ciphertext is not base64") from None
        if not raw or len(raw) % 16:
            raise BadCiphertext("ciphertext length is not a multiple of the AES block")
        dec = self._cipher().decryptor()
        plain = pkcs7_unpad(dec.update(raw) + dec.finalize())
        if len(plain) < 20:
            raise BadCiphertext("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise BadCiphertext("inner length exceeds the plaintext")
        message, receiver = plain[20 : 20 + length], plain[20 + length :]
        if not hmac.compare_digest(receiver, self.corp_id.encode("utf-8")):
            raise WrongReceiver("message is addressed to another corp id")
        return message

    def open(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> bytes:
        """Check the signature, then decrypt: the one call a callback handler needs."""
        self.check_signature(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def seal(self, message: str | bytes, timestamp: str, nonce: str) -> tuple[str, str]:
        """Encrypt and sign a message: (encrypt, msg_signature). For replies and tests."""
        encrypt = self.encrypt(message)
        return encrypt, self.sign(timestamp, nonce, encrypt)

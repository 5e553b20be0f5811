"""WeCom callback crypto: the official WXBizMsgCrypt sample vector, round trips, tampering."""

from __future__ import annotations

import base64

import pytest

from bot.channels.wecom.crypto import BadCiphertext, BadSignature, WeComCrypto, WrongReceiver, pkcs7_pad, signature

# The public sample from WeCom's WXBizMsgCrypt SDK samples (test-vector facts only).
TOKEN = "QDG6eK"
CORP_ID = "wx5823bf96d3bd56c7"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
VERIFY = {
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "timestamp": "1409659589",
    "nonce": "263014780",
    "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
}
ECHO_PLAIN = b"1616140317555161061"
MSG = {
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
    "timestamp": "1409659813",
    "nonce": "1372623149",
    "encrypt": (
        "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvu"
        "JTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+Ltw"
        "Gc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2"
        "t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDA"
        "Ve0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
    ),
}


@pytest.fixture
def crypto() -> WeComCrypto:
    return WeComCrypto(TOKEN, AES_KEY, CORP_ID)


def test_official_verification_vector(crypto):
    assert crypto.sign(VERIFY["timestamp"], VERIFY["nonce"], VERIFY["echostr"]) == VERIFY["msg_signature"]
    assert crypto.open(VERIFY["msg_signature"], VERIFY["timestamp"], VERIFY["nonce"], VERIFY["echostr"]) == ECHO_PLAIN


def test_official_message_vector(crypto):
    xml = crypto.open(MSG["msg_signature"], MSG["timestamp"], MSG["nonce"], MSG["encrypt"]).decode()
    assert "<Content><![CDATA[hello]]></Content>" in xml
    assert "<FromUserName><![CDATA[mycreate]]></FromUserName>" in xml
    assert "<MsgId>4561255354251345929</MsgId>" in xml


def test_signature_is_order_independent_sha1():
    # sha1 over the sorted parts: permuting the inputs gives the same signature
    assert signature("b", "a", "c", "d") == signature("d", "c", "b", "a")
    assert signature("b", "a", "c", "d") != signature("b", "a", "c", "e")


@pytest.mark.parametrize(
    "message",
    ["", "x", "hello", "订阅 在线教育", "a" * 31, "b" * 32, "c" * 33, "中" * 3000, "<xml><Content><![CDATA[/help]]></Content></xml>"],
)
def test_round_trip(crypto, message):
    encrypt, sig = crypto.seal(message, "1700000000", "nonce42")
    assert crypto.open(sig, "1700000000", "nonce42", encrypt).decode() == message
    raw = base64.b64decode(encrypt)
    assert len(raw) % 32 == 0  # padded to 32-byte blocks, not 16


def test_encrypt_is_randomised_but_deterministic_with_a_fixed_prefix(crypto):
    assert crypto.encrypt("same") != crypto.encrypt("same")
    assert crypto.encrypt("same", b"0" * 16) == crypto.encrypt("same", b"0" * 16)


def test_pkcs7_full_block_when_aligned():
    assert pkcs7_pad(b"a" * 32)[-1] == 32 and len(pkcs7_pad(b"a" * 32)) == 64
    assert pkcs7_pad(b"a" * 31)[-1] == 1


def test_bad_signature(crypto):
    with pytest.raises(BadSignature):
        crypto.open("0" * 40, VERIFY["timestamp"], VERIFY["nonce"], VERIFY["echostr"])
    with pytest.raises(BadSignature):  # signature valid for another timestamp
        crypto.open(VERIFY["msg_signature"], "1409659590", VERIFY["nonce"], VERIFY["echostr"])
    with pytest.raises(BadSignature):
        crypto.open("", VERIFY["timestamp"], VERIFY["nonce"], VERIFY["echostr"])


def test_wrong_token_rejects_official_vector():
    other = WeComCrypto("another", AES_KEY, CORP_ID)
    with pytest.raises(BadSignature):
        other.open(VERIFY["msg_signature"], VERIFY["timestamp"], VERIFY["nonce"], VERIFY["echostr"])


def test_wrong_corp_id(crypto):
    other = WeComCrypto(TOKEN, AES_KEY, "ww0000000000000000")
    with pytest.raises(WrongReceiver):
        other.decrypt(VERIFY["echostr"])
    encrypt = other.encrypt("for someone else")
    with pytest.raises(WrongReceiver):
        crypto.decrypt(encrypt)


def test_wrong_key_fails_cleanly(crypto):
    other = WeComCrypto(TOKEN, "A" * 43, CORP_ID)
    with pytest.raises((BadCiphertext, WrongReceiver)):
        other.decrypt(VERIFY["echostr"])


def test_tampered_ciphertext(crypto):
    raw = bytearray(base64.b64decode(crypto.encrypt("tamper me please, a longer message" * 3)))
    # CBC: a byte flipped in the block before the last flips the same byte of the last
    # block's plaintext, here the padding's last byte, which can no longer be a pad length
    # (1..32). Flipping the last block itself garbles it at random, and one time in 256 its
    # last byte reads as a valid one-byte padding.
    raw[-17] ^= 0x55
    with pytest.raises(BadCiphertext):
        crypto.decrypt(base64.b64encode(bytes(raw)).decode())
    raw2 = bytearray(base64.b64decode(VERIFY["echostr"]))
    raw2[20] ^= 0x01  # flips a byte of the length field (in block 2's plaintext via CBC)
    with pytest.raises((BadCiphertext, WrongReceiver)):
        crypto.decrypt(base64.b64encode(bytes(raw2)).decode())


@pytest.mark.parametrize("encrypt", ["", "not base64!!", base64.b64encode(b"short").decode(), base64.b64encode(b"x" * 15).decode()])
def test_garbage_ciphertext(crypto, encrypt):
    with pytest.raises(BadCiphertext):
        crypto.decrypt(encrypt)


def test_bad_aes_key_rejected_without_echoing_it():
    with pytest.raises(ValueError) as info:
        WeComCrypto(TOKEN, "short-secret-key", CORP_ID)
    assert "short-secret-key" not in str(info.value)
    assert AES_KEY not in repr(WeComCrypto(TOKEN, AES_KEY, CORP_ID))

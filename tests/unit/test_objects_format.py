"""The object block cipher and file names: round trips, and every tampering is caught."""

from __future__ import annotations

import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms_tui.embedded.objects_format import (
    BLOCK_SIZE,
    TAG_BYTES,
    BlockDecryptor,
    BlockEncryptor,
    BlockIntegrityError,
    block_count,
    block_span,
    encrypted_body_length,
    object_file_name,
)

KEY = bytes(range(32))
NONCE = bytes(range(100, 112))


def seal(plaintext: bytes, pieces: int = 7) -> bytes:
    encryptor = BlockEncryptor(KEY, NONCE)
    out = b""
    step = max(1, len(plaintext) // pieces)
    for start in range(0, len(plaintext), step):
        out += encryptor.update(plaintext[start : start + step])
    return out + encryptor.finish()


def open_all(body: bytes, size: int) -> bytes:
    decryptor = BlockDecryptor(KEY, NONCE, size)
    out = b""
    for index in range(decryptor.count):
        offset, length = block_span(index, size)
        out += decryptor.decrypt(index, body[offset : offset + length])
    return out


@pytest.mark.parametrize(
    "size", [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 3 * BLOCK_SIZE, 3 * BLOCK_SIZE + 5]
)
def test_round_trip_and_layout(size: int) -> None:
    plaintext = os.urandom(size)
    body = seal(plaintext)
    assert len(body) == encrypted_body_length(size) == size + block_count(size) * TAG_BYTES
    assert open_all(body, size) == plaintext
    assert plaintext[:16] not in body or size < 16


def test_block_nonce_is_the_base_plus_the_index_and_aad_binds_index_and_finality() -> None:
    """Block i: base nonce bytes 8..12 (big-endian) + i; AAD carries i and the final flag."""
    plaintext = os.urandom(2 * BLOCK_SIZE + 10)
    body = seal(plaintext)
    counter = struct.unpack(">I", NONCE[8:12])[0]
    for index, final in ((0, False), (1, False), (2, True)):
        offset, length = block_span(index, len(plaintext))
        nonce = NONCE[:8] + struct.pack(">I", counter + index)
        aad = b"kms-tui object v1" + struct.pack(">QB", index, int(final))
        block = AESGCM(KEY).decrypt(nonce, body[offset : offset + length], aad)
        assert block == plaintext[index * BLOCK_SIZE : (index + 1) * BLOCK_SIZE]


def test_nonce_counter_wraps() -> None:
    base = NONCE[:8] + b"\xff\xff\xff\xff"
    encryptor = BlockEncryptor(KEY, base)
    body = encryptor.update(b"a" * (BLOCK_SIZE + 1)) + encryptor.finish()
    decryptor = BlockDecryptor(KEY, base, BLOCK_SIZE + 1)
    assert decryptor.decrypt(1, body[BLOCK_SIZE + TAG_BYTES :]) == b"a"


def test_reordered_blocks_fail() -> None:
    plaintext = os.urandom(2 * BLOCK_SIZE + 10)
    body = seal(plaintext)
    first = body[: BLOCK_SIZE + TAG_BYTES]
    second = body[BLOCK_SIZE + TAG_BYTES : 2 * (BLOCK_SIZE + TAG_BYTES)]
    swapped = second + first + body[2 * (BLOCK_SIZE + TAG_BYTES) :]
    with pytest.raises(BlockIntegrityError):
        open_all(swapped, len(plaintext))


def test_truncation_at_a_block_boundary_fails() -> None:
    """Dropping the last block and claiming a smaller size: the new last block is not final."""
    plaintext = os.urandom(2 * BLOCK_SIZE + 10)
    body = seal(plaintext)
    with pytest.raises(BlockIntegrityError):
        open_all(body[: 2 * (BLOCK_SIZE + TAG_BYTES)], 2 * BLOCK_SIZE)
    with pytest.raises(BlockIntegrityError):
        open_all(body[: BLOCK_SIZE + TAG_BYTES], BLOCK_SIZE)


def test_extension_fails() -> None:
    """A full last block is final; claiming more blocks makes it non-final."""
    plaintext = os.urandom(BLOCK_SIZE)
    body = seal(plaintext)
    extra = seal(b"x")
    with pytest.raises(BlockIntegrityError):
        open_all(body + extra, BLOCK_SIZE + 1)


def test_flipped_bit_and_wrong_key_fail() -> None:
    plaintext = os.urandom(1000)
    body = bytearray(seal(plaintext))
    body[10] ^= 1
    with pytest.raises(BlockIntegrityError):
        open_all(bytes(body), 1000)
    decryptor = BlockDecryptor(bytes(32), NONCE, 1000)
    with pytest.raises(BlockIntegrityError):
        decryptor.decrypt(0, seal(plaintext))


def test_wrong_length_block_fails() -> None:
    decryptor = BlockDecryptor(KEY, NONCE, 100)
    with pytest.raises(BlockIntegrityError):
        decryptor.decrypt(0, b"x" * 10)


def test_empty_object_has_one_final_block() -> None:
    body = seal(b"")
    assert len(body) == TAG_BYTES
    assert open_all(body, 0) == b""


@pytest.mark.parametrize(
    "key",
    ["a", "a/b", "../../etc/passwd", ".", "..", "nul\x00x", "ключ/🔑", "A", "x" * 120, "x" * 121,
     "é" * 600, "/", "a\\b"],
)  # fmt: skip
def test_file_names_are_safe(key: str) -> None:
    name = object_file_name(key)
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert name not in (".", "..") and len(name) <= 200
    assert name == name.lower()  # no case folding can merge two names
    assert name.startswith("k-" if len(key.encode()) <= 120 else "h-")


def test_file_names_differ() -> None:
    keys = ["a", "A", "a/", "a/b", "a\\b", "x" * 121, "x" * 122]
    assert len({object_file_name(key) for key in keys}) == len(keys)

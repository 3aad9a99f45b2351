"""How one object is laid out on disk: its file name, its block cipher and its metadata trailer.

One object is one file, ``<data_dir>/objects/<bucket>/<name>``::

    MAGIC                 8 bytes  b"KTOBJ\\x00\\x01\\n"
    body                  the plaintext (unencrypted object) or the encrypted blocks
    metadata              UTF-8 JSON (see objects_store.py)
    metadata length       8 bytes, unsigned big-endian
    END                   8 bytes  b"KTOBJEND"

The name is ``k-`` and the base32 (lower case, no padding) of the key's UTF-8 when that fits
in :data:`_SHORT_NAME_BYTES`, else ``h-`` and the SHA-256 of the key in hex: no key can make a
path (``/``, ``..``, NUL) or a name too long for the file system, and case-insensitive file
systems cannot fold two names together. The key itself is in the metadata.

Encrypted body (AES-256-GCM under the object's data key): the plaintext is cut into
:data:`BLOCK_SIZE` blocks (the last one shorter; an empty object has one empty block). Block ``i``
is stored as ``AESGCM(data_key).encrypt(nonce_i, block_i, aad_i)``, the ciphertext followed by
its 16-byte tag, so block ``i`` starts at ``i * (BLOCK_SIZE + 16)`` within the body and a range
read decrypts only the blocks it needs. ``nonce_i`` is the object's random 12-byte base nonce
with bytes 8..12, read as a big-endian u32, plus ``i`` (RustFS's block step, §2.2).
``aad_i = b"kms-tui object v1" + i (u64 big-endian) + (1 if last else 0)``: the index and the
finality are authenticated, so blocks cannot be reordered, dropped or cut off at a block
boundary without the read failing, and the reader checks the last block's length against the
plaintext size in the metadata.
"""

from __future__ import annotations

import base64
import hashlib
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "BLOCK_SIZE",
    "END",
    "MAGIC",
    "NONCE_BYTES",
    "TAG_BYTES",
    "TRAILER_BYTES",
    "BlockDecryptor",
    "BlockEncryptor",
    "BlockIntegrityError",
    "block_count",
    "block_span",
    "encrypted_body_length",
    "object_file_name",
]

MAGIC = b"KTOBJ\x00\x01\n"
END = b"KTOBJEND"
TRAILER_BYTES = 16  # metadata length (8) + END (8)
BLOCK_SIZE = 64 * 1024
TAG_BYTES = 16
NONCE_BYTES = 12
_AAD_PREFIX = b"kms-tui object v1"
_SHORT_NAME_BYTES = 120  # base32 of 120 bytes is 192 characters: far below NAME_MAX (255)


class BlockIntegrityError(Exception):
    """A block that fails authentication, or an encrypted body of the wrong shape."""


def object_file_name(key: str) -> str:
    """The file name of an object key (reversible for short keys, hashed for long ones)."""
    raw = key.encode("utf-8")
    if len(raw) <= _SHORT_NAME_BYTES:
        return "k-" + base64.b32encode(raw).decode("ascii").rstrip("=").lower()
    return "h-" + hashlib.sha256(raw).hexdigest()


def block_count(size: int) -> int:
    """How many blocks a plaintext of ``size`` bytes is stored in (at least one)."""
    return max(1, -(-size // BLOCK_SIZE))


def encrypted_body_length(size: int) -> int:
    """The stored length of an encrypted body whose plaintext is ``size`` bytes."""
    return size + block_count(size) * TAG_BYTES


def block_span(index: int, size: int) -> tuple[int, int]:
    """(offset within the body, stored length) of block ``index`` of a ``size``-byte plaintext."""
    count = block_count(size)
    if not 0 <= index < count:
        raise ValueError(f"block {index} out of range (object has {count})")
    plain = BLOCK_SIZE if index < count - 1 else size - (count - 1) * BLOCK_SIZE
    return index * (BLOCK_SIZE + TAG_BYTES), plain + TAG_BYTES


def _nonce(base: bytes, index: int) -> bytes:
    counter = (struct.unpack(">I", base[8:12])[0] + index) & 0xFFFFFFFF
    return base[:8] + struct.pack(">I", counter)


def _aad(index: int, final: bool) -> bytes:
    return _AAD_PREFIX + struct.pack(">QB", index, 1 if final else 0)


class BlockEncryptor:
    """Encrypt a stream block by block; holds back at most one block until it knows it is last."""

    def __init__(self, data_key: bytes, base_nonce: bytes) -> None:
        if len(base_nonce) != NONCE_BYTES:
            raise ValueError("the base nonce must be 12 bytes")
        self._aead = AESGCM(data_key)
        self._base = base_nonce
        self._pending = bytearray()
        self._index = 0
        self._finished = False

    def update(self, data: bytes) -> bytes:
        """Ciphertext of every block that is now known not to be the last one."""
        if self._finished:
            raise ValueError("the encryptor is finished")
        self._pending += data
        out = bytearray()
        while len(self._pending) > BLOCK_SIZE:
            out += self._seal(bytes(self._pending[:BLOCK_SIZE]), final=False)
            del self._pending[:BLOCK_SIZE]
        return bytes(out)

    def finish(self) -> bytes:
        """The last block (possibly empty), marked final."""
        if self._finished:
            raise ValueError("the encryptor is finished")
        self._finished = True
        last = self._seal(bytes(self._pending), final=True)
        self._pending.clear()
        return last

    def _seal(self, block: bytes, *, final: bool) -> bytes:
        sealed = self._aead.encrypt(
            _nonce(self._base, self._index), block, _aad(self._index, final)
        )
        self._index += 1
        return sealed


class BlockDecryptor:
    """Decrypt any block of one object, given its plaintext size."""

    def __init__(self, data_key: bytes, base_nonce: bytes, size: int) -> None:
        if len(base_nonce) != NONCE_BYTES:
            raise BlockIntegrityError("the stored base nonce is not 12 bytes")
        self._aead = AESGCM(data_key)
        self._base = base_nonce
        self._size = size
        self._count = block_count(size)

    @property
    def count(self) -> int:
        """How many blocks the object has."""
        return self._count

    def decrypt(self, index: int, sealed: bytes) -> bytes:
        """The plaintext of block ``index``; BlockIntegrityError if it does not authenticate."""
        _offset, length = block_span(index, self._size)
        if len(sealed) != length:
            raise BlockIntegrityError(f"block {index} is {len(sealed)} bytes, expected {length}")
        final = index == self._count - 1
        try:
            return self._aead.decrypt(_nonce(self._base, index), sealed, _aad(index, final))
        except InvalidTag:
            raise BlockIntegrityError(f"block {index} failed authentication") from None

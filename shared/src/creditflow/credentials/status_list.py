"""W3C Bitstring Status List (Recommendation, May 2025): one bit per credential, 131,072 entries at least, the list
GZIP-compressed and multibase base64url-encoded in the status list credential's `encodedList`."""

from __future__ import annotations

import base64
import gzip

MIN_ENTRIES = 131_072  # the spec's minimum, for herd privacy
_BYTES = MIN_ENTRIES // 8


def empty() -> bytes:
    return bytes(_BYTES)


def get(bits: bytes, index: int) -> bool:
    # Index 0 is the left-most (most significant) bit of the first byte.
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def set_bit(bits: bytes, index: int, value: bool = True) -> bytes:
    buffer = bytearray(bits)
    if value:
        buffer[index // 8] |= 0x80 >> (index % 8)
    else:
        buffer[index // 8] &= ~(0x80 >> (index % 8)) & 0xFF
    return bytes(buffer)


def encode(bits: bytes) -> str:
    # mtime=0 so the same list always encodes to the same text (stable ETags, reproducible credentials).
    return "u" + base64.urlsafe_b64encode(gzip.compress(bits, mtime=0)).rstrip(b"=").decode()


def decode(encoded: str) -> bytes:
    if not encoded.startswith("u"):
        raise ValueError("encodedList must be multibase base64url ('u...')")
    body = encoded[1:]
    bits = gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    if len(bits) < _BYTES:
        raise ValueError(f"a status list has at least {MIN_ENTRIES} entries")
    return bits

"""FIT's CRC-16/ARC (reflected poly 0xA001, init 0, no xorout).

fastcrc computes it in Rust at several GB/s; the NumPy version this replaced managed
about 200 MB/s and was a tenth of the time of decoding a FIT file.
"""

from __future__ import annotations

from fastcrc import crc16 as _crc16


def crc16(data) -> int:
    """CRC-16/ARC of `data`: bytes, bytearray or memoryview."""
    return _crc16.arc(data)

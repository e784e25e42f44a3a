"""FIT's CRC-16/ARC (reflected poly 0xA001, init 0, no xorout), vectorized with NumPy.

A byte-at-a-time Python loop runs at ~5 MB/s. The CRC is linear over GF(2) and, with init 0,
leading zero bytes do not change it. So the input is zero-padded in front to a whole number of
CHUNK-byte chunks, the CRCs of all chunks are computed side by side (one NumPy step per 2 bytes,
vectorized across chunks), and neighbouring chunk CRCs are merged pairwise:
crc(A + B) = shift(crc(A), len(B)) ^ crc(B), where shift(c, n) is the CRC state c run through n
zero bytes, a 16x16 GF(2) matrix applied through two 256-entry lookup tables.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

POLY = 0xA001
CHUNK = 64  # bytes per chunk in the parallel pass
SMALL = 256  # below this many bytes the plain Python loop is cheaper than NumPy's overhead


def _byte_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ POLY, table >> 1)
    return table.astype(np.uint16)


BYTE_TABLE = _byte_table()
_BYTE_TABLE_LIST = BYTE_TABLE.tolist()


def _zero_bytes(state: np.ndarray, count: int) -> np.ndarray:
    for _ in range(count):
        state = (state >> 8) ^ BYTE_TABLE[state & 0xFF]
    return state


# WORD_TABLE[x]: a 16-bit state x after two zero bytes; crc after word w is WORD_TABLE[crc ^ w].
WORD_TABLE = _zero_bytes(np.arange(65536, dtype=np.uint16), 2)


def _compose(first: tuple[int, ...], second: tuple[int, ...]) -> tuple[int, ...]:
    """Matrix (as 16 column images of the unit vectors) of applying `first`, then `second`."""
    return tuple(_apply(second, column) for column in first)


def _apply(matrix: tuple[int, ...], value: int) -> int:
    result = 0
    for bit in range(16):
        if value >> bit & 1:
            result ^= matrix[bit]
    return result


@lru_cache(maxsize=64)
def _shift_matrix(count: int) -> tuple[int, ...]:
    """The linear map 'run the state through `count` zero bytes', by repeated squaring."""
    if count == 1:
        units = np.array([1 << bit for bit in range(16)], dtype=np.uint16)
        return tuple(int(v) for v in _zero_bytes(units, 1))
    half = _shift_matrix(count // 2)
    matrix = _compose(half, half)
    return _compose(matrix, _shift_matrix(1)) if count % 2 else matrix


@lru_cache(maxsize=64)
def _shift_tables(count: int) -> tuple[np.ndarray, np.ndarray]:
    matrix = _shift_matrix(count)
    low = np.array([_apply(matrix, v) for v in range(256)], dtype=np.uint16)
    high = np.array([_apply(matrix, v << 8) for v in range(256)], dtype=np.uint16)
    return low, high


def crc16(data, crc: int = 0) -> int:
    """CRC-16/ARC of `data` (bytes-like), continuing from `crc`."""
    view = memoryview(data).cast("B")
    if len(view) < SMALL:
        for byte in view:
            crc = (crc >> 8) ^ _BYTE_TABLE_LIST[(crc ^ byte) & 0xFF]
        return crc
    if crc:
        # A non-zero start state equals a state-0 run over (start bytes) prefixed; fold it in.
        low, high = _shift_tables(len(view))
        return crc16(view) ^ int(low[crc & 0xFF] ^ high[crc >> 8])
    return _parallel_crc(view)


def _parallel_crc(view: memoryview) -> int:
    pad = -len(view) % CHUNK
    padded = np.zeros(len(view) + pad, dtype=np.uint8)
    padded[pad:] = np.frombuffer(view, dtype=np.uint8)
    words = padded.view("<u2").reshape(-1, CHUNK // 2).T.copy()  # one row per word position
    crcs = np.zeros(words.shape[1], dtype=np.uint16)
    for row in words:
        crcs = WORD_TABLE[crcs ^ row]
    length = CHUNK
    while len(crcs) > 1:
        if len(crcs) % 2:
            # A zero chunk in front changes nothing (leading zeros keep state 0).
            crcs = np.concatenate((np.zeros(1, dtype=np.uint16), crcs))
        low, high = _shift_tables(length)
        left, right = crcs[0::2], crcs[1::2]
        crcs = low[left & 0xFF] ^ high[left >> 8] ^ right
        length *= 2
    return int(crcs[0])

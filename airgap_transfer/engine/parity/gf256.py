"""Arithmetic in GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d).

The field of ISA-L, Jerasure and most storage Reed-Solomon codes; 2 generates
its multiplicative group.  Addition is XOR.  ``MUL[a]`` is the 256-byte table
of "times a", which numpy applies to a whole buffer with one ``take``: that is
the only per-byte work the parity code does.
"""

from __future__ import annotations

import functools

import numpy as np

POLY = 0x11D
ORDER = 255  # size of the multiplicative group

EXP = [0] * (2 * ORDER)
LOG = [0] * 256
_x = 1
for _power in range(ORDER):
    EXP[_power] = _x
    LOG[_x] = _power
    _x <<= 1
    if _x & 0x100:
        _x ^= POLY
for _power in range(ORDER, 2 * ORDER):  # so mul never needs a modulo
    EXP[_power] = EXP[_power - ORDER]
del _x, _power


def mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return EXP[LOG[a] + LOG[b]]


def inv(a: int) -> int:
    if a == 0:
        raise ZeroDivisionError("0 has no inverse in GF(2^8)")
    return EXP[ORDER - LOG[a]]


def div(a: int, b: int) -> int:
    return mul(a, inv(b))


# MUL[a, x] = a * x for every byte x: 64 KiB, built once.
MUL = np.array([[mul(a, x) for x in range(256)] for a in range(256)], dtype=np.uint8)


@functools.lru_cache(maxsize=64)
def mul16(a: int) -> np.ndarray:
    """"times a" for two bytes at once: 65 536 uint16 entries (128 KiB), for half the lookups.

    Each entry applies MUL[a] to both bytes of its index, so it is the same in
    either byte order.  At most 64 are kept (8 MiB).
    """
    index = np.arange(65536, dtype=np.uint32)
    row = MUL[a].astype(np.uint16)
    table: np.ndarray = row[index & 0xFF] | (row[index >> 8] << 8)
    return table

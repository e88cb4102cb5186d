"""The parity code itself: field arithmetic, the Cauchy generator, any k of k + m shards decode.

The field is checked against a bit-by-bit multiply written here from the
definition, so a wrong table or polynomial cannot agree with itself.
"""

from __future__ import annotations

import io
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airgap_transfer.engine.parity import codec, gf256, matrix

byte = st.integers(0, 255)
nonzero = st.integers(1, 255)


def slow_mul(a: int, b: int) -> int:
    """Carry-less multiply, reduced by x^8 + x^4 + x^3 + x^2 + 1."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11D
        b >>= 1
    return product


def test_tables_match_the_definition():
    for a in range(256):
        for b in range(256):
            assert gf256.MUL[a, b] == slow_mul(a, b) == gf256.mul(a, b)


def test_two_generates_the_whole_group():
    assert sorted(gf256.EXP[:255]) == list(range(1, 256))


@given(byte, byte, byte)
def test_field_laws(a, b, c):
    assert gf256.mul(a, b) == gf256.mul(b, a)
    assert gf256.mul(a, gf256.mul(b, c)) == gf256.mul(gf256.mul(a, b), c)
    assert gf256.mul(a, b ^ c) == gf256.mul(a, b) ^ gf256.mul(a, c)
    assert gf256.mul(a, 1) == a and gf256.mul(a, 0) == 0


@given(nonzero)
def test_inverse(a):
    assert gf256.mul(a, gf256.inv(a)) == 1
    assert gf256.div(gf256.mul(a, 7), a) == 7


def test_zero_has_no_inverse():
    with pytest.raises(ZeroDivisionError):
        gf256.inv(0)


@given(st.integers(1, 12), st.integers(1, 4), st.data())
def test_every_square_submatrix_of_the_generator_inverts(k, m, data):
    rows = sorted(data.draw(st.lists(st.integers(0, k + m - 1), min_size=k, max_size=k, unique=True)))
    square = [matrix.generator_row(k, m, r) for r in rows]
    inverse = matrix.invert(square)
    product = [[0] * k for _ in range(k)]
    for i in range(k):
        for j in range(k):
            for t in range(k):
                product[i][j] ^= gf256.mul(square[i][t], inverse[t][j])
    assert product == [[int(i == j) for j in range(k)] for i in range(k)]


def test_stripe_too_wide_is_refused():
    with pytest.raises(ValueError):
        matrix.cauchy(255, 2)
    with pytest.raises(ValueError):
        matrix.invert([[1, 1], [1, 1]])


def _encode(data: list[bytes], m: int) -> list[bytes]:
    length = max(len(d) for d in data)
    outs = [bytearray() for _ in range(m)]
    codec.encode([codec.ShardIn(io.BytesIO(d).readinto, len(d)) for d in data], m, length, [o.extend for o in outs])
    return [bytes(o) for o in outs]


# The test vector of docs/FORMAT.md section 12: three chunks, two parity files.
VECTOR_DATA = [b"airgap", b"parity", b"RS"]
VECTOR_MATRIX = [[142, 244, 71], [244, 142, 167]]
VECTOR_PARITY = ["ffb3179a92e4", "af7d176cee69"]


def test_format_test_vector():
    assert matrix.cauchy(3, 2) == VECTOR_MATRIX
    assert [p.hex() for p in _encode(VECTOR_DATA, 2)] == VECTOR_PARITY
    # The same bytes from the definition alone: P_j = sum_i C[j][i] * D_i, D_i padded with zeros.
    padded = [d.ljust(6, b"\0") for d in VECTOR_DATA]
    for j, expected in enumerate(VECTOR_PARITY):
        by_hand = bytes(
            slow_mul(VECTOR_MATRIX[j][0], padded[0][x]) ^ slow_mul(VECTOR_MATRIX[j][1], padded[1][x])
            ^ slow_mul(VECTOR_MATRIX[j][2], padded[2][x]) for x in range(6))
        assert by_hand.hex() == expected


def _rebuild(shards: list[bytes], lengths: list[int], k: int, m: int, available: list[int]) -> dict[int, bytes]:
    wanted = [i for i in range(k) if i not in available]
    outs = [bytearray() for _ in wanted]
    stripe = max(lengths)
    ins = [codec.ShardIn(io.BytesIO(shards[a]).readinto, len(shards[a])) for a in available]
    codec.rebuild(k, m, available, ins, wanted, stripe, [o.extend for o in outs])
    return {w: bytes(o[:lengths[w]]) for w, o in zip(wanted, outs)}


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 3), st.data())
def test_any_k_of_k_plus_m_shards_rebuild_the_data(k, m, data):
    chunks = [data.draw(st.binary(min_size=1, max_size=300)) for _ in range(k)]
    parity = _encode(chunks, m)
    shards = chunks + parity
    lengths = [len(c) for c in chunks] + [len(p) for p in parity]
    available = sorted(data.draw(st.lists(st.integers(0, k + m - 1), min_size=k, max_size=k, unique=True)))
    for index, rebuilt in _rebuild(shards, lengths, k, m, available).items():
        assert rebuilt == chunks[index]


def test_every_loss_pattern_small_stripe():
    chunks = [bytes(range(i, i + 200)) for i in range(4)] + [b"short"]
    k, m = 5, 2
    shards = chunks + _encode(chunks, m)
    lengths = [len(s) for s in shards]
    for available in itertools.combinations(range(k + m), k):
        for index, rebuilt in _rebuild(shards, lengths, k, m, list(available)).items():
            assert rebuilt == chunks[index], (available, index)


def test_stripes_longer_than_a_block_stream_through_reused_buffers():
    block = codec.block_size(3)
    chunks = [bytes([i]) * (block * 2 + 17) for i in (1, 2)] + [b"\x05" * block]
    parity = _encode(chunks, 1)
    assert len(parity[0]) == block * 2 + 17
    rebuilt = _rebuild(chunks + parity, [len(c) for c in chunks] + [len(parity[0])], 3, 1, [1, 2, 3])
    assert rebuilt[0] == chunks[0]


def test_a_short_input_is_named():
    with pytest.raises(codec.ShortShard) as caught:
        codec.encode([codec.ShardIn(io.BytesIO(b"abc").readinto, 10)], 1, 10, [lambda v: None])
    assert caught.value.position == 0 and caught.value.got == 3


def test_input_digests_tell_a_wrong_shard():
    chunks = [b"one chunk", b"another!!"]
    parity = _encode(chunks, 1)
    ins = [codec.ShardIn(io.BytesIO(b"one chunK").readinto, 9), codec.ShardIn(io.BytesIO(parity[0]).readinto, 9)]
    import blake3
    digests = codec.rebuild(2, 1, [0, 2], ins, [1], 9, [lambda v: None])
    assert digests[0] != blake3.blake3(chunks[0]).hexdigest()
    assert digests[1] == blake3.blake3(parity[0]).hexdigest()

"""Sample blocks for the last check: where they fall, and that the tap sees exactly their bytes."""

from __future__ import annotations

import itertools
import os

import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

from airgap_transfer.engine.io import samples


@given(st.integers(min_value=0, max_value=10**10))
def test_ranges_are_disjoint_in_order_within_the_file_and_include_first_and_last(length):
    found = samples.ranges(length)
    assert all(0 <= o and o + n <= length and n > 0 for o, n in found)
    assert all(a[0] + a[1] <= b[0] for a, b in itertools.pairwise(found))
    if length:
        assert found[0][0] == 0 and found[-1][0] + found[-1][1] == length
        assert len(found) <= max(samples.SAMPLES_PER_CHUNK, -(-length // samples.SAMPLE_BLOCK))
    else:
        assert found == []


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=3 * 2**20), st.lists(st.integers(min_value=1, max_value=300_000),
                                                              min_size=1, max_size=30))
def test_tap_digests_the_sampled_bytes_whatever_the_view_sizes(length, cuts):
    data = os.urandom(length)
    tap = samples.SampleTap(length)
    position, i = 0, 0
    while position < length:
        step = cuts[i % len(cuts)]
        tap.update(memoryview(data)[position:position + step])
        position += step
        i += 1
    assert tap.complete and tap.hasher is None  # a finished tap keeps only its digests
    expected = b"".join(blake3.blake3(data[o:o + n]).digest() for o, n in samples.ranges(length))
    assert tap.digests == expected


def test_a_tap_cut_short_is_not_complete():
    tap = samples.SampleTap(3 * 2**20)
    tap.update(memoryview(bytes(2**20)))
    assert not tap.complete


def test_a_finished_tap_is_small():
    """One tap per chunk is held until its drive is finished: 10^5 of them must not cost hundreds of MB."""
    import sys
    import tracemalloc

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    taps = []
    for _ in range(1000):
        tap = samples.SampleTap(4096)
        tap.update(memoryview(bytes(4096)))
        taps.append(tap)
    per_tap = (tracemalloc.get_traced_memory()[0] - before) / len(taps)
    tracemalloc.stop()
    assert per_tap < 400, f"{per_tap:.0f} B per finished tap"
    assert sys.getsizeof(taps[0].digests) < 80


def test_recheck_names_a_changed_block_and_a_changed_size(tmp_path):
    path = tmp_path / "chunk"
    data = bytearray(os.urandom(5 * 2**20))
    path.write_bytes(data)
    tap = samples.SampleTap(len(data))
    tap.update(memoryview(data))
    buffer = bytearray(2**20)
    assert samples.recheck(path, len(data), tap.digests, buffer) is None
    last_offset = samples.ranges(len(data))[-1][0]
    data[last_offset + 7] ^= 1  # the last block: a wrap-around often lands at a chunk's end
    path.write_bytes(data)
    assert f"byte {last_offset}" in samples.recheck(path, len(data), tap.digests, buffer)
    path.write_bytes(data[:-1])
    assert "were written" in samples.recheck(path, len(data), tap.digests, buffer)

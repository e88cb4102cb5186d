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
    assert [(s.offset, s.length) for s in tap.samples] == tap.wanted
    assert all(s.blake3 == blake3.blake3(data[s.offset:s.offset + s.length]).hexdigest() for s in tap.samples)


def test_recheck_names_a_changed_block_and_a_changed_size(tmp_path):
    path = tmp_path / "chunk"
    data = bytearray(os.urandom(5 * 2**20))
    path.write_bytes(data)
    tap = samples.SampleTap(len(data))
    tap.update(memoryview(data))
    buffer = bytearray(2**20)
    assert samples.recheck(path, len(data), tap.samples, buffer) is None
    last = tap.samples[-1]
    data[last.offset + 7] ^= 1  # the last block: a wrap-around often lands at a chunk's end
    path.write_bytes(data)
    assert f"byte {last.offset}" in samples.recheck(path, len(data), tap.samples, buffer)
    path.write_bytes(data[:-1])
    assert "were written" in samples.recheck(path, len(data), tap.samples, buffer)

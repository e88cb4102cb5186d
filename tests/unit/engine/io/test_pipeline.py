"""pipeline.pump: the overlapped loop moves exactly the bytes a plain loop would."""

from __future__ import annotations

import io
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airgap_transfer.engine.io import pipeline


def _sequential(data: bytes, limit: int) -> bytes:
    return data if limit < 0 else data[:limit]


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=5000), limit=st.integers(min_value=-1, max_value=6000),
       buffer_size=st.integers(min_value=1, max_value=700), count=st.integers(min_value=1, max_value=4),
       read_cap=st.integers(min_value=1, max_value=900))
def test_pump_matches_a_sequential_copy(data, limit, buffer_size, count, read_cap):
    source = io.BytesIO(data)
    written, tapped = bytearray(), bytearray()

    def fill(view):  # short reads, like a pipe
        return source.readinto(view[:read_cap])

    moved = pipeline.pump(fill, lambda v: written.extend(v), lambda v: tapped.extend(v),
                          limit, pipeline.Ring(count, buffer_size))
    expected = _sequential(data, limit)
    assert moved == len(expected)
    assert bytes(written) == expected == bytes(tapped)
    # never reads past the limit: the rest is still there for the next chunk
    assert source.read() == data[len(expected):]


def test_pump_reports_progress_in_order():
    source = io.BytesIO(b"x" * 1000)
    seen = []
    pipeline.pump(source.readinto, lambda v: None, lambda v: None, -1, pipeline.Ring(2, 300), seen.append)
    assert seen == [300, 600, 900, 1000]


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("agt-")}


def test_a_failing_read_is_raised_in_the_caller_and_threads_end():
    calls = []

    def fill(view):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(5, "Input/output error")
        view[:] = b"a" * len(view)
        return len(view)

    with pytest.raises(OSError, match="Input/output"):
        pipeline.pump(fill, lambda v: None, lambda v: None, -1, pipeline.Ring(2, 64))
    assert not _threads()


def test_a_failing_write_stops_the_pump_and_is_raised():
    source = io.BytesIO(b"b" * 100_000)

    def sink(view):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError) as caught:
        pipeline.pump(source.readinto, sink, lambda v: None, -1, pipeline.Ring(3, 1000))
    assert caught.value.errno == 28
    assert not _threads()
    assert source.tell() < 100_000  # stopped early instead of reading everything


def test_a_failing_tap_stops_the_threads():
    source = io.BytesIO(b"c" * 10_000)

    def tap(view):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipeline.pump(source.readinto, lambda v: None, tap, -1, pipeline.Ring(2, 100))
    assert not _threads()

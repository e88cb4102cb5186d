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

    trailed = bytearray()
    moved = pipeline.pump(fill, lambda v: written.extend(v), lambda v: tapped.extend(v),
                          limit, pipeline.Ring(count, buffer_size), trailing_tap=lambda v: trailed.extend(v))
    expected = _sequential(data, limit)
    assert moved == len(expected)
    assert bytes(written) == expected == bytes(tapped) == bytes(trailed)
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


def test_the_trailing_tap_has_seen_every_byte_when_pump_returns():
    """Unpack reads the SHA-256 right after the pump: a slow trailing stage must be waited for."""
    import hashlib
    import time

    data = bytes(range(256)) * 4000
    source = io.BytesIO(data)
    digest = hashlib.sha256()

    def slow_update(view):
        time.sleep(0.002)  # slower than the sink, so buffers queue up behind it
        digest.update(view)

    moved = pipeline.pump(source.readinto, lambda v: None, lambda v: None, -1, pipeline.Ring(3, 4096),
                          trailing_tap=slow_update)
    assert moved == len(data) and digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert not _threads()


def test_a_failing_trailing_tap_is_raised_and_the_threads_end():
    source = io.BytesIO(b"z" * 100_000)
    calls = []

    def trail(view):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("trailing stage broke")

    with pytest.raises(ValueError, match="trailing stage broke"):
        pipeline.pump(source.readinto, lambda v: None, lambda v: None, -1, pipeline.Ring(2, 1000),
                      trailing_tap=trail)
    assert not _threads()


def test_a_failing_write_with_a_trailing_stage_ends_every_thread():
    source = io.BytesIO(b"q" * 100_000)
    writes = []

    def sink(view):
        writes.append(1)
        if len(writes) == 4:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        pipeline.pump(source.readinto, sink, lambda v: None, -1, pipeline.Ring(2, 1000), trailing_tap=lambda v: None)
    assert not _threads()

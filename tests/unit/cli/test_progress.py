"""Progress line text, width fitting and the sliding-window rate."""

from __future__ import annotations

from airgap_transfer.cli.progress import RateMeter, fit, progress_line


def test_line_shows_bytes_bar_rate_eta_chunk_and_drive():
    line = progress_line({"done": 50 * 2**20, "total": 200 * 2**20, "chunk": 3, "drive": "/media/usb1"},
                         rate=10 * 2**20)
    assert line.startswith("50.0 MiB / 200.0 MiB  [#####.....")
    assert " 25%" in line and "10.0 MiB/s" in line and "ETA 0:15" in line
    assert line.endswith("chunk 3 on /media/usb1")


def test_long_eta_and_unknown_total():
    assert "ETA 2h05m" in progress_line({"done": 0, "total": 7500 * 2**20}, rate=2**20)
    line = progress_line({"done": 3 * 2**30, "total": None, "chunk": 4}, rate=0)
    assert line == "3.0 GiB  chunk 4"


def test_fit_never_reaches_the_last_column():
    assert fit("x" * 200, 60) == "x" * 58 + "…"
    assert len(fit("x" * 200, 60)) == 59
    assert fit("short", 60) == "short"


def test_rate_uses_a_sliding_window_and_restarts_on_retry():
    meter = RateMeter(window=5.0)
    meter.add(0.0, 0)
    assert meter.add(1.0, 100) == 100.0
    for second in range(2, 20):
        rate = meter.add(float(second), 100 + (second - 1) * 10)  # slowed down to 10/s
    assert 9.0 <= rate <= 12.0
    assert meter.add(20.0, 5) == 0.0  # went backwards: a chunk being re-written elsewhere

"""The one-line progress display drawn on a terminal.

A line shows bytes done of the total, a bar, the throughput over the last few
seconds (a rate since the start would hide a slow drive), the ETA, and the
current chunk and drive.  It is cut to the terminal width, because a line that
wraps cannot be erased with ``\\r`` and would leave garbage behind.
"""

from __future__ import annotations

import os
import shutil
from collections import deque
from typing import Any, TextIO

import humanize

RATE_WINDOW = 5.0    # seconds of samples the throughput is measured over
BAR_WIDTH = 20
ERASE_LINE = "\r\x1b[2K"


class RateMeter:
    """Throughput over a sliding window of (time, bytes done) samples."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, done: int) -> float:
        if self.samples and done < self.samples[-1][1]:
            self.samples.clear()  # a chunk retried on the next drive: start over
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window:
            self.samples.popleft()
        first_time, first_done = self.samples[0]
        elapsed = now - first_time
        return (done - first_done) / elapsed if elapsed > 0 else 0.0


def terminal_width(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return shutil.get_terminal_size().columns


def fit(text: str, width: int) -> str:
    """Cut to one character less than the width, so the cursor never wraps."""
    limit = max(10, width - 1)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _size(n: float) -> str:
    return humanize.naturalsize(n, binary=True, format="%.1f")


def _bar(fraction: float) -> str:
    filled = int(BAR_WIDTH * min(1.0, max(0.0, fraction)))
    return "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]"


def _eta(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}:{seconds % 60:02d}"


def progress_line(data: dict[str, Any], rate: float) -> str:
    done, total = data.get("done"), data.get("total")
    where = ""
    if "chunk" in data:
        where = f"chunk {data['chunk']}" + (f"/{data['total_chunks']}" if "total_chunks" in data else "")
    if data.get("drive"):
        where += f" on {data['drive']}"
    if done is None:
        return where or "working"
    parts = [_size(done) + (f" / {_size(total)}" if total else "")]
    if total:
        parts.append(f"{_bar(done / total)} {100 * done / total:3.0f}%")
    if rate > 0:  # nothing measured yet on the first draw
        parts.append(f"{_size(rate)}/s")
    if total and rate > 0:
        parts.append(f"ETA {_eta(max(0, total - done) / rate)}")
    if where:
        parts.append(where.strip())
    return "  ".join(parts)

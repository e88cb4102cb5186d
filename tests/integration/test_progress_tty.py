"""On a terminal the progress line is drawn, fits the width, and is gone when the command ends."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

from tests.conftest import _cli_command, default_public_key

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
ERASE = "\r\x1b[2K"


def run_in_pty(args: list, columns: int, timeout: float = 120, env: dict | None = None) -> tuple[int, str]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(_cli_command() + [str(a) for a in args], stdin=slave, stdout=slave, stderr=slave,
                            env={**(env or os.environ), "COLUMNS": str(columns)}, close_fds=True)
    os.close(slave)
    raw = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        raw += data
    code = proc.wait(timeout=30)
    os.close(master)
    return code, raw.decode("utf-8")


def final_screen(raw: str) -> list[str]:
    """A minimal terminal: \\r, \\n, erase-line; any other escape sequence is garbage."""
    lines: list[list[str]] = [[]]
    col = 0
    i = 0
    while i < len(raw):
        match = ESCAPE.match(raw, i)
        if match:
            assert match.group() == "\x1b[2K", f"unexpected escape sequence {match.group()!r}"
            lines[-1] = []
            i = match.end()
            continue
        ch = raw[i]
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append([])
            col = 0
        else:
            line = lines[-1]
            line.extend(" " * (col + 1 - len(line)))
            line[col] = ch
            col += 1
        i += 1
    return ["".join(line).rstrip() for line in lines if "".join(line).strip()]


def drawn_progress(raw: str) -> list[str]:
    """Every progress line drawn: text after an erase that the next erase overwrites (no newline)."""
    return [part for part in raw.split(ERASE)[1:] if part and "\n" not in part and "\r" not in part]


def assert_clean(screen: list[str]) -> None:
    for line in screen:
        assert "ETA" not in line and "/s" not in line and "[#" not in line and "[." not in line, \
            f"progress left on screen: {line!r}"


def test_pack_unpack_verify_draw_progress_and_finish_cleanly(cli, tmp_path, random_file):
    bundle = random_file(24 * 2**20)
    drive = tmp_path / ("drive-with-a-rather-long-mount-point-name-" + "x" * 30)
    drive.mkdir()
    assert cli("keygen", "--no-passphrase").code == 0
    columns = 60

    code, raw = run_in_pty(["pack", bundle, drive, "--chunk-size", "1MiB"], columns)
    assert code == 0, raw
    drawn = drawn_progress(raw)
    assert drawn, f"no progress was drawn: {raw!r}"
    assert any("MiB /" in line and "%" in line for line in drawn), drawn
    assert all(len(line) <= columns - 1 for line in drawn), [l for l in drawn if len(l) >= columns]
    screen = final_screen(raw)
    assert_clean(screen)
    assert any(line.startswith("packed bundle.bin: 25165824 bytes, 24 chunks") for line in screen), screen
    assert screen[-1].startswith("blake3 ")

    out = tmp_path / "out"
    code, raw = run_in_pty(["unpack", drive, out, "--trust", default_public_key()], columns)
    assert code == 0, raw
    assert drawn_progress(raw)
    screen = final_screen(raw)
    assert_clean(screen)
    assert screen[-1].startswith("signed by key")

    code, raw = run_in_pty(["verify", drive, "--trust", default_public_key()], columns)
    assert code == 0, raw
    assert drawn_progress(raw)
    screen = final_screen(raw)
    assert_clean(screen)
    assert screen[-1] == "24 good; complete"


def test_quiet_draws_nothing(cli, tmp_path, random_file):
    bundle = random_file(4 * 2**20)
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("keygen", "--no-passphrase").code == 0
    code, raw = run_in_pty(["pack", bundle, drive, "--chunk-size", "1MiB", "-q"], 80)
    assert code == 0 and raw == "", raw


def test_an_error_after_progress_leaves_one_clean_line(cli, tmp_path, random_file, tmpfs):
    bundle = random_file(8 * 2**20)
    small = tmpfs("5M")
    assert cli("keygen", "--no-passphrase").code == 0
    code, raw = run_in_pty(["pack", bundle, small, "--chunk-size", "1MiB", "--no-prompt"], 80)
    assert code == 6, raw
    screen = final_screen(raw)
    assert_clean(screen)
    assert screen[-1].startswith("airgap-transfer: error:")

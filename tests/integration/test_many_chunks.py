"""Ten thousand chunks end to end with the installed CLI: every command works, nothing grows per line.

Small chunks (optical media, parity shards) are where per-chunk costs and
per-chunk records show.  Time is not asserted (the benchmark measures it);
correctness and bounded records are.
"""

from __future__ import annotations

import json

import blake3

from airgap_transfer import limits
from airgap_transfer.custody import chain as custody
from airgap_transfer.custody import chunk_sets
from tests.conftest import default_public_key, transfer_folder, write_random

CHUNKS = 10_000
CHUNK = 4096


def test_ten_thousand_chunks_round_trip_with_bounded_custody(cli, tmpfs, tmp_path):
    """Drive, output and state on tmpfs: the disk's fsync latency (4 per chunk) is not what is tested."""
    drive, scratch = tmpfs("160M", "drive"), tmpfs("160M", "scratch")
    env = {"XDG_STATE_HOME": str(scratch / "state")}
    source = write_random(tmp_path / "bundle.bin", CHUNKS * CHUNK - 123)   # the last chunk is short
    packed = cli("pack", source, drive, "--chunk-size", str(CHUNK), "--compress", "none", "--no-prompt", "--json", env=env)
    assert packed.code == 0, packed.output
    result = json.loads(packed.stdout.splitlines()[-1])
    assert result["chunks"] == CHUNKS

    folder = transfer_folder(drive)
    log = (folder / custody.LOG_NAME).read_bytes()
    events = custody.parse_log(log, "drive log")   # within every cap a receiver enforces
    assert max(len(line) for line in log.split(b"\n")) < limits.MAX_LINE_BYTES // 4
    written = [e for e in events if e["type"] == "chunk-written"]
    grouped = CHUNKS - limits.CUSTODY_SINGLE_CHUNK_EVENTS
    assert len(written) == limits.CUSTODY_SINGLE_CHUNK_EVENTS + -(-grouped // limits.CUSTODY_CHUNK_GROUP)
    named = chunk_sets.union(span for e in written for span in chunk_sets.event_ranges(e))
    assert named == [[1, CHUNKS]]
    packed_event = next(e for e in events if e["type"] == "packed")
    assert packed_event["chunk_ranges"] == [[1, CHUNKS]] and packed_event["details"]["chunk_count"] == CHUNKS

    trust = ("--trust", default_public_key())
    status = cli("status", drive, *trust, "--json", env=env)
    assert status.code == 0, status.output
    assert json.loads(status.stdout.splitlines()[-1])["counts"]["present"] == CHUNKS
    verify = cli("verify", drive, *trust, "-q", env=env)
    assert verify.code == 0, verify.output

    out = scratch / "out"
    unpacked = cli("unpack", drive, out, *trust, "--no-prompt", "-q", env=env)
    assert unpacked.code == 0, unpacked.output
    assert blake3.blake3((out / "bundle.bin").read_bytes()).hexdigest() == \
        blake3.blake3(source.read_bytes()).hexdigest()

    report = tmp_path / "report.json"
    exported = cli("report", drive, "--format", "json", "-o", report, env=env)
    assert exported.code == 0, exported.output
    document = json.loads(report.read_text())
    assert document["verification"]["ok"] and document["drives"][0]["chunk_count"] == CHUNKS
    verified = [e for e in document["events"] if e["type"] == "chunk-verified"]
    assert sum(len(e.get("chunks", [])) or e["details"]["chunk_count"] for e in verified) == CHUNKS
    # the groups' digests are recomputable from the signed index, which the report summarises
    assert all("chunks_blake3" in e["details"] for e in verified if "chunk_ranges" in e)

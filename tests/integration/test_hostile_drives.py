"""A drive is hostile input: each malformed drive ends in one clean error line.

Every case spoils a copy of a packed transfer, runs ``unpack`` through the
installed CLI, and checks: the documented exit code, exactly one error line,
no traceback, nothing new outside OUTPUT_DIR and nothing inside it but a hidden
partial output kept for resume (issue 5).
"""

from __future__ import annotations

import os
import random

import msgpack
import pytest

from airgap_transfer import limits
from airgap_transfer.errors import (
    EXIT_INCOMPLETE,
    EXIT_INTEGRITY,
    EXIT_NO_SPACE,
    EXIT_TRUST,
)
from airgap_transfer.format import layout
from airgap_transfer.trust import minisign
from tests.conftest import only_resumable_partials

from .hostile import Drives, install, pack_template, tree

INTEGRITY, TRUST, INCOMPLETE = EXIT_INTEGRITY, EXIT_TRUST, EXIT_INCOMPLETE


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return pack_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def drives(template, tmp_path) -> Drives:
    return install(template, tmp_path)


# --- the index itself -----------------------------------------------------

def truncated_index(d: Drives):
    d.write_index((d.a / layout.INDEX_NAME).read_bytes()[:-40])


def bit_flipped_index(d: Drives):  # not re-signed: the signature must catch it
    path = d.a / layout.INDEX_NAME
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def empty_index(d: Drives):
    d.write_index(b"")


def random_index(d: Drives):
    d.write_index(random.Random(4).randbytes(3000))


def oversized_index(d: Drives):  # sparse: 64 MiB + 1 byte of zeros, never signed
    with open(d.a / layout.INDEX_NAME, "r+b") as handle:
        handle.truncate(64 * 2**20 + 1)


def wrong_magic(d: Drives):
    d.rewrite(lambda doc: doc.update(magic="some-other-tool/index"))


def wrong_major_version(d: Drives):
    d.rewrite(lambda doc: doc.update(version=[2, 0]))


def version_not_a_pair(d: Drives):
    d.rewrite(lambda doc: doc.update(version="1.0"))


def raw_map(pairs: list[tuple[str, bytes]]) -> bytes:
    """A msgpack map built by hand from already-encoded values (map16 header)."""
    body = b"".join(msgpack.packb(key) + value for key, value in pairs)
    return bytes([0xDE]) + len(pairs).to_bytes(2, "big") + body


def encoded(doc: dict) -> list[tuple[str, bytes]]:
    return [(key, msgpack.packb(value, use_bin_type=True)) for key, value in doc.items()]


def duplicate_key(d: Drives):  # the real "transfer_id" first, then a second one
    d.write_index(raw_map(encoded(d.index_dict()) + [("transfer_id", msgpack.packb("0" * 32))]))


def deep_nesting(d: Drives):  # 5000 nested one-element arrays: msgpack's packer cannot even build it
    nested = b"\x91" * 5000 + b"\x90"
    d.write_index(raw_map([(k, nested if k == "drives" else v) for k, v in encoded(d.index_dict())]))


def trailing_bytes(d: Drives):
    d.write_index((d.a / layout.INDEX_NAME).read_bytes() + b"\xc0")


def not_a_map(d: Drives):
    d.write_index(msgpack.packb([1, 2, 3]))


def unknown_field(d: Drives):
    d.rewrite(lambda doc: doc.update(run_this="rm -rf /"))


def wrong_type(d: Drives):
    d.rewrite(lambda doc: doc["bundle"].update(size=str(doc["bundle"]["size"])))


def huge_declared_length(d: Drives):  # over the parser's cap
    d.rewrite(lambda doc: doc["chunks"][-1].update(length=2**62, stored_length=2**62))


def huge_but_consistent_length(d: Drives):  # within the cap: refused for space before any allocation
    def change(doc):
        doc["chunks"][-1]["length"] = doc["chunks"][-1]["stored_length"] = 2**59
        doc["bundle"]["size"] = sum(c["length"] for c in doc["chunks"])
    d.rewrite(change)


def lengths_do_not_add_up(d: Drives):
    d.rewrite(lambda doc: doc["bundle"].update(size=doc["bundle"]["size"] + 1))


def chunk_gap(d: Drives):
    d.rewrite(lambda doc: doc["chunks"][1].update(offset=doc["chunks"][1]["offset"] + 1))


def chunk_overlap(d: Drives):
    d.rewrite(lambda doc: doc["chunks"][2].update(offset=doc["chunks"][2]["offset"] - 1))


def duplicate_chunk(d: Drives):
    d.rewrite(lambda doc: doc["chunks"].insert(1, dict(doc["chunks"][0])))


def too_many_chunks(d: Drives):
    d.rewrite(lambda doc: doc.update(chunks=[None] * (limits.MAX_CHUNKS + 1)))


def chunk_name_escapes(d: Drives):
    d.rewrite(lambda doc: doc["chunks"][0].update(file="../../../etc/passwd"))


def malformed_created(d: Drives):
    d.rewrite(lambda doc: doc.update(created="2026-02-30T00:00:00Z"))


def whole_digest_wrong(d: Drives):
    d.rewrite(lambda doc: doc["bundle"].update(blake3="0" * 64))


# --- chunks ------------------------------------------------------------------

def overlong_chunk(d: Drives):
    with open(d.chunk(2), "ab") as handle:
        handle.write(b"x")


def short_chunk(d: Drives):
    path = d.chunk(2)
    os.truncate(path, path.stat().st_size - 1)


def bit_flipped_chunk(d: Drives):
    path = d.chunk(1)
    data = bytearray(path.read_bytes())
    data[1000] ^= 0x01
    path.write_bytes(bytes(data))


def foreign_chunk(d: Drives):  # B's chunk 2, renamed to A's name: same size, wrong bytes
    d.chunk(2).write_bytes(d.chunk(2, d.b).read_bytes())


def symlinked_chunk(d: Drives):  # points at a good copy, still must not be read
    path = d.chunk(3)
    good = d.root / "elsewhere.chunk"
    path.rename(good)
    path.symlink_to(good)


def fifo_chunk(d: Drives):
    path = d.chunk(3)
    path.unlink()
    os.mkfifo(path)


def missing_chunk(d: Drives):
    d.chunk(2).unlink()


def chunks_of_other_transfer_only(d: Drives):  # A's index beside B's chunks
    for seq in (1, 2, 3):
        d.chunk(seq).unlink()
        source = d.chunk(seq, d.b)
        (d.a / source.name).write_bytes(source.read_bytes())


# --- signatures and trust ------------------------------------------------------

def index_of_other_transfer(d: Drives):  # B's index and signature in A's folder
    for name in (layout.INDEX_NAME, layout.SIGNATURE_NAME):
        (d.a / name).write_bytes((d.b / name).read_bytes())


def signature_of_other_transfer(d: Drives):
    (d.a / layout.SIGNATURE_NAME).write_bytes((d.b / layout.SIGNATURE_NAME).read_bytes())


def signature_by_other_key(d: Drives):
    d.write_index((d.a / layout.INDEX_NAME).read_bytes(), sign_with=minisign.SecretKey.generate())


def missing_signature(d: Drives):
    (d.a / layout.SIGNATURE_NAME).unlink()


def garbage_signature(d: Drives):
    (d.a / layout.SIGNATURE_NAME).write_bytes(os.urandom(500))


def signer_field_lies(d: Drives):
    d.rewrite(lambda doc: doc.update(signer="0123456789ABCDEF"))


def transfer_id_mismatch(d: Drives):  # a consistent, signed index of another transfer id
    def change(doc):
        doc["transfer_id"] = "f" * 32
        for chunk in doc["chunks"]:
            chunk["file"] = layout.chunk_file_name(doc["transfer_id"], chunk["seq"])
    d.rewrite(change)


def partial_index_only(d: Drives):
    d.rewrite(lambda doc: doc.update(final=False))


CASES = [  # (spoil, exit code, a fragment the one error line must contain)
    (truncated_index, INTEGRITY, "index is truncated"),
    (bit_flipped_index, TRUST, "does not match the data"),
    (empty_index, INTEGRITY, "index is empty"),
    (random_index, INTEGRITY, "not valid msgpack"),
    (oversized_index, INTEGRITY, "over the 67108864-byte limit"),
    (wrong_magic, INTEGRITY, "wrong magic"),
    (wrong_major_version, INTEGRITY, "format 2.0 is not supported"),
    (version_not_a_pair, INTEGRITY, "version is malformed"),
    (duplicate_key, INTEGRITY, "duplicate key 'transfer_id'"),
    (deep_nesting, INTEGRITY, "not valid msgpack"),
    (trailing_bytes, INTEGRITY, "trailing bytes"),
    (not_a_map, INTEGRITY, "index is not a map"),
    (unknown_field, INTEGRITY, "unknown field(s) run_this"),
    (wrong_type, INTEGRITY, "field 'size' is not an integer"),
    (huge_declared_length, INTEGRITY, "field 'length' is not an integer"),
    (huge_but_consistent_length, EXIT_NO_SPACE, "bytes free"),
    (lengths_do_not_add_up, INTEGRITY, "not the bundle size"),
    (chunk_gap, INTEGRITY, "leaves a gap"),
    (chunk_overlap, INTEGRITY, "leaves an overlap"),
    (duplicate_chunk, INTEGRITY, "out of sequence"),
    (too_many_chunks, INTEGRITY, f"at most {limits.MAX_CHUNKS}"),
    (chunk_name_escapes, INTEGRITY, "malformed file name"),
    (malformed_created, INTEGRITY, "'created' is not a real date"),
    (whole_digest_wrong, INTEGRITY, "whole-bundle digest"),
    (overlong_chunk, INTEGRITY, "longer than the 1048576 bytes"),
    (short_chunk, INTEGRITY, "truncated: 1048575 of 1048576"),
    (bit_flipped_chunk, INTEGRITY, "chunk 1 has no good copy"),
    (foreign_chunk, INTEGRITY, "chunk 2 has no good copy"),
    (symlinked_chunk, INCOMPLETE, "chunks 3 (drive 1"),
    (fifo_chunk, INCOMPLETE, "chunks 3 (drive 1"),
    (missing_chunk, INCOMPLETE, "chunks 2 (drive 1"),
    (chunks_of_other_transfer_only, INCOMPLETE, "3 of 3 chunks missing"),
    (index_of_other_transfer, TRUST, "index belongs to transfer"),
    (signature_of_other_transfer, TRUST, "does not match the data"),
    (signature_by_other_key, TRUST, "which is not trusted"),
    (missing_signature, TRUST, "signature missing"),
    (garbage_signature, TRUST, "signature is not text"),
    (signer_field_lies, TRUST, "names signer 0123456789ABCDEF"),
    (transfer_id_mismatch, TRUST, "index belongs to transfer ffff"),
    (partial_index_only, INCOMPLETE, "final index"),
]


def assert_clean_failure(run, code: int, fragment: str, drives: Drives, before: set[str]) -> None:
    errors = [line for line in run.stderr.splitlines() if line.startswith("airgap-transfer: error:")]
    assert run.code == code, run.output
    assert len(errors) == 1, run.output
    assert fragment in errors[0], run.output
    assert " — " in errors[0], f"no next step in: {errors[0]}"
    assert "Traceback" not in run.output
    assert only_resumable_partials(drives.out), "something other than a resumable partial in OUTPUT_DIR"
    outside = {p for p in tree(drives.root) if p != "out" and not p.startswith("out/")}
    assert outside == before, "something was written outside OUTPUT_DIR"


@pytest.mark.parametrize("spoil, code, fragment", CASES, ids=[case[0].__name__ for case in CASES])
def test_malformed_drive_fails_cleanly(cli, drives: Drives, spoil, code: int, fragment: str) -> None:
    spoil(drives)
    before = tree(drives.root)
    run = cli("unpack", drives.drive, drives.out, "--no-prompt", "-q")
    assert_clean_failure(run, code, fragment, drives, before)


@pytest.mark.parametrize("spoil, code", [(c, x) for c, x, _ in CASES if c in (
    truncated_index, bit_flipped_chunk, overlong_chunk, symlinked_chunk, signature_by_other_key)],
    ids=lambda v: getattr(v, "__name__", str(v)))
def test_verify_judges_the_same_drives(cli, drives: Drives, spoil, code: int) -> None:
    spoil(drives)
    run = cli("verify", drives.drive, "-q")
    assert run.code == code, run.output  # missing chunks: exit 3, as the README says
    assert "Traceback" not in run.output


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 25


def test_intact_template_unpacks(cli, drives: Drives) -> None:
    """The control: without spoiling, the same setup succeeds."""
    run = cli("unpack", drives.drive, drives.out, "--no-prompt", "-q")
    assert run.code == 0, run.output
    assert [p.name for p in drives.out.iterdir()] == ["bundle.bin"]

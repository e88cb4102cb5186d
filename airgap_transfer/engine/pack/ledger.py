"""What pack records of its progress: the journal, each drive's signed metadata, the index.

The journal claims only chunks that were read back (``hold`` keeps the one
being read back out of it until the read-back is done); an index is written
only after every read-back finished, so it never names an unproven chunk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import blake3

from airgap_transfer import __version__
from airgap_transfer.engine.io import readback, samples
from airgap_transfer.engine.pack import clock, last_check, sealing
from airgap_transfer.engine.pack.drives import DriveSlot
from airgap_transfer.engine.pack.state import PackRun, PackState
from airgap_transfer.errors import IntegrityError
from airgap_transfer.events import Kind
from airgap_transfer.format import layout, restore_note
from airgap_transfer.format.index import Chunk, Index
from airgap_transfer.format.names import count_of
from airgap_transfer.media import fsio
from airgap_transfer.state import guard, journal
from airgap_transfer.state.journal import PackJournal, SourceIdentity
from airgap_transfer.trust import keys, minisign


class Ledger:
    def __init__(self, run: PackRun, state: PackState) -> None:
        self.run, self.state = run, state
        seekable = run.source.seekable
        # Only a file can be resumed (and be checked for changes): its bytes can be read again.
        self.journal_path = journal.pack_journal_path(Path(run.config.source)) if seekable else None
        self.source_identity = SourceIdentity.of(Path(run.config.source)) if seekable else None
        self.in_flight: Chunk | None = None    # written, being read back: not yet in the journal
        self.pending: list[Chunk] = []         # proven, not yet in the journal
        self.started = False                   # the journal was written whole once this run
        self.journaled_drives: set[int] = set()
        # What each drive's files read back as, for its last check: ordinal -> chunk file -> its samples'
        # tap (kept small: 10^5 chunks are held until their drive is finished), and each drive's index.
        self.sampled: dict[int, dict[str, samples.SampleTap | bytes | None]] = {}
        self.indexes: dict[int, last_check.Expected] = {}
        self.created: str | None = None         # this run's index creation time (_created)

    def proven(self, chunk: Chunk) -> None:
        """``chunk`` read back whole: only its sample digests are kept for the last check, not its tap."""
        self.pending.append(chunk)
        taps = self.sampled.get(chunk.drive, {})
        tap = taps.get(chunk.file)
        if isinstance(tap, samples.SampleTap):
            taps[chunk.file] = last_check.kept_samples(tap, chunk.stored_blake3)

    def hold(self, chunk: Chunk) -> None:
        """``chunk`` is being read back: the one held before it is proven now (its read-back was awaited)."""
        if self.in_flight is not None:
            self.proven(self.in_flight)
        self.in_flight = chunk

    def chunk_written(self, chunk: Chunk, slot: DriveSlot, readback_note: str) -> None:
        """Announce a chunk on its drive; `readback_note` says where its read-back stands."""
        run = self.run
        run.report.info(Kind.CHUNK_WRITTEN, f"chunk {chunk.seq} ({chunk.length} bytes) written to {slot.root}"
                        + (readback_note if run.config.readback else ""),
                        chunk=chunk.seq, length=chunk.length,
                        **sealing.chunk_event_digests(run.sealing, chunk.blake3, chunk.sha256, chunk.stored_blake3),
                        drive=str(slot.root), file=chunk.file, readback=run.config.readback,
                        stored_length=chunk.stored_length)

    def wait_readbacks(self) -> None:
        if self.run.readbacks is not None:
            self.run.readbacks.wait()
        if self.in_flight is not None:
            self.proven(self.in_flight)
        self.in_flight = None

    def parity_read_back(self, taps: dict[str, samples.SampleTap]) -> None:
        """The parity files as read back (all awaited by the parity phase), for their drives' last check."""
        assert self.state.parity is not None
        for stripe in self.state.parity.stripes:
            for file in stripe.parity:
                tap = taps.get(file.file)
                kept = last_check.kept_samples(tap, file.blake3) if tap is not None else None
                self.sampled.setdefault(file.drive, {})[file.file] = kept

    def expect_chunk(self, slot: DriveSlot, file: str, tap: samples.SampleTap | bytes | None) -> None:
        """What chunk ``file`` on ``slot`` read back as (its samples, filled by the read-back), for the last check."""
        self.sampled.setdefault(slot.ordinal, {})[file] = tap

    def last_check(self, slot: DriveSlot) -> None:
        """Before a drive is called finished: every chunk on it still reads as it did (last_check)."""
        config = self.run.config
        if not (config.readback or config.full_recheck):
            return
        self.wait_readbacks()
        taps = self.sampled.get(slot.ordinal, {})

        def items() -> Iterator[last_check.Expected]:  # one at a time: 10^5 of them would be 50 MB at once
            for chunk in self.state.chunks:
                if chunk.drive == slot.ordinal:  # not read back by this run (kept from an earlier one): no tap
                    yield last_check.Expected(slot.folder / chunk.file, f"chunk {chunk.seq}", chunk.stored_length,
                                              chunk.stored_blake3, taps.get(chunk.file))
            for stripe in self.state.parity.stripes if self.state.parity is not None else ():
                for file in stripe.parity:
                    if file.drive == slot.ordinal:  # a fake stick overwrites earlier parity as well as chunks
                        yield last_check.Expected(slot.folder / file.file, f"parity {file.file}", stripe.length,
                                                  file.blake3, taps.get(file.file))
            if slot.ordinal in self.indexes:
                yield self.indexes[slot.ordinal]

        outcome = last_check.check_drive(slot.root, slot.medium.label, items(), config.full_recheck, self.run.ring,
                                         self.run.report)
        how = "whole" if config.full_recheck else "in samples"
        self.run.report.info(Kind.DRIVE_RECHECKED, f"{slot.root}: all {outcome.files} files still read as written "
                             f"(re-read {how}, {outcome.bytes_read} bytes)", drive=str(slot.root),
                             files=outcome.files, bytes_read=outcome.bytes_read, whole=outcome.whole,
                             whole_count=outcome.whole_count,
                             full=config.full_recheck)

    def save_journal(self, complete: bool = False) -> None:
        """Record what is proven on the drives, so a re-run continues after it.

        The first save of a run writes the whole state (on resume that drops
        claims past the chunks kept); later saves append only what is new.
        A failed write is blamed on the state folder, not on a drive.
        """
        if self.journal_path is None or self.source_identity is None:
            return
        try:
            self._write_journal(complete)
        except OSError as exc:
            raise guard.state_folder_error(exc, "pack") from None

    def _write_journal(self, complete: bool) -> None:
        assert self.journal_path is not None and self.source_identity is not None
        state, config = self.state, self.run.config
        roots = {s.ordinal: str(s.root.resolve()) for s in state.slots}
        drives = {d.ordinal: {**d.to_dict(), "root": roots[d.ordinal]} for d in state.index_drives()}
        new, self.pending = self.pending, []
        if not self.started:
            journal.save(self.journal_path, PackJournal(
                transfer_id=state.transfer_id, source=self.source_identity, bundle_name=self.run.source.name,
                key_id=self.run.key_id, readback=config.readback,
                chunks=[{**c.to_dict(), "root": roots[c.drive]} for c in state.chunks if c is not self.in_flight],
                drives=list(drives.values()), complete=complete, sha256=config.sha256,
                encryption=sealing.journal_record(self.run.sealing)))
            self.journaled_drives = set(drives)
            self.started = True
        else:
            fresh_drives = sorted({c.drive for c in new} - self.journaled_drives)
            journal.append(self.journal_path, [{"drive": drives[o]} for o in fresh_drives]
                           + [{"chunk": {**c.to_dict(), "root": roots[c.drive]}} for c in new]
                           + ([{"complete": True}] if complete else []))
            self.journaled_drives.update(fresh_drives)

    def check_source(self) -> None:
        """A file read more than once (drives at once, refilled gaps) must not have changed in between.

        Otherwise the whole-bundle digest and the chunks could describe different bytes.
        """
        source = self.run.source
        if source.kind != "file" or self.source_identity is None:
            return
        changed = self.source_identity.differences(SourceIdentity.of(Path(self.run.config.source)))
        if changed:
            raise IntegrityError(f"{source.name} changed while it was packed ({', '.join(changed)} differ)",
                                 hint="pack a source that is not being written to, with --restart")

    def build_index(self, final: bool) -> Index:
        run, state = self.run, self.state
        return Index(
            transfer_id=state.transfer_id, bundle_name=run.source.name,
            bundle_original_name=run.source.original_name,
            bundle_size=sum(c.length for c in state.chunks),
            bundle_blake3=state.whole.hexdigest() if final else None,
            bundle_sha256=state.whole.sha256_hexdigest() if final else None,
            created=self._created(),
            tool=f"airgap-transfer {__version__}", signer=run.key_id,
            final=final, kind=run.source.kind, readback=run.config.readback,
            compression=run.compression.recorded,
            chunks=sorted(state.chunks, key=lambda c: c.seq),
            drives=state.index_drives(), parity=state.parity if final else None)

    def _created(self) -> str:
        """One creation time per run, later than any this host gave before (clock.py)."""
        if self.created is None:
            self.created = clock.next_created()
        return self.created

    def seal(self, slot: DriveSlot) -> None:
        """A drive is complete: its partial index, signature, checksums and RESTORE note."""
        self.write_metadata(slot, self.build_index(final=False))
        self.save_journal()  # every read-back was awaited for the index: all chunks are proven now
        self.run.report.info(Kind.DRIVE_SEALED, f"{slot.root} is complete ({count_of(len(slot.files), 'chunk')})",
                             drive=str(slot.root), chunks=len(slot.files))  # a count: 10^5 names would be one line

    def write_metadata(self, slot: DriveSlot, index: Index) -> None:
        self.wait_readbacks()
        run = self.run
        if run.sealing is not None:  # signed and written in its public form: the secrets sealed inside
            index = run.sealing.public_index(index)
            sealing.write_identity(run.sealing, slot.folder)
        index_path = slot.folder / layout.INDEX_NAME
        sha256 = any(chunk.sha256 for chunk in index.chunks)  # pack --sha256, and not encrypted (section 13)
        written = _HashedPieces(index.to_pieces(), sha256)  # hashed as written: a 26 MB index is never held whole
        fsio.atomic_write_pieces(index_path, written)
        signature = keys.sign_index_prehashed(written.prehash.digest(), run.key, self.state.transfer_id, index.final)
        fsio.atomic_write_bytes(slot.folder / layout.SIGNATURE_NAME, signature.encode())
        fsio.atomic_write_bytes(slot.folder / layout.SIGNER_KEY_NAME, run.key.public_key().to_file_text().encode())
        index_digest = written.blake3.hexdigest()
        if run.config.readback:
            readback.read_back(index_path, written.size, index_digest, run.ring, what=f"index on {slot.root}")
        self.indexes[slot.ordinal] = last_check.Expected(index_path, "the index", written.size, index_digest)
        listed = [*slot.files, (layout.INDEX_NAME, index_digest)]
        identity = run.sealing.identity_file if run.sealing is not None else None
        if identity is not None:  # the passphrase path of RESTORE.txt starts from it: b3sum checks it too
            listed.append((layout.IDENTITY_NAME, blake3.blake3(identity).hexdigest()))
        fsio.atomic_write_pieces(slot.folder / layout.B3SUMS_NAME,  # a line at a time: 10^5 lines are 10 MB
                                 layout.b3sums_lines(listed))
        if written.sha256 is not None:
            fsio.atomic_write_pieces(slot.folder / layout.SHA256SUMS_NAME,
                                     layout.b3sums_lines(_sha256_entries(index, slot, written.sha256.hexdigest())))
        fsio.atomic_write_bytes(slot.folder / restore_note.NOTE_NAME, restore_note.restore_text(index).encode())


def _sha256_entries(index: Index, slot: DriveSlot, index_sha256: str) -> list[tuple[str, str]]:
    """SHA256SUMS of a drive: the files whose SHA-256 the signed index holds, and the index itself.

    That is every chunk file stored plain (its bytes are the slice the index's
    ``sha256`` covers).  A compressed chunk's and a parity file's own bytes have
    only a BLAKE3 in the index: B3SUMS lists them, SHA256SUMS does not claim a
    digest nothing signed backs.
    """
    here = {name for name, _ in slot.files}
    return [*((chunk.file, chunk.sha256) for chunk in index.chunks
              if chunk.file in here and chunk.encoding == "none" and chunk.sha256 is not None),
            (layout.INDEX_NAME, index_sha256)]


class _HashedPieces:
    """Pieces of a file passed through while hashed for its signature (minisign's prehash), B3SUMS and
    (``sha256``) SHA256SUMS."""

    def __init__(self, pieces: Iterator[bytes], sha256: bool = False) -> None:
        self.pieces = pieces
        self.prehash = minisign.prehash()
        self.blake3 = blake3.blake3()
        self.sha256 = hashlib.sha256() if sha256 else None
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.pieces:
            self.prehash.update(piece)
            self.blake3.update(piece)
            if self.sha256 is not None:
                self.sha256.update(piece)
            self.size += len(piece)
            yield piece

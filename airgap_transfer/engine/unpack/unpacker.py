"""Unpack: rebuild the bundle from chunks found on any drives, in any order.

Nothing is used before it is proven: the index is verified against a trusted
key, every chunk copy is hashed as it is copied (a bad copy is reported and the
next copy tried), the whole is hashed as it is assembled, and only then does
the temporary output get its final name.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airgap_transfer import interrupts
from airgap_transfer.engine.crypt.keys import X25519Identity
from airgap_transfer.engine.crypt.transfer import OpeningKeys
from airgap_transfer.engine.parity import margin
from airgap_transfer.engine.unpack import assemble, catalog, needed
from airgap_transfer.engine.unpack.needed import SourceRequest
from airgap_transfer.engine.unpack.output import (
    OutputPaths,
    _Output,
    check_output,
    earlier_run,
    open_partial,
    publish,
)
from airgap_transfer.errors import (
    DriveIOError,
    IncompleteError,
    IntegrityError,
    Interrupted,
    NoSpaceError,
)
from airgap_transfer.events import Callback, Kind, Reporter
from airgap_transfer.format.index import Chunk, Index
from airgap_transfer.format.names import printable
from airgap_transfer.media import fsio
from airgap_transfer.state import guard, journal
from airgap_transfer.state import paths as state_paths
from airgap_transfer.trust import keys, replay


@dataclass
class UnpackConfig:
    sources: list[Path]
    output_dir: Path
    output_file: Path | None = None
    force: bool = False          # replace an existing output; nothing else
    allow_rollback: bool = False  # accept an index older than one already accepted (recorded in custody)
    trust: list[str] = field(default_factory=list)
    allow_untrusted: bool = False
    transfer_id: str | None = None
    no_prompt: bool = False
    # Asked for another drive when chunks or the final index are missing;
    # None (or returning None) means stop with exit 3.
    next_source: Callable[[SourceRequest], Path | None] | None = None
    sha256: bool = True      # hash the whole with SHA-256 too when the index has none (custody report)
    restart: bool = False    # drop the partial output of an earlier run instead of continuing it
    # An encrypted transfer (index field "encryption"): age identities given with --identity,
    # and the passphrase, or a way to ask for it when the transfer has one and no identity opens it.
    identities: list[X25519Identity] = field(default_factory=list)
    passphrase: bytes | None = None
    ask_passphrase: Callable[[], bytes | None] | None = None


@dataclass
class UnpackResult:
    transfer_id: str
    output: Path
    size: int
    blake3: str
    key_id: str
    trusted: bool
    sha256: str | None = None
    refused_members: list[dict[str, str]] = field(default_factory=list)  # directory bundles: not extracted

    def to_dict(self) -> dict[str, Any]:
        return {"transfer_id": self.transfer_id, "output": str(self.output), "size": self.size,
                "blake3": self.blake3, "sha256": self.sha256, "key_id": self.key_id, "trusted": self.trusted,
                "refused_members": self.refused_members}


class _UnpackSession:
    def __init__(self, config: UnpackConfig, report: Reporter) -> None:
        self.config, self.report = config, report
        self.sources = list(config.sources)
        self.trusted = keys.trusted_keys(config.trust)
        self.transfer_id = config.transfer_id
        self.paths: OutputPaths | None = None   # known once an index names the bundle
        self.output: _Output | None = None      # open once the output checks passed
        self.held: guard.Held | None = None     # the journal's lock: one run per output
        self.opening = OpeningKeys(list(config.identities), config.passphrase)
        self.opened: dict[bytes, Index] = {}     # an encrypted index's sealed bytes -> its full index, opened once
        self.result: UnpackResult | None = None  # set once the output has its final name and all is recorded

    def run(self) -> UnpackResult:
        try:
            return self._loop()
        finally:
            if self.output is not None:
                os.close(self.output.fd)

    def _placed(self) -> dict[int, Chunk]:
        return self.output.assembler.placed if self.output is not None else {}

    def _loop(self) -> UnpackResult:
        last_index: Index | None = None
        while True:
            self._forget_removed_drives()
            if not self.sources and last_index is not None:  # every drive swapped out: ask for the next
                self._ask_for_more(last_index, [c for c in last_index.chunks if c.seq not in self._placed()])
                continue
            transfer = catalog.find_transfer(self.sources, self.transfer_id, self.report)
            self.transfer_id = transfer.transfer_id  # later drives must belong to the same transfer
            loaded = catalog.load_index(transfer, self.trusted, self.config.allow_untrusted, self.report)
            index = last_index = self._open_index(loaded.index)
            # With --no-prompt too, what is here is copied before exit 3 names the rest: a receiver with one
            # port runs the same command once per drive, and each run keeps what the earlier ones proved.
            output = self.output or self._open_output(index, loaded)
            output.assembler.place_available(transfer, index)
            missing = [c for c in index.chunks if c.seq not in output.assembler.placed]
            if index.final and missing and index.parity is not None:
                from airgap_transfer.engine.unpack import rebuild  # numpy's import only when a rebuild is due

                rebuild.Rebuilder(self.report, output.assembler, output.paths.rebuild_work).rebuild(transfer, index)
                missing = [c for c in index.chunks if c.seq not in output.assembler.placed]
            if index.final and not missing:
                return self._finish(output, index, loaded)
            self._ask_for_more(index, missing, transfer)

    def _forget_removed_drives(self) -> None:
        """Once unpacking has begun, a drive swapped out (its mount folder gone) is just gone."""
        started = self.output is not None
        for source in [s for s in self.sources if (started or s not in self.config.sources) and not _answers(s)]:
            self.sources.remove(source)
            self.report.info(Kind.DRIVE_REMOVED, f"{source} is no longer mounted", drive=str(source))

    def _open_index(self, index: Index) -> Index:
        """An encrypted transfer's full index (name, plaintext digests), opened with the keys given."""
        if index.encryption is None:
            return index
        key = index.encryption.sealed
        if key not in self.opened:
            self.opened[key] = self.opening.open_index(index, self.config.ask_passphrase)
        return self.opened[key]

    def _open_output(self, index: Index, loaded: catalog.LoadedIndex) -> _Output:
        verdict = replay.check(index, loaded.signer.key_id_hex, self.config.allow_rollback, self.report)
        planned = OutputPaths.of(self.config, index)
        # One run per output: a second would discard or overwrite the first one's partial output.
        if self.held is None:
            self.held = guard.lock(planned.journal_path,
                                   f"an unpack of {printable(index.bundle_name)} to {planned.final}")
        guard.check_room(state_paths.state_dir(), len(index.chunks), "unpack")
        paths = self.paths = planned
        earlier = earlier_run(paths, self.config.restart)
        allocated = os.stat(paths.partial).st_blocks * 512 if earlier else 0  # a resumed run needs only the rest
        check_output(paths.final, max(0, index.bundle_size - allocated), self.config.force, index.kind)
        encrypted = index.encryption is not None  # then the events (and the custody log) name no plaintext
        self.report.info(Kind.UNPACK_STARTED, f"unpacking {printable(index.bundle_name)} to {paths.final}",
                         transfer_id=index.transfer_id, size=index.bundle_size,
                         **({"encrypted": True} if encrypted else {"output": str(paths.final)}),
                         final_index=index.final, key_id=loaded.signer.key_id_hex, trusted=loaded.trusted,
                         rollback=verdict.rollback.to_dict() if verdict.rollback else None)
        if index.bundle_original_name and index.bundle_original_name != paths.final.name:
            self.report.warning(Kind.BUNDLE_RENAMED, f"the sender's file was called "
                                f"{printable(index.bundle_original_name)}; on this side it is {paths.final.name}",
                                original_name=index.bundle_original_name, output=str(paths.final))
        fd = open_partial(paths, earlier)
        reusable = earlier.placed if earlier else []
        # SHA-256 of the whole: checked when the index signs one, else computed for the custody report.
        assembler = assemble.Assembler(self.report, fd, index.bundle_size,
                                       sha256=self.config.sha256 or index.bundle_sha256 is not None,
                                       on_placed=lambda chunk: output.record(chunk), earlier=reusable,
                                       open_sealed=self.opening.open_chunk if encrypted else None)
        output = self.output = _Output(paths, fd, assembler)
        # The journal starts afresh from what is reusable; chunks placed from now on are appended.
        journal.save(paths.journal_path, journal.UnpackJournal(
            index.transfer_id, str(paths.final), str(paths.partial), list(reusable)))
        return output

    def _margin(self, transfer: catalog.Transfer, index: Index, lost: list[Chunk]) -> margin.Margin:
        """What parity can do with the chunks in ``lost`` gone, given the parity files present."""
        assert index.parity is not None
        absent_parity = {item.file for _, _, item in index.parity.files() if not transfer.parity_copies(item.file)}
        return margin.assess(index.parity, {c.seq for c in lost}, absent_parity)

    def _ask_for_more(self, index: Index, missing: list[Chunk], transfer: catalog.Transfer | None = None) -> None:
        if index.final:
            text = f"{len(missing)} of {len(index.chunks)} chunks missing: {needed.describe_missing(missing, index)}"
            if index.parity is not None and transfer is not None:
                text += f"; {needed.parity_shortfall(self._margin(transfer, index, missing), index.parity, transfer)}"
        else:
            last = max((d.ordinal for d in index.drives), default=0)
            text = (f"the final index is missing: it is on the last drive written "
                    f"(drive {last + 1} or later)")
        request = SourceRequest(text, [c.seq for c in missing], not index.final)
        answer = self.config.next_source(request) if self.config.next_source else None
        if answer is None:
            bad = self.output.assembler.bad_seqs if self.output is not None else {}
            corrupt = [c.seq for c in missing if c.seq in bad]
            if corrupt:
                raise IntegrityError(f"{text}; chunk(s) {', '.join(map(str, corrupt))} have only bad copies",
                                     hint="bring a good copy or more parity drives, then run unpack again")
            raise IncompleteError(text, hint="insert those drives and run unpack again")
        self.sources.append(answer)

    def _finish(self, output: _Output, index: Index, loaded: catalog.LoadedIndex) -> UnpackResult:
        final, fd, assembler = output.paths.final, output.fd, output.assembler
        if fsio.free_space(final.parent) + os.fstat(fd).st_blocks * 512 < index.bundle_size:
            raise NoSpaceError(f"{final.parent} has not enough space for {index.bundle_size} bytes",
                               hint="free space or choose another output folder")
        os.ftruncate(fd, index.bundle_size)
        digest = assembler.finish(index)
        if digest != index.bundle_blake3:
            self.discard()  # every chunk was proven, yet the whole is not: keep nothing of it
            raise IntegrityError("the reassembled bundle does not match the signed whole-bundle digest",
                                 hint="re-run verify on each drive to find the bad chunk")
        if index.bundle_sha256 and assembler.whole.sha256_hexdigest() != index.bundle_sha256:
            self.discard()
            raise IntegrityError("the reassembled bundle does not match the signed SHA-256 digest",
                                 hint="the index's BLAKE3 and SHA-256 disagree; ask the sender to pack again")
        os.fsync(fd)
        # From the moment the output takes its final name to the end of its bookkeeping (journal
        # gone, transfer remembered, custody event), a Ctrl-C waits: stopping in between would
        # report "nothing written" beside a finished output, and the same command would then
        # refuse that output. The wait is a rename and a few small writes; extracting a folder
        # bundle, before it, can still be interrupted.
        with ExitStack() as tail:
            refused = publish(index, output.paths, self.config.force, self.report,
                              lambda: tail.enter_context(interrupts.held()))
            replay.remember(index, loaded.signer.key_id_hex, self.report)
            sha256 = assembler.whole.sha256_hexdigest()
            self.report.info(Kind.UNPACK_FINISHED, f"{final} written and proven (blake3 {digest})",
                             **({"encrypted": True} if index.encryption is not None
                                else {"output": str(final), "blake3": digest, "sha256": sha256}))
            self.result = UnpackResult(index.transfer_id, final, index.bundle_size, digest,
                                       loaded.signer.key_id_hex, loaded.trusted, sha256,
                                       [{"member": r.name, "reason": r.reason} for r in refused])
        return self.result

    def discard(self) -> None:
        if self.paths is not None:
            shutil.rmtree(self.paths.rebuild_work, ignore_errors=True)
            self.paths.discard()

    def keep_or_discard(self) -> None:
        """After a failure: keep proven work, this run's or an earlier run's, for the next run.

        Only a partial output this run opened and proved nothing into goes.  A
        run that failed before opening it (no space, the output exists, Ctrl-C)
        made nothing, and must not take an earlier run's hours of copying with it.
        """
        if self.output is None:
            return
        assembler = self.output.assembler
        if not assembler.placed and not assembler.earlier:
            self.discard()


def _answers(source: Path) -> bool:
    """A drive still mounted and answering; one whose driver died (ENOTCONN, EIO) is as good as removed."""
    try:
        return source.is_dir()
    except OSError:
        return False


def unpack(config: UnpackConfig, callback: Callback | None = None) -> UnpackResult:
    """Rebuild the bundle; see UnpackConfig.  Nothing appears under the final name unless proven.

    On failure the partial output and its journal stay (hidden, beside the
    final name) so that running the same command again continues; --restart
    drops them.
    """
    session = _UnpackSession(config, Reporter(callback))
    again = "run the same unpack command again to resume"
    try:
        return session.run()
    except KeyboardInterrupt:
        if session.result is not None:  # it arrived while the finished output was being recorded: all is done
            return session.result
        session.keep_or_discard()
        raise Interrupted("interrupted; nothing written under the final name", hint=again) from None
    except OSError as exc:  # writing the output: the drives' read errors are handled per copy
        session.keep_or_discard()
        where = f"{exc.filename or (session.paths.partial if session.paths else None)}: "
        if exc.errno == errno.ENOSPC:
            raise NoSpaceError(f"{where}no space left", hint=f"free space, then {again}") from None
        raise DriveIOError(f"{where}{exc.strerror}", hint=f"check the output disk, then {again}") from None
    except BaseException:
        session.keep_or_discard()
        raise
    finally:
        if session.held is not None:
            session.held.release()

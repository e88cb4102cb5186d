"""Which events of a custody log each signature covers, and the rules a copy must meet.

A head signature names one event (sequence number and hash); because every
event carries the hash of the one before, it covers that event and all before
it.  A hash chain alone proves nothing against someone who rewrites it, so a
copy of the log is believed only as far as signatures by keys the verifier
trusts for custody cover it.  Each drive keeps every head signed for it
(``custody.heads``, with the latest also in ``custody.head.minisig``), so:

* a trusted signature naming an event the log lacks, or an event that differs,
  means the log was truncated or altered (IntegrityError, exit 4);
* a drive holding the final index must carry a log that reaches the ``packed``
  event, covered by a signature of the key that signed that index: the
  sender's own word that pack ended there.  Copying an earlier log (and its
  heads) over such a drive is caught by this rule;
* strictly (``report --verify``, ``custody handover``) every event must be
  covered and every signature found must be by a trusted key; leniently
  (adoption by unpack/verify) only the covered prefix is taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airgap_transfer import limits
from airgap_transfer.custody import chain as custody
from airgap_transfer.errors import AirgapError, IntegrityError, TrustError
from airgap_transfer.format import layout
from airgap_transfer.format.serialization import read_bounded, read_pieces
from airgap_transfer.trust import keys, minisign

_UNTRUSTED_HINT = ("if you know that key (the sender's, or a courier's), pass it with --trust, or run "
                   "`airgap-transfer trust add KEY` (with --custody-only for a courier's)")
_TAMPER_HINT = "the custody log was altered after it was signed; compare with the other drives' copies"


@dataclass
class Signed:
    """One head signature found with a copy of the log."""

    seq: int
    digest: str
    signer: str
    trusted: bool
    text: str = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"signer": self.signer, "trusted": self.trusted, "covers": [1, self.seq]}


@dataclass
class Coverage:
    """A copy of the log and what its signatures cover."""

    where: str
    events: list[dict[str, Any]]
    signatures: list[Signed]
    final_index_signer: str | None = None   # set when this copy's folder holds a final index
    latest: Signed | None = None            # custody.head.minisig: who signed the copy as it stands

    @property
    def covered(self) -> int:
        """Events 1..covered are covered by a trusted signature."""
        return max((s.seq for s in self.signatures if s.trusted), default=0)

    @property
    def trusted_texts(self) -> list[str]:
        return [s.text for s in self.signatures if s.trusted]

    def to_dict(self) -> dict[str, Any]:
        return {"events": len(self.events), "covered": self.covered,
                "signatures": [s.to_dict() for s in self.signatures]}

    def uncovered_problem(self) -> AirgapError | None:
        """Why the events after ``covered`` are not believed (None when every event is covered)."""
        if self.covered >= len(self.events):
            return None
        first, last = self.covered + 1, len(self.events)
        span = f"event {first}" if first == last else f"events {first} to {last}"
        untrusted = sorted({s.signer for s in self.signatures if not s.trusted and s.seq >= first})
        if untrusted:
            return TrustError(f"{self.where}: {span} are signed only by key {', '.join(untrusted)}, which is "
                              "not trusted for custody",
                              hint=_UNTRUSTED_HINT)
        return IntegrityError(f"{self.where}: {span} not covered by any signature: added or rewritten "
                              "after the last signed head", hint=_TAMPER_HINT)


def parse_signatures(texts: list[str], transfer_id: str, trusted: list[minisign.PublicKey],
                     what: str) -> list[Signed]:
    """Each distinct head signature, checked; one by a trusted key that does not verify is forged."""
    found: list[Signed] = []
    for text in dict.fromkeys(texts):
        try:
            signature = minisign.Signature.from_text(text)
        except TrustError as exc:
            raise TrustError(f"{what}: {exc.detail}", hint=exc.hint) from None
        match = custody.HEAD_COMMENT_RE.fullmatch(signature.trusted_comment)
        if not match:
            raise TrustError(f"{what}: a signature there is not a custody head signature",
                             hint="the head file was replaced; use another drive's copy")
        if match.group(1) != transfer_id:
            raise TrustError(f"{what}: a signed head belongs to transfer {match.group(1)}",
                             hint="a head from another transfer was copied here")
        seq, digest = int(match.group(2)), match.group(3)
        if any(k.key_id == signature.key_id for k in trusted):
            try:
                minisign.verify(custody.head_message(transfer_id, seq, digest), signature, trusted)
            except TrustError as exc:
                raise TrustError(f"{what}: custody head: {exc.detail}", hint=exc.hint) from None
            found.append(Signed(seq, digest, signature.key_id_hex, True, text))
        else:
            found.append(Signed(seq, digest, signature.key_id_hex, False, text))
    return found


def check_signatures(events: list[dict[str, Any]], signatures: list[Signed], what: str) -> None:
    """Every trusted signature must name an event this log holds, unchanged."""
    for signed in sorted((s for s in signatures if s.trusted), key=lambda s: s.seq):
        if signed.seq > len(events):
            missing = f"event {len(events) + 1}" + (f" to {signed.seq}" if signed.seq > len(events) + 1 else "")
            raise IntegrityError(f"{what}: chain broken: {missing} missing at the end (key {signed.signer} "
                                 f"signed a head at event {signed.seq}): the log was truncated or rolled back",
                                 hint=_TAMPER_HINT)
        event = events[signed.seq - 1]
        if custody.event_hash(event) != signed.digest:
            raise IntegrityError(f"{what}: chain broken: event {signed.seq} ({event['type']}) is not the event "
                                 f"key {signed.signer} signed: the log was altered or forked", hint=_TAMPER_HINT)


def check_reaches_packed(copy: Coverage) -> None:
    """A drive with the final index must carry a log the sender signed through ``packed``."""
    sender = copy.final_index_signer
    if sender is None:
        return
    packed = next((e for e in copy.events if e["type"] == "packed"), None)
    by_sender = [s for s in copy.signatures if s.trusted and s.signer == sender]
    if packed is None or not any(s.seq >= packed["seq"] for s in by_sender):
        raise IntegrityError(f"{copy.where}: this drive holds the final index, but its custody log does not "
                             f"reach the `packed` event signed by the sender's key {sender}: it was truncated "
                             "or replaced by an earlier copy", hint=_TAMPER_HINT)


def final_index_signer(folder: layout.TransferFolder, trusted: list[minisign.PublicKey]) -> str | None:
    """The key id that signed this folder's index, if the index is final and that key is trusted."""
    if not folder.has_index:
        return None
    try:
        text = read_bounded(folder.signature_path, limits.MAX_SIGNATURE_BYTES, what="signature").decode("utf-8")
        signature = minisign.Signature.from_text(text)
        if signature.trusted_comment != keys.trusted_comment(folder.transfer_id, True):
            return None
        prehash = minisign.prehash()  # a piece at a time: an index of 10^5 chunks is 26 MB
        for piece in read_pieces(folder.index_path, limits.MAX_INDEX_BYTES, what="index"):
            prehash.update(piece)
        return minisign.verify_prehashed(
            prehash.digest(), lambda: read_bounded(folder.index_path, limits.MAX_INDEX_BYTES, what="index"),
            signature, trusted).key_id_hex
    except (AirgapError, UnicodeDecodeError):
        return None  # an index that cannot be checked is the index check's business, not custody's


def read_drive_copy(folder: layout.TransferFolder, trusted: list[minisign.PublicKey]) -> Coverage:
    """A drive's log, chain-checked, with its head signatures checked against it; raises on tampering."""
    path = folder.path / custody.LOG_NAME
    where = str(path)
    head_text = custody.read_head_text(folder.path)
    if not path.exists() and head_text is None:
        # pack writes a log to every drive it uses: an absent one was removed
        raise IntegrityError(f"{where}: the custody log and its signed head are missing from this drive",
                             hint="the drive was altered after pack; use another drive's copy")
    events = custody.read_log(path)
    custody.check_chain(events, folder.transfer_id, where)
    texts = custody.read_heads(folder.path / custody.HEADS_NAME)
    if head_text is None:
        raise TrustError(f"{where}: has no signed head ({custody.HEAD_NAME})",
                         hint="it was deleted, or never written (pack warns when a drive was too full for it); "
                              "use another drive's copy")
    signatures = parse_signatures([*texts, head_text], folder.transfer_id, trusted,
                                  str(folder.path / custody.HEAD_NAME))
    latest = next(s for s in signatures if s.text == head_text)
    copy = Coverage(where, events, signatures, final_index_signer(folder, trusted), latest)
    check_signatures(events, signatures, where)
    if latest.trusted and latest.seq != len(events):  # the head file names the last event, nothing else
        raise IntegrityError(f"{where}: chain broken: event {latest.seq + 1} onward is not covered by the "
                             f"signed head (event {latest.seq})", hint=_TAMPER_HINT)
    check_reaches_packed(copy)
    return copy


def strict(copy: Coverage) -> Coverage:
    """The latest head signed by a trusted key, and every event covered by a trusted signature.

    Earlier heads by keys this host does not know (the sender's, seen by a
    receiver who trusts the courier that checked them) are listed, not fatal.
    """
    if copy.latest is not None and not copy.latest.trusted:
        raise TrustError(f"{copy.where}: custody head signed by key {copy.latest.signer}, which is not trusted",
                         hint=_UNTRUSTED_HINT)
    problem = copy.uncovered_problem()
    if problem is not None:
        raise problem
    return copy


def read_local_copy(log_path: Path, heads_path: Path, transfer_id: str,
                    trusted: list[minisign.PublicKey]) -> Coverage:
    """This host's log with the heads it adopted or signed; events after them are its own records."""
    events = custody.read_log(log_path)
    custody.check_chain(events, transfer_id, str(log_path))
    signatures = parse_signatures(custody.read_heads(heads_path), transfer_id, trusted, str(heads_path))
    check_signatures(events, signatures, str(log_path))
    return Coverage(str(log_path), events, signatures)


def forks(copies: list[list[dict[str, Any]]]) -> list[int]:
    """Sequence numbers at which two copies hold different events."""
    return custody.forks(custody.merge(copies))


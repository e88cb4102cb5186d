"""The chain-of-custody log: hash-chained events, bounded parsing, a signed head.

One event per line, each line the canonical JSON of the event (sorted keys, no
spaces, UTF-8).  Every event carries ``prev``, the BLAKE3 of the previous
line's bytes, so editing, deleting or reordering any event breaks the chain at
that event.  The last event is covered by ``custody.head.minisig``: a minisign
signature over a one-line head naming the transfer, the last sequence number
and the last event's hash.  A log read from a drive is hostile input: its size,
line length and event count are capped, lines must be canonical, and a
repeated key or a float is refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3

from airgap_transfer import limits
from airgap_transfer.errors import FormatError, IntegrityError, TrustError
from airgap_transfer.format.serialization import read_bounded
from airgap_transfer.media import fsio
from airgap_transfer.trust import minisign

LOG_NAME = "custody.jsonl"
HEAD_NAME = "custody.head.minisig"
FORMAT_VERSION = 1
GENESIS = "0" * 64
HASH_ALGORITHM = "blake3"

TYPE_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
HEAD_COMMENT_RE = re.compile(
    r"^airgap-transfer custody transfer:([0-9a-f]{32}) seq:(\d{1,9}) head:([0-9a-f]{64})$")
REQUIRED = {"v": int, "seq": int, "prev": str, "type": str, "time": str, "transfer_id": str, "result": str}


def canonical(event: dict[str, Any]) -> bytes:
    """The one byte form of an event: what is stored, hashed and chained."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def event_hash(event: dict[str, Any]) -> str:
    return blake3.blake3(canonical(event)).hexdigest()


def chain(events: list[dict[str, Any]], event: dict[str, Any]) -> dict[str, Any]:
    """Give ``event`` the next sequence number and the previous event's hash; append it."""
    event["seq"] = events[-1]["seq"] + 1 if events else 1
    event["prev"] = event_hash(events[-1]) if events else GENESIS
    events.append(event)
    return event


def render_log(events: list[dict[str, Any]]) -> bytes:
    return b"".join(canonical(e) + b"\n" for e in events)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_float(text: str) -> Any:
    raise ValueError("floating-point numbers are not allowed")


def parse_event(line: bytes, position: int) -> dict[str, Any]:
    """One line from a log, checked: canonical, typed, no duplicates or floats."""
    where = f"event {position}"
    if len(line) > limits.MAX_LINE_BYTES:
        raise FormatError(f"{where} is over the {limits.MAX_LINE_BYTES}-byte line limit")
    try:
        event = json.loads(line.decode("utf-8"), object_pairs_hook=_no_duplicates,
                           parse_float=_no_float, parse_constant=_no_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FormatError(f"{where} is not valid JSON ({exc})") from None
    if not isinstance(event, dict):
        raise FormatError(f"{where} is not a JSON object")
    for key, kind in REQUIRED.items():
        if type(event.get(key)) is not kind:
            raise FormatError(f"{where} lacks a valid {key!r} field")
    if not (limits.HEX256_RE.match(event["prev"]) and TYPE_RE.match(event["type"])
            and limits.TRANSFER_ID_RE.match(event["transfer_id"])):
        raise FormatError(f"{where} has a malformed prev, type or transfer_id field")
    if canonical(event) != line:
        raise FormatError(f"{where} (seq {event['seq']}) is not in canonical form: it was edited by hand")
    return event


def parse_log(data: bytes, what: str) -> list[dict[str, Any]]:
    if len(data) > limits.MAX_LOG_BYTES:
        raise FormatError(f"{what} is over the {limits.MAX_LOG_BYTES}-byte limit")
    if data and not data.endswith(b"\n"):
        raise FormatError(f"{what} does not end with a newline: it was truncated")
    lines = data.split(b"\n")[:-1] if data else []
    if len(lines) > limits.MAX_EVENTS:
        raise FormatError(f"{what} holds more than {limits.MAX_EVENTS} events")
    try:
        return [parse_event(line, position) for position, line in enumerate(lines, start=1)]
    except FormatError as exc:
        raise FormatError(f"{what}: {exc.detail}", hint="the log was altered or damaged") from None


def read_log(path: Path, what: str | None = None) -> list[dict[str, Any]]:
    """Events of a log file (empty if there is none), bounded and parsed strictly."""
    if not path.exists() and not path.is_symlink():
        return []
    return parse_log(read_bounded(path, limits.MAX_LOG_BYTES, what="custody log"), what or str(path))


def _describe(event: dict[str, Any]) -> str:
    return f"event {event['seq']} ({event['type']})"


def check_chain(events: list[dict[str, Any]], transfer_id: str | None, what: str) -> None:
    """IntegrityError naming the first event that breaks sequence or hash chain."""
    previous: dict[str, Any] | None = None
    for position, event in enumerate(events, start=1):
        if transfer_id is not None and event["transfer_id"] != transfer_id:
            raise IntegrityError(f"{what}: {_describe(event)} belongs to transfer {event['transfer_id']}",
                                 hint="logs of different transfers were mixed")
        if event["seq"] != position:
            if event["seq"] > position:
                problem = f"event {position} is missing or out of order ({_describe(event)} is at position {position})"
            else:
                problem = f"{_describe(event)} is out of order (found at position {position})"
            raise IntegrityError(f"{what}: chain broken: {problem}", hint=_TAMPER_HINT)
        expected = event_hash(previous) if previous else GENESIS
        if event["prev"] != expected:
            if previous is None:
                problem = f"{_describe(event)} does not start the chain"
            else:
                problem = (f"{_describe(previous)} was altered: {_describe(event)} records "
                           f"a different hash for it")
            raise IntegrityError(f"{what}: chain broken: {problem}", hint=_TAMPER_HINT)
        previous = event


_TAMPER_HINT = "the custody log was altered after it was written; compare with the other drives' copies"


# --- the signed head ----------------------------------------------------------------------

def head_comment(transfer_id: str, seq: int, digest: str) -> str:
    return f"airgap-transfer custody transfer:{transfer_id} seq:{seq} head:{digest}"


def head_message(transfer_id: str, seq: int, digest: str) -> bytes:
    """What the head signature covers; rebuild it to check with `minisign -V`."""
    return (head_comment(transfer_id, seq, digest) + "\n").encode()


def sign_head(events: list[dict[str, Any]], key: minisign.SecretKey) -> str:
    last = events[-1]
    digest = event_hash(last)
    comment = head_comment(last["transfer_id"], last["seq"], digest)
    return minisign.sign(head_message(last["transfer_id"], last["seq"], digest), key, comment,
                         "airgap-transfer custody head").to_file_text()


@dataclass
class Head:
    transfer_id: str
    seq: int
    digest: str
    signer: str


def verify_head(signature_text: str, keys: list[minisign.PublicKey], what: str) -> Head:
    """Check the head signature alone (TrustError, exit 5) and return what it names."""
    try:
        signature = minisign.Signature.from_text(signature_text)
    except TrustError as exc:
        raise TrustError(f"{what}: {exc.detail}", hint=exc.hint) from None
    match = HEAD_COMMENT_RE.match(signature.trusted_comment)
    if not match:
        raise TrustError(f"{what}: the signature is not a custody head signature",
                         hint="the head file was replaced; use another drive's copy")
    tid, seq, digest = match.group(1), int(match.group(2)), match.group(3)
    try:
        signer = minisign.verify(head_message(tid, seq, digest), signature, keys)
    except TrustError as exc:
        raise TrustError(f"{what}: custody head: {exc.detail}", hint=exc.hint) from None
    return Head(tid, seq, digest, signer.key_id_hex)


def check_head(events: list[dict[str, Any]], head: Head, what: str) -> None:
    """The signed head must name exactly the last event of the log."""
    if not events:
        raise IntegrityError(f"{what}: the log is empty but its signed head names event {head.seq}",
                             hint=_TAMPER_HINT)
    last = events[-1]
    if head.transfer_id != last["transfer_id"]:
        raise TrustError(f"{what}: the signed head belongs to transfer {head.transfer_id}",
                         hint="a head from another transfer was copied here")
    if head.seq > last["seq"]:
        missing = f"event {last['seq'] + 1}" + (f" to {head.seq}" if head.seq > last["seq"] + 1 else "")
        raise IntegrityError(f"{what}: chain broken: {missing} missing at the end "
                             f"(the signed head names event {head.seq})", hint=_TAMPER_HINT)
    if head.seq < last["seq"]:
        raise IntegrityError(f"{what}: chain broken: event {head.seq + 1} onward is not covered by "
                             f"the signed head (event {head.seq})", hint=_TAMPER_HINT)
    if event_hash(last) != head.digest:
        raise IntegrityError(f"{what}: chain broken: {_describe(last)} was altered: it does not match "
                             "the signed head", hint=_TAMPER_HINT)


def write_log(folder: Path, events: list[dict[str, Any]], key: minisign.SecretKey | None) -> None:
    """Atomically replace the log (and, given a key, its signed head) in ``folder``."""
    data = render_log(events)
    fsio.atomic_write_bytes(folder / LOG_NAME, data)
    if key is not None and events:
        fsio.atomic_write_bytes(folder / HEAD_NAME, sign_head(events, key).encode())


def read_head_text(folder: Path) -> str | None:
    path = folder / HEAD_NAME
    if not path.exists() and not path.is_symlink():
        return None
    try:
        return read_bounded(path, limits.MAX_HEAD_BYTES, what="custody head").decode("utf-8")
    except UnicodeDecodeError:
        raise TrustError(f"{path} is not text", hint="the head file was damaged") from None


# --- merging --------------------------------------------------------------------------------

def merge(logs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Union of several copies of a log by event hash, in chain order.

    Copies made at different times are prefixes of one another; where two
    copies grew apart (a fork), both branches are kept, ordered by sequence
    number and time, and ``forks`` reports it.
    """
    by_hash: dict[str, dict[str, Any]] = {}
    for events in logs:
        for event in events:
            by_hash.setdefault(event_hash(event), event)
    return sorted(by_hash.values(), key=lambda e: (e["seq"], e["time"], event_hash(e)))


def forks(events: list[dict[str, Any]]) -> list[int]:
    """Sequence numbers held by more than one distinct event after a merge."""
    seen: dict[int, int] = {}
    for event in events:
        seen[event["seq"]] = seen.get(event["seq"], 0) + 1
    return sorted(seq for seq, count in seen.items() if count > 1)


def tip(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The longest linear chain in a merged set: what a new event must extend."""
    by_hash = {event_hash(e): e for e in events}
    depth: dict[str, int] = {}
    for digest, event in sorted(by_hash.items(), key=lambda item: item[1]["seq"]):
        if event["prev"] == GENESIS and event["seq"] == 1:
            depth[digest] = 1
        elif event["prev"] in depth and by_hash[event["prev"]]["seq"] + 1 == event["seq"]:
            depth[digest] = depth[event["prev"]] + 1
    if not depth:
        return []
    digest = max(depth, key=lambda d: (depth[d], by_hash[d]["time"]))
    path = []
    while digest != GENESIS:
        path.append(by_hash[digest])
        digest = by_hash[digest]["prev"]
    return path[::-1]

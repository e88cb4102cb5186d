"""What unpack still needs, said so that an operator can act: which chunks, on which labelled drives,
and what parity could not make up for."""

from __future__ import annotations

from dataclasses import dataclass

from airgap_transfer.engine.parity import margin
from airgap_transfer.engine.unpack import catalog
from airgap_transfer.format.index import Chunk, Index
from airgap_transfer.format.names import printable
from airgap_transfer.format.parity import Parity


@dataclass
class SourceRequest:
    """What unpack still needs when the drives given are not enough."""

    missing: str          # human description: chunks and drive labels, or the final index
    missing_chunks: list[int]
    need_final_index: bool


def describe_missing(missing: list[Chunk], index: Index) -> str:
    labels = {d.ordinal: d.label for d in index.drives}
    by_drive: dict[int, list[int]] = {}
    for chunk in missing:
        by_drive.setdefault(chunk.drive, []).append(chunk.seq)
    parts = [f"chunks {', '.join(map(str, seqs))} (drive {ordinal}"
             + (f" '{printable(label)}')" if (label := labels.get(ordinal)) else ")")
             for ordinal, seqs in sorted(by_drive.items())]
    return "; ".join(parts)


def parity_shortfall(found: margin.Margin, parity: Parity, transfer: catalog.Transfer) -> str:
    """Which parity files would help, for a message that says what to bring."""
    absent = [item for stripe in parity.stripes if stripe.seq in found.unrebuildable_stripes
              for item in stripe.parity if not transfer.parity_copies(item.file)]
    if not found.unrebuildable_stripes:  # enough files were there, but a parity file read back wrong
        return ("parity could not rebuild them: a parity file they need is corrupt (`verify` names it); "
                "bring the missing drives or another copy of that parity file")
    drives = sorted({item.drive for item in absent})
    where = f"; parity files missing too, on drive(s) {', '.join(map(str, drives))}" if drives else ""
    return (f"parity cannot rebuild them: {found.short} more chunk(s) or parity file(s) needed "
            f"(stripe(s) {', '.join(map(str, found.unrebuildable_stripes))}){where}")

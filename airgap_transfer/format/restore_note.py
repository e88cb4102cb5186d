"""RESTORE.txt: how to rebuild a bundle with stock tools when this one is absent.

Written beside the final index on every drive.  Commands are on lines that
start with four spaces and ``$ ``, so a person can copy them and a test can run
them verbatim.  Every name in a command is shell-quoted; the bundle name was
sanitised by pack, and the folder names are fixed patterns.
"""

from __future__ import annotations

import shlex

from airgap_transfer.format import layout
from airgap_transfer.format.index import Index

NOTE_NAME = "RESTORE.txt"
COMMAND_PREFIX = "    $ "


def _rebuild_command(index: Index, output: str) -> str:
    pattern = f"{index.transfer_id[:12]}-*.chunk*"
    if _compressed(index):
        # Chunks may be mixed: plain slices and self-contained zstd frames.
        return (f"for f in {pattern}; do case \"$f\" in *.zst) zstd -d -c -- \"$f\" ;; "
                f"*) cat -- \"$f\" ;; esac; done > {output}")
    return f"cat -- {pattern} > {output}"


def restore_text(index: Index) -> str:
    if index.encryption is not None:
        return _encrypted_text(index)
    name = index.bundle_name
    directory = index.kind == "directory"
    raw_output = f"{name}.tar" if directory else name
    output = shlex.quote(raw_output)
    folder = layout.folder_name(index.transfer_id)
    drives = len({chunk.drive for chunk in index.chunks}) or 1
    lines = [
        "HOW TO RESTORE THIS BUNDLE WITHOUT airgap-transfer",
        "",
        f"Bundle:       {name}" + (" (a folder, carried as a tar archive)" if directory else ""),
    ]
    if index.final:
        lines += [
            f"Size:         {index.bundle_size} bytes",
            f"BLAKE3:       {index.bundle_blake3}",
            f"Chunks:       {len(index.chunks)} chunk files on {drives} drive(s)",
        ]
    else:
        lines += [
            f"So far:       {index.bundle_size} bytes in {len(index.chunks)} chunk files on {drives} drive(s)",
            "This drive was sealed before the end of the bundle. The RESTORE.txt on the",
            "LAST drive written has the full size, the whole-bundle digest and the final steps.",
        ]
    lines += [
        f"Transfer id:  {index.transfer_id}",
        "",
        "If airgap-transfer is installed, use it instead: it also checks the signature.",
        "  airgap-transfer unpack DRIVE... OUTPUT_DIR",
        "",
        *_parity_lines(index),
        f"Otherwise you need a shell with {_tools(index)}. Type the lines that start with $",
        "(without the $ itself).",
        "",
        *_step_one(index),
        "",
        f"2. For EVERY drive: open a shell in its {folder} folder (the one",
        "   holding this file), check the index signature and the files, and copy the chunks to WORK:",
        *_checks(index),
        f"{COMMAND_PREFIX}cp -- {index.transfer_id[:12]}-*.chunk* \"$WORK\"/",
        "",
        f"3. When WORK holds all {len(index.chunks)} chunk files, join them in name order and check the whole:",
        f"{COMMAND_PREFIX}cd \"$WORK\"",
        f"{COMMAND_PREFIX}{_rebuild_command(index, output)}",
        f"{COMMAND_PREFIX}echo {shlex.quote(f'{index.bundle_blake3}  {raw_output}')} | b3sum -c",
        "   It must print OK. Anything else: a chunk is missing or damaged; start again at step 2.",
    ]
    if index.bundle_sha256:  # packed with --sha256: a check for sites that only have coreutils
        lines += ["   With sha256sum, check the whole again (or instead, without b3sum); it must print OK too:",
                  f"{COMMAND_PREFIX}echo " + shlex.quote(f"{index.bundle_sha256}  {raw_output}") + " | sha256sum -c"]
    if not index.final:
        return "\n".join(_partial_tail(lines))
    if directory:
        lines += [
            "",
            "4. Unpack the folder (it appears as " + shlex.quote(name) + " inside WORK):",
            f"{COMMAND_PREFIX}tar -xf {output}",
        ]
    lines += [
        "",
        "When it checked OK you may delete the chunk files from WORK.",
        "",
    ]
    return "\n".join(lines)


def _parity_lines(index: Index) -> list[str]:
    if index.parity is None:
        return []
    return [f"Parity:       {index.parity.m} parity drive(s) hold {index.transfer_id[:12]}-s*-p*.parity files",
            f"and no chunks (skip their cp in step 2). With up to {index.parity.m} drive(s) lost or chunks damaged,",
            "airgap-transfer unpack rebuilds the chunks from them; no stock tool reads this",
            "code (Reed-Solomon over GF(2^8): section 12 of airgap-transfer's docs/FORMAT.md).",
            ""]


def _partial_tail(lines: list[str]) -> list[str]:
    """Steps 1 and 2 hold on a sealed drive too; step 3 needs the final figures."""
    cut = next(i for i, line in enumerate(lines) if line.startswith("3. "))
    return [*lines[:cut], "3. Then follow step 3 of the RESTORE.txt on the last drive written: it joins",
            "   the chunks and checks the whole bundle against its digest.", ""]


def _step_one(index: Index) -> list[str]:
    """Where to work, and the sender's key the signature is checked against."""
    return [
        "1. Pick a folder with room for the chunk copies and the joined bundle at once"
        + (", then the unpacked folder" if index.kind == "directory" else "") + ":",
        f"   at least {_room(index)} free. Name it WORK (change the path in the first line if",
        "   you like). Put the sender's public key (a minisign .pub file you got from the sender",
        "   by a channel you trust, NOT the signer.pub on this drive) at the path in the third",
        "   line, or change that path:",
        f"{COMMAND_PREFIX}export WORK=\"$HOME/airgap-restore-{index.transfer_id[:12]}\"",
        f"{COMMAND_PREFIX}mkdir -p \"$WORK\"",
        f"{COMMAND_PREFIX}export SENDER_KEY=\"$HOME/sender.pub\"",
    ]


def _checks(index: Index) -> list[str]:
    """Step 2's checks on one drive: the signature (stock minisign), then B3SUMS (and SHA256SUMS)."""
    lines = [
        f"{COMMAND_PREFIX}minisign -V -p \"$SENDER_KEY\" -m {layout.INDEX_NAME} -x {layout.SIGNATURE_NAME}",
        "   It must say \"Signature and comment signature verified\": the index is the sender's. Anything",
        "   else: stop, these drives are not what the sender signed (or you have the wrong key).",
        f"{COMMAND_PREFIX}b3sum -c {layout.B3SUMS_NAME}",
    ]
    sha256 = any(chunk.sha256 for chunk in index.chunks)
    if sha256:  # pack --sha256: SHA256SUMS is on the drive too
        lines += [f"{COMMAND_PREFIX}sha256sum -c {layout.SHA256SUMS_NAME}",
                  "   (Without b3sum, the sha256sum line alone checks the index and the chunk files"
                  + (" stored plain;" if _compressed(index) else ";"),
                  "   " + ("compressed .zst chunks and " if _compressed(index) else "")
                  + "parity files have only a BLAKE3 in the signed index: only B3SUMS lists them.)"]
    tools = "b3sum (and sha256sum)" if sha256 else "b3sum"
    return [*lines, f"   Every line {tools} prints must end in OK. A FAILED line means a",
            "   damaged chunk: copy that file again from another drive or ask the sender."]


def _tools(index: Index) -> str:
    tools = ["cat", "b3sum", "minisign"] + (["zstd"] if _compressed(index) else []) + (
        ["tar"] if index.kind == "directory" else [])
    return ", ".join(tools[:-1]) + " and " + tools[-1]


def _room(index: Index) -> str:
    """What the steps take at once: the chunk copies and the joined bundle (and, for a folder, the folder).

    The chunks stay in WORK until the end, so a bundle of N bytes needs about
    2N (3N for a folder), not N.
    """
    copies = 3 if index.kind == "directory" else 2
    if not index.final:
        return f"{'three times' if copies == 3 else 'twice'} the bundle's full size"
    stored = sum(chunk.stored_length for chunk in index.chunks)
    identity = len(index.encryption.identity or b"") if index.encryption is not None else 0
    return f"{stored + identity + index.bundle_size * (copies - 1)} bytes"


def _compressed(index: Index) -> bool:
    return index.compression != "none" or any(chunk.encoding == "zstd" for chunk in index.chunks)


SEALED_OUTPUT = "bundle"  # the real name is sealed in the index; the note must not reveal it


def _encrypted_text(index: Index) -> str:
    """The note of an encrypted transfer: it names no plaintext (name, digests) and uses stock age."""
    directory = index.kind == "directory"
    raw_output = f"{SEALED_OUTPUT}.tar" if directory else SEALED_OUTPUT
    id12 = index.transfer_id[:12]
    folder = layout.folder_name(index.transfer_id)
    enc = index.encryption
    assert enc is not None, "the note of an encrypted transfer"
    drives = len({chunk.drive for chunk in index.chunks}) or 1
    tools = ["age", "b3sum", "minisign", "cat"] + (["zstd"] if _compressed(index) else []) + (
        ["tar"] if directory else [])
    lines = [
        "HOW TO RESTORE THIS BUNDLE WITHOUT airgap-transfer",
        "",
        f"Encrypted:    yes, every chunk is an age v1 file to {enc.recipients} recipient(s)"
        + (" (one of them unlocked by a passphrase: identity.age)" if enc.passphrase else ""),
        "Bundle:       its name and digests are sealed in the index; this note calls it "
        + shlex.quote(raw_output) + (" (a folder, carried as a tar archive)" if directory else ""),
    ]
    if index.final:
        lines += [f"Size:         {index.bundle_size} bytes",
                  f"Chunks:       {len(index.chunks)} chunk files on {drives} drive(s)"]
    else:
        lines += [f"So far:       {len(index.chunks)} chunk files on {drives} drive(s)",
                  "This drive was sealed before the end of the bundle. The RESTORE.txt on the",
                  "LAST drive written has the final steps."]
    lines += [
        f"Transfer id:  {index.transfer_id}",
        "",
        "If airgap-transfer is installed, use it instead: it also checks the signature",
        "and the whole bundle, and gives the bundle its own name.",
        "  airgap-transfer unpack DRIVE... OUTPUT_DIR --identity YOUR-AGE-KEY.txt",
        "",
        f"Otherwise you need a shell with {', '.join(tools[:-1])} and {tools[-1]}. Type the lines that start "
        "with $",
        "(without the $ itself).",
        "",
        *_step_one(index),
        "",
        f"2. For EVERY drive: open a shell in its {folder} folder (the one",
        "   holding this file), check the index signature and the files (no age key is needed for",
        "   these checks), and copy the chunks to WORK:",
        *_checks(index),
        f"{COMMAND_PREFIX}cp -- {id12}-*.chunk* " + ("identity.age " if enc.passphrase else "") + "\"$WORK\"/",
        "",
    ]
    if not index.final:
        return "\n".join(_partial_tail([*lines, "3. "]))
    if enc.passphrase:
        lines += [
            "3. Unlock the transfer's key with the passphrase (age asks for it), or, if you",
            "   hold an age identity the sender encrypted to, set KEY to that file instead:",
            f"{COMMAND_PREFIX}cd \"$WORK\"",
            f"{COMMAND_PREFIX}age -d -o identity.txt identity.age",
            f"{COMMAND_PREFIX}export KEY=\"$WORK/identity.txt\"",
        ]
    else:
        lines += [
            "3. Set KEY to your age identity file (from age-keygen or airgap-transfer keygen --age;",
            "   change the path in the first line), then go to WORK:",
            f"{COMMAND_PREFIX}export KEY=\"$HOME/age-identity.txt\"",
            f"{COMMAND_PREFIX}cd \"$WORK\"",
        ]
    decrypt = 'age -d -i "$KEY" -- "$f"'
    compressed = f'case "$f" in *.zst.age) {decrypt} | zstd -d -c ;; *) {decrypt} ;; esac'
    body = compressed if _compressed(index) else decrypt
    lines += [
        "",
        f"4. When WORK holds all {len(index.chunks)} chunk files, decrypt and join them in name order:",
        f"{COMMAND_PREFIX}for f in {id12}-*.chunk*; do {body} || echo \"FAILED: $f\" >&2; done > {raw_output}",
        "   age authenticates every chunk as it decrypts it: a FAILED line (or an age error)",
        "   means a damaged chunk or the wrong key; fix that and run the line again.",
    ]
    if directory:
        lines += ["", "5. Unpack the folder (it appears under its own name inside WORK):",
                  f"{COMMAND_PREFIX}tar -xf {raw_output}"]
    lines += ["", "When it worked you may delete the chunk files" + (" and identity.txt" if enc.passphrase else "")
              + " from WORK.", ""]
    return "\n".join(lines)

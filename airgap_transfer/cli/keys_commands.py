"""``airgap-transfer keygen`` and ``trust add|list|remove``: the sender's key, the receiver's trusted keys."""

from __future__ import annotations

import os
from pathlib import Path

import click

from airgap_transfer.cli import encryption
from airgap_transfer.cli.options import common, renderer_for
from airgap_transfer.errors import KeyFileError, UsageError
from airgap_transfer.events import Event, Kind
from airgap_transfer.format import layout
from airgap_transfer.state import paths
from airgap_transfer.trust import keys, passphrase, store


@click.command("keygen")
@click.option("--secret-key", type=click.Path(path_type=Path), help="Where to write the secret key.")
@click.option("--public-key", type=click.Path(path_type=Path), help="Where to write the public key.")
@click.option("--no-passphrase", is_flag=True,
              help="Store the secret key unencrypted (unattended signing); otherwise a passphrase is asked "
                   "twice on the terminal, or read from the file named by AIRGAP_TRANSFER_PASSPHRASE_FILE.")
@click.option("--age", "age_identity", is_flag=True,
              help="Make an age identity (X25519, as age-keygen) for unpack --identity instead; "
                   "--secret-key names its file.")
@common
def keygen_command(secret_key: Path | None, public_key: Path | None, no_passphrase: bool, age_identity: bool,
                   json_mode: bool, quiet: bool, debug: bool) -> None:
    """Make an Ed25519 signing key pair (minisign-compatible, secret key encrypted), or with --age an age identity."""
    render = renderer_for(json_mode, quiet)
    if age_identity:
        if public_key is not None:
            raise click.UsageError("--public-key does not go with --age: the public key is in the identity file")
        path, identity = encryption.write_age_identity(secret_key)
        render.result({"identity": str(path), "recipient": str(identity.recipient)}, [
            f"age identity: {path} (keep it on the receiving side; unpack --identity {path})",
            f"public key: {identity.recipient} (give it to senders: pack --encrypt-to {identity.recipient})"])
        return
    secret_path = secret_key or paths.default_secret_key()
    public_path = public_key or (secret_path.with_suffix(".pub") if secret_key else paths.default_public_key())
    if os.path.lexists(secret_path):  # before asking for a passphrase that would be thrown away
        raise KeyFileError(f"secret key file {secret_path} already exists",
                           hint="move it away or choose another path; it is never overwritten")
    phrase = None if no_passphrase else passphrase.for_new_key(secret_path)
    if phrase is None and not no_passphrase:
        raise UsageError("keygen encrypts the secret key, and there is no terminal to ask a passphrase on",
                         hint=f"name a file holding it in {passphrase.ENV_FILE}, or pass --no-passphrase "
                              "for an unencrypted key")
    secret = keys.generate_default_key(secret_path, public_path, phrase)
    key_id = secret.public_key().key_id_hex
    state = "encrypted with your passphrase" if phrase else "UNENCRYPTED (--no-passphrase)"
    render.result({"key_id": key_id, "secret_key": str(secret_path), "public_key": str(public_path),
                   "encrypted": phrase is not None}, [
        f"key id {key_id}", f"secret key: {secret_path}, {state} (keep it on the sending side)",
        f"public key: {public_path} (give it to receivers: unpack --trust {public_path})"])


@click.group("trust")
def trust_group() -> None:
    """Manage the public keys whose signatures are accepted: bundle signers and custody witnesses."""


@trust_group.command("add")
@click.argument("pubkey")
@click.option("--custody-only", is_flag=True,
              help="Trust PUBKEY as a witness (courier, handover desk): for custody heads only, never for a bundle.")
@common
def trust_add(pubkey: str, custody_only: bool, json_mode: bool, quiet: bool, debug: bool) -> None:
    """Trust PUBKEY (a minisign public key file or its base64 line) to sign bundles, or custody only."""
    render = renderer_for(json_mode, quiet)
    entry, added, before = store.add(pubkey, store.CUSTODY_ONLY if custody_only else store.SIGNER)
    what = "for custody heads only" if custody_only else "as a bundle signer"
    if before is not None:
        render(Event(Kind.TRUST_ROLE_CHANGED, f"key {entry.key_id} was trusted "
                     f"{'for custody heads only' if before == store.CUSTODY_ONLY else 'as a bundle signer'}; "
                     f"it is now trusted {what} instead", {"key_id": entry.key_id, "before": before,
                                                           "role": entry.role}, level="warning"))
    if _from_a_drive(pubkey):
        render(Event(Kind.TRUST_KEY_FROM_DRIVE, f"{pubkey} is a key file from a transfer folder: trusting the key a "
                     "drive carries trusts whoever wrote that drive; compare its id "
                     f"{entry.key_id} with the sender's, out of band", {"key_id": entry.key_id}, level="warning"))
    state = f"now trusted {what}" if added else f"was already trusted {what}"
    render.result({"key_id": entry.key_id, "role": entry.role, "path": str(entry.path), "added": added},
                  [f"key {entry.key_id} {state} ({entry.path})"])


def _from_a_drive(value: str) -> bool:
    """A file inside an ``airgap-<transfer id>`` folder: the signer.pub a drive carries."""
    path = Path(value)
    return layout.FOLDER_RE.fullmatch(path.parent.name) is not None and path.is_file()


@trust_group.command("list")
@common
def trust_list(json_mode: bool, quiet: bool, debug: bool) -> None:
    """List the trusted keys with their role (signer or custody-only), and unusable files."""
    render = renderer_for(json_mode, quiet)
    found = store.entries()
    lines = [f"{e.key_id or '?' * 16}  {e.role:<12}  {e.path}" + (f"  ({e.problem})" if e.problem else "")
             for e in found] or [f"no trusted keys in {paths.trusted_dir()}"]
    render.result({"folder": str(paths.trusted_dir()), "keys": [e.to_dict() for e in found]}, lines)


@trust_group.command("remove")
@click.argument("key_id")
@common
def trust_remove(key_id: str, json_mode: bool, quiet: bool, debug: bool) -> None:
    """Stop trusting the key with id KEY_ID (16 hex digits, as `trust list` shows)."""
    render = renderer_for(json_mode, quiet)
    removed = store.remove(key_id)
    render.result({"key_id": key_id.upper(), "removed": [str(e.path) for e in removed]},
                  [f"key {key_id.upper()} no longer trusted (removed {', '.join(str(e.path) for e in removed)})"])

"""``airgap-transfer keygen`` and ``trust add|list|remove``: the sender's key, the receiver's trusted keys."""

from __future__ import annotations

from pathlib import Path

import click

from airgap_transfer.cli import encryption
from airgap_transfer.cli.options import common, renderer_for
from airgap_transfer.state import paths
from airgap_transfer.trust import keys, store


@click.command("keygen")
@click.option("--secret-key", type=click.Path(path_type=Path), help="Where to write the secret key.")
@click.option("--public-key", type=click.Path(path_type=Path), help="Where to write the public key.")
@click.option("--age", "age_identity", is_flag=True,
              help="Make an age identity (X25519, as age-keygen) for unpack --identity instead; "
                   "--secret-key names its file.")
@common
def keygen_command(secret_key: Path | None, public_key: Path | None, age_identity: bool, json_mode: bool,
                   quiet: bool, debug: bool) -> None:
    """Make an Ed25519 signing key pair (minisign-compatible files), or with --age an age identity."""
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
    secret = keys.generate_default_key(secret_path, public_path)
    key_id = secret.public_key().key_id_hex
    render.result({"key_id": key_id, "secret_key": str(secret_path), "public_key": str(public_path)}, [
        f"key id {key_id}", f"secret key: {secret_path} (keep it on the sending side)",
        f"public key: {public_path} (give it to receivers: unpack --trust {public_path})"])


@click.group("trust")
def trust_group() -> None:
    """Manage the public keys whose signatures unpack accepts."""


@trust_group.command("add")
@click.argument("pubkey")
@common
def trust_add(pubkey: str, json_mode: bool, quiet: bool, debug: bool) -> None:
    """Trust PUBKEY (a minisign public key file or its base64 line)."""
    render = renderer_for(json_mode, quiet)
    entry, added = store.add(pubkey)
    state = "now trusted" if added else "was already trusted"
    render.result({"key_id": entry.key_id, "path": str(entry.path), "added": added},
                  [f"key {entry.key_id} {state} ({entry.path})"])


@trust_group.command("list")
@common
def trust_list(json_mode: bool, quiet: bool, debug: bool) -> None:
    """List the trusted keys (and files in trusted/ that are not usable keys)."""
    render = renderer_for(json_mode, quiet)
    found = store.entries()
    lines = [f"{e.key_id or '?' * 16}  {e.path}" + (f"  ({e.problem})" if e.problem else "")
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

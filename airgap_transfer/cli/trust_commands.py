"""``airgap-transfer trust add|list|remove``: manage the receiver's trusted keys.

Kept apart from ``cli.py`` so the trust commands merge without touching the
other commands; ``register`` adds the group with the shared options.
"""

from __future__ import annotations

import click

from airgap_transfer.state import paths
from airgap_transfer.trust import store


def register(cli: click.Group, common, renderer_for) -> None:
    @cli.group("trust")
    def trust_group() -> None:
        """Manage the public keys whose signatures are accepted: bundle signers and custody witnesses."""

    @trust_group.command("add")
    @click.argument("pubkey")
    @click.option("--custody-only", is_flag=True,
                  help="Trust PUBKEY as a witness (courier, handover desk): for custody heads only, "
                       "never for a bundle.")
    @common
    def trust_add(pubkey, custody_only, json_mode, quiet, debug):
        """Trust PUBKEY (a minisign public key file or its base64 line) to sign bundles, or custody only."""
        render = renderer_for(json_mode, quiet)
        entry, added = store.add(pubkey, store.CUSTODY_ONLY if custody_only else store.SIGNER)
        what = "for custody heads only" if custody_only else "as a bundle signer"
        state = f"now trusted {what}" if added else f"was already trusted {what}"
        render.result({"key_id": entry.key_id, "role": entry.role, "path": str(entry.path), "added": added},
                      [f"key {entry.key_id} {state} ({entry.path})"])

    @trust_group.command("list")
    @common
    def trust_list(json_mode, quiet, debug):
        """List the trusted keys with their role (signer or custody-only), and unusable files."""
        render = renderer_for(json_mode, quiet)
        found = store.entries()
        lines = [f"{e.key_id or '?' * 16}  {e.role:<12}  {e.path}" + (f"  ({e.problem})" if e.problem else "")
                 for e in found] or [f"no trusted keys in {paths.trusted_dir()}"]
        render.result({"folder": str(paths.trusted_dir()), "keys": [e.to_dict() for e in found]}, lines)

    @trust_group.command("remove")
    @click.argument("key_id")
    @common
    def trust_remove(key_id, json_mode, quiet, debug):
        """Stop trusting the key with id KEY_ID (16 hex digits, as `trust list` shows)."""
        render = renderer_for(json_mode, quiet)
        removed = store.remove(key_id)
        render.result({"key_id": key_id.upper(), "removed": [str(e.path) for e in removed]},
                      [f"key {key_id.upper()} no longer trusted (removed {', '.join(str(e.path) for e in removed)})"])

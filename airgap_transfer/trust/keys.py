"""Signing keys and the trust store, and signing/verifying the index.

The signature covers the exact bytes of ``index.agt``; the index is parsed
only after it verifies.  Keys are minisign files, so operators can check
everything with stock ``minisign -V``.
"""

from __future__ import annotations

import stat
from pathlib import Path

from airgap_transfer import limits
from airgap_transfer.errors import KeyFileError, TrustError
from airgap_transfer.events import Kind, Reporter
from airgap_transfer.state import paths
from airgap_transfer.trust import keyfiles, minisign


def load_signing_key(path: Path | None, report: Reporter) -> minisign.SecretKey:
    """The key given with --key, else the default one, created on first use."""
    if path is not None:
        return minisign.SecretKey.from_file(path)
    secret_path = paths.default_secret_key()
    if secret_path.exists():
        return minisign.SecretKey.from_file(secret_path)
    secret = generate_default_key()
    report.warning(
        Kind.KEY_CREATED,
        f"created signing key {secret.public_key().key_id_hex} at {secret_path}; "
        f"give the receiver {paths.default_public_key()} to trust",
        key_id=secret.public_key().key_id_hex, secret_key=str(secret_path),
        public_key=str(paths.default_public_key()))
    return secret


def generate_default_key(secret_path: Path | None = None, public_path: Path | None = None) -> minisign.SecretKey:
    secret_path = secret_path or paths.default_secret_key()
    public_path = public_path or paths.default_public_key()
    secret_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = minisign.SecretKey.generate()
    keyfiles.write_key_pair(secret, secret_path, public_path)
    return secret


def parse_trust_argument(value: str) -> minisign.PublicKey:
    """--trust takes a public key file or the bare base64 key line."""
    candidate = Path(value)
    try:
        if candidate.is_file():
            return minisign.PublicKey.from_file(candidate)
    except OSError:
        pass
    try:
        return minisign.PublicKey.from_text(value)
    except KeyFileError:
        raise KeyFileError(
            f"--trust {value!r} is neither a readable public key file nor a minisign public key",
            hint="pass the .pub file from `airgap-transfer keygen` or its base64 line") from None


def local_public_key() -> minisign.PublicKey | None:
    """This machine's own signing key (key pair in the config folder), or None.

    It counts as trusted here: a sender checking its own drives needs no --trust.
    """
    secret, public = paths.default_secret_key(), paths.default_public_key()
    try:
        if stat.S_ISREG(secret.lstat().st_mode) and stat.S_ISREG(public.lstat().st_mode):
            return minisign.PublicKey.from_file(public)
    except (OSError, KeyFileError):
        pass
    return None


def trusted_keys(extra: list[str]) -> list[minisign.PublicKey]:
    keys = [parse_trust_argument(value) for value in extra]
    own = local_public_key()
    if own is not None:
        keys.append(own)
    folder = paths.trusted_dir()
    if folder.is_dir():
        for entry in sorted(folder.iterdir())[:limits.MAX_TRUSTED_KEYS]:
            try:
                if entry.suffix == ".pub" and stat.S_ISREG(entry.lstat().st_mode):
                    keys.append(minisign.PublicKey.from_file(entry))
            except (OSError, KeyFileError):
                continue  # one broken file in trusted/ must not lock the operator out
    return keys


def trusted_comment(transfer_id: str, final: bool) -> str:
    kind = "final" if final else "partial"
    return f"airgap-transfer index transfer:{transfer_id} {kind}"


def sign_index(index_bytes: bytes, key: minisign.SecretKey, transfer_id: str, final: bool) -> str:
    signature = minisign.sign(index_bytes, key, trusted_comment(transfer_id, final))
    return signature.to_file_text()


def verify_index(index_bytes: bytes, signature_text: str, trusted: list[minisign.PublicKey],
                 *, where: str) -> minisign.PublicKey:
    """Verify before parsing; raises TrustError that names the drive folder."""
    try:
        signature = minisign.Signature.from_text(signature_text)
        return minisign.verify(index_bytes, signature, trusted)
    except TrustError as exc:
        raise TrustError(f"{where}: {exc.detail}", hint=exc.hint) from None

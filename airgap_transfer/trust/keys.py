"""Signing keys and the trust store, and signing/verifying the index.

The signature covers the exact bytes of ``index.agt``; the index is parsed
only after it verifies.  Keys are minisign files, so operators can check
everything with stock ``minisign -V``.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

from airgap_transfer import limits
from airgap_transfer.errors import KeyFileError, TrustError
from airgap_transfer.events import Kind, Reporter
from airgap_transfer.state import paths
from airgap_transfer.trust import keyfiles, minisign, passphrase

_loaded: dict[tuple[str, int, int], minisign.SecretKey] = {}  # a passphrase is asked once per run


def read_secret_key(path: Path) -> minisign.SecretKey:
    """A secret key file, decrypted with its passphrase if it has one (asked once per process)."""
    try:
        info = path.stat()
        cache_key = (str(path.resolve()), info.st_ino, info.st_mtime_ns)
    except OSError:
        cache_key = None
    if cache_key in _loaded:
        return _loaded[cache_key]
    key = minisign.SecretKey.from_file(path, passphrase=lambda: passphrase.for_existing_key(path))
    if cache_key is not None:
        _loaded[cache_key] = key
    return key


def existing_signing_key(path: Path | None) -> minisign.SecretKey | None:
    """The key given with --key, else the default one if it exists (None: there is none yet)."""
    if path is not None:
        return read_secret_key(path)
    secret_path = paths.default_secret_key()
    return read_secret_key(secret_path) if secret_path.exists() else None


def load_signing_key(path: Path | None, report: Reporter) -> minisign.SecretKey:
    """``existing_signing_key``, else a new default key.

    Callers that can still fail call ``existing_signing_key`` first and this
    only once every check has passed, so no command leaves a new key behind
    and then fails.
    """
    return existing_signing_key(path) or create_default_key(report)


def create_default_key(report: Reporter) -> minisign.SecretKey:
    """Make the default key on first use, never silently; encrypted whenever a passphrase can be had."""
    secret_path = paths.default_secret_key()
    phrase = passphrase.for_new_key(secret_path)
    secret = generate_default_key(phrase=phrase)
    how = ("encrypted with the passphrase given" if phrase is not None else
           f"UNENCRYPTED (no terminal to ask a passphrase on, and {passphrase.ENV_FILE} is not set; "
           "run `airgap-transfer keygen` beforehand for an encrypted key)")
    report.warning(
        Kind.KEY_CREATED,
        f"created signing key {secret.public_key().key_id_hex} at {secret_path}, {how}; "
        f"give the receiver {paths.default_public_key()} to trust",
        key_id=secret.public_key().key_id_hex, secret_key=str(secret_path),
        public_key=str(paths.default_public_key()), encrypted=phrase is not None)
    return secret


def generate_default_key(secret_path: Path | None = None, public_path: Path | None = None,
                         phrase: bytes | None = None) -> minisign.SecretKey:
    secret_path = secret_path or paths.default_secret_key()
    public_path = public_path or paths.default_public_key()
    secret_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = minisign.SecretKey.generate()
    keyfiles.write_key_pair(secret, secret_path, public_path, phrase)
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


def _keys_in(folder: Path) -> list[minisign.PublicKey]:
    found: list[minisign.PublicKey] = []
    if folder.is_dir():
        for entry in sorted(folder.iterdir())[:limits.MAX_TRUSTED_KEYS]:
            try:
                if entry.suffix == ".pub" and stat.S_ISREG(entry.lstat().st_mode):
                    found.append(minisign.PublicKey.from_file(entry))
            except (OSError, KeyFileError):
                continue  # one broken file in trusted/ must not lock the operator out
    return found


def trusted_keys(extra: list[str], refuse_witnesses: bool = True) -> list[minisign.PublicKey]:
    """Bundle signers: --trust and ``trusted/*.pub``.  Never a custody-only (witness) key.

    A witness key named with --trust is refused (exit 5), not quietly dropped: the brief's rule is that
    a key trusted for custody can never sign a bundle, and the operator should hear why.  ``report``,
    whose --trust also names custody keys, drops it instead (``refuse_witnesses=False``).
    """
    witnesses = {key.raw for key in _keys_in(paths.custody_only_dir())}
    keys = [parse_trust_argument(value) for value in extra]
    if not refuse_witnesses:
        keys = [key for key in keys if key.raw not in witnesses]
    for key in keys:
        if key.raw in witnesses:
            raise TrustError(f"key {key.key_id_hex} given with --trust is trusted here for custody only (a "
                             "witness); a witness key never vouches for a bundle",
                             hint="give the bundle signer's key, or `trust remove` the key and add it again "
                                  "without --custody-only if it really signs bundles")
    own = local_public_key()  # this machine's own key counts as trusted here
    if own is not None:
        keys.append(own)
    keys += [key for key in _keys_in(paths.trusted_dir()) if key.raw not in witnesses]
    return keys


def own_public_key() -> minisign.PublicKey | None:
    """This host's own signing key counts as trusted on this host, for custody heads."""
    path = paths.default_public_key()
    try:
        return minisign.PublicKey.from_file(path) if path.is_file() else None
    except KeyFileError:
        return None


def custody_keys(extra: list[str]) -> list[minisign.PublicKey]:
    """Keys a custody head may be signed with: bundle signers, witnesses (custody-only), this host's key."""
    found = [parse_trust_argument(value) for value in extra] + trusted_keys([]) + _keys_in(paths.custody_only_dir())
    own = own_public_key()
    if own is not None:
        found.append(own)
    unique: dict[bytes, minisign.PublicKey] = {}
    for key in found:
        unique.setdefault(key.key_id + key.raw, key)
    return list(unique.values())


def trusted_comment(transfer_id: str, final: bool) -> str:
    kind = "final" if final else "partial"
    return f"airgap-transfer index transfer:{transfer_id} {kind}"


def sign_index(index_bytes: bytes, key: minisign.SecretKey, transfer_id: str, final: bool) -> str:
    return sign_index_prehashed(minisign.prehash(index_bytes).digest(), key, transfer_id, final)


def sign_index_prehashed(digest: bytes, key: minisign.SecretKey, transfer_id: str, final: bool) -> str:
    """``sign_index`` of an index written as it was hashed (``minisign.prehash``)."""
    return minisign.sign_prehashed(digest, key, trusted_comment(transfer_id, final)).to_file_text()


def verify_index_prehashed(digest: bytes, index_bytes: Callable[[], bytes], signature_text: str,
                           trusted: list[minisign.PublicKey], *, where: str) -> minisign.PublicKey:
    """Verify, before parsing, an index known by its ``minisign.prehash`` digest (its bytes are asked
    for only by a legacy signature); raises TrustError that names the drive folder."""
    try:
        signature = minisign.Signature.from_text(signature_text)
        return minisign.verify_prehashed(digest, index_bytes, signature, trusted)
    except TrustError as exc:
        raise TrustError(f"{where}: {exc.detail}", hint=exc.hint) from None

"""Which keys count as bundle signers: a witness (custody-only) key never does, wherever else it is."""

from __future__ import annotations

import pytest

from airgap_transfer.errors import TrustError
from airgap_transfer.state import paths
from airgap_transfer.trust import keys, minisign


def _put(folder, key: minisign.PublicKey) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{key.key_id_hex}.pub").write_text(key.to_file_text())


def test_a_witness_key_also_dropped_into_trusted_never_signs_a_bundle():
    witness, signer = minisign.SecretKey.generate(), minisign.SecretKey.generate()
    # By hand, not through `trust add` (which keeps one role per key): the store doc says
    # an index a witness signed is refused "whatever else is in the store".
    _put(paths.custody_only_dir(), witness.public_key())
    _put(paths.trusted_dir(), witness.public_key())
    _put(paths.trusted_dir(), signer.public_key())

    assert keys.trusted_keys([]) == [signer.public_key()]
    assert witness.public_key() in keys.custody_keys([])   # its custody heads still count

    index_bytes = b"an index"
    signed_by_witness = keys.sign_index(index_bytes, witness, "00" * 16, True)
    with pytest.raises(TrustError, match="not trusted"):
        keys.verify_index_prehashed(minisign.prehash(index_bytes).digest(), lambda: index_bytes,
                                    signed_by_witness, keys.trusted_keys([]), where="drive")
    signed_by_signer = keys.sign_index(index_bytes, signer, "00" * 16, True)
    assert keys.verify_index_prehashed(minisign.prehash(index_bytes).digest(), lambda: index_bytes,
                                       signed_by_signer, keys.trusted_keys([]), where="drive") == signer.public_key()

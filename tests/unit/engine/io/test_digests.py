"""Digests: BLAKE3 and optional SHA-256 in step, copy for rewinding after a bad copy."""

from __future__ import annotations

import hashlib

import blake3

from airgap_transfer.engine.io.digests import Digests


def test_digests_match_the_reference_hashers_and_copy_is_independent():
    both = Digests(sha256=True)
    both.update(memoryview(b"abc"))
    saved = both.copy()
    both.update(b"def")
    assert both.hexdigest() == blake3.blake3(b"abcdef").hexdigest()
    assert both.sha256_hexdigest() == hashlib.sha256(b"abcdef").hexdigest()
    assert saved.hexdigest() == blake3.blake3(b"abc").hexdigest()
    assert saved.sha256_hexdigest() == hashlib.sha256(b"abc").hexdigest()
    only = Digests()
    only.update(b"abc")
    assert only.sha256_hexdigest() is None and only.copy().hexdigest() == blake3.blake3(b"abc").hexdigest()

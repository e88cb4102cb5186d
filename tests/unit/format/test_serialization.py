import msgpack
import pytest

from airgap_transfer.errors import FormatError
from airgap_transfer.format import serialization


def _nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("label, data, message", [
    ("empty", b"", "empty"),
    ("duplicate key", bytes([0x82, 0xA1, 0x61, 1, 0xA1, 0x61, 2]), "duplicate"),
    ("deep nesting", b"\x91" * 5000 + b"\x80", "msgpack"),
    ("moderate nesting over our cap", msgpack.packb({"a": _nested(20)}), "nesting"),
    ("trailing bytes", msgpack.packb({"a": 1}) + b"x", "trailing"),
    ("not a map", msgpack.packb([1, 2]), "not a map"),
    ("truncated", msgpack.packb({"abc": "defgh"})[:-2], "truncated"),
    ("invalid utf-8", b"\x81\xa1a\xa2\xff\xfe", "msgpack"),
    ("integer key", msgpack.packb({1: 2}), "msgpack"),
    ("reserved byte", b"\xc1", "msgpack"),
    ("huge declared str", b"\x81\xa1a\xdb\xff\xff\xff\xff", "truncated"),
])
def test_bad_documents(label, data, message):
    with pytest.raises(FormatError) as info:
        serialization.loads(data)
    assert message in info.value.one_line()


def test_size_cap_applies_before_parsing():
    with pytest.raises(FormatError, match="limit"):
        serialization.loads(msgpack.packb({"a": "x" * 100}), limit=50)


def test_read_bounded_refuses_symlinks_and_big_files(tmp_path):
    target = tmp_path / "real"
    target.write_bytes(b"x" * 100)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(FormatError):
        serialization.read_bounded(link)
    with pytest.raises(FormatError, match="limit"):
        serialization.read_bounded(target, limit=10)
    assert serialization.read_bounded(target, limit=100) == b"x" * 100

import pytest

from airgap_transfer.cli.sizes import parse_size, parse_size_or_auto
from airgap_transfer.errors import UsageError


@pytest.mark.parametrize("text, expected", [
    ("16GB", 16 * 10**9),
    ("16GiB", 16 * 2**30),
    ("4GiB", 4 * 2**30),
    ("20MB", 20 * 10**6),
    ("20mib", 20 * 2**20),
    ("1.5GB", 1_500_000_000),
    ("4294967295", 4294967295),
    ("512k", 512_000),
    (" 3 TB ", 3 * 10**12),
])
def test_sizes_parse(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "16XB", "-5GB", "0", "16 G B", "1e9", "abc", "99999999999TiB"])
def test_bad_sizes_are_usage_errors(text):
    with pytest.raises(UsageError) as info:
        parse_size(text)
    assert info.value.exit_code == 2


def test_auto_means_none():
    assert parse_size_or_auto("auto") is None
    assert parse_size_or_auto("AUTO") is None
    assert parse_size_or_auto("1MB") == 10**6

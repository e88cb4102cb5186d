import pytest

from airgap_transfer import limits, planning


@pytest.mark.parametrize("fs_type, expected", [
    ("vfat", 4294967295), ("VFAT", 4294967295), ("msdos", 4294967295), ("fat32", 4294967295),
    ("exfat", 2**64 - 1), ("ntfs", 16 * 2**40 - 65536), ("ntfs3", 16 * 2**40 - 65536),
    ("ext2", 2 * 2**40), ("ext3", 2 * 2**40), ("ext4", 16 * 2**40 - 4096),
    ("iso9660", 4294967295), ("udf", 2**64 - 1), ("xfs", 2**63 - 1), ("btrfs", 2**63 - 1),
    ("tmpfs", 2**63 - 1), ("fuseblk", 4294967295), ("unknownfs", 4294967295), (None, 4294967295),
])
def test_single_file_limits(fs_type, expected):
    assert limits.max_file_size(fs_type) == expected


def test_fat32_limit_is_exactly_4gib_minus_one():
    assert limits.FAT32_MAX_FILE == 4294967295


def test_explicit_size_above_the_limit_is_clamped():
    clamped = planning.chunk_limit(5 * 10**9, "vfat")
    assert clamped.size == 4294967295 and clamped.clamped
    assert planning.chunk_limit(4 * 10**9, "vfat") == planning.ChunkLimit(4 * 10**9, False)
    assert planning.chunk_limit(None, "vfat") == planning.ChunkLimit(4294967295, False)


@pytest.mark.parametrize("room, limit, remaining, expected", [
    (100 * 2**20, 10 * 2**20, None, 10 * 2**20),
    (5 * 2**20, 10 * 2**20, None, 5 * 2**20),
    (2**19, 10 * 2**20, None, 0),             # under MIN_CHUNK: finish the drive
    (2**19, 10 * 2**20, 1000, 1000),          # but the tail of the bundle still fits
    (100 * 2**20, 10 * 2**20, 3 * 2**20, 3 * 2**20),
    (3 * 10**6, 10**6, None, 10**6),          # an explicit size below MIN_CHUNK is honoured
    (10**6 - 1, 10**6, None, 0),              # and a drive with less room than that is full
])
def test_next_chunk_length(room, limit, remaining, expected):
    assert planning.next_chunk_length(room, limit, remaining) == expected


def test_plan_never_exceeds_drive_or_limit():
    gb = 10**9
    result = planning.plan(40 * gb, [("a", "vfat", 16 * gb), ("b", "exfat", 32 * gb)], None)
    assert result.unplaced == 0
    a, b = result.drives
    assert all(c <= limits.FAT32_MAX_FILE for c in a.chunks)
    assert sum(a.chunks) + limits.reserve(len(a.chunks)) <= 16 * gb
    assert sum(a.chunks) + sum(b.chunks) == 40 * gb
    assert len(b.chunks) == 1  # exFAT takes the rest in one chunk


def test_plan_with_repeated_drive_size_counts_drives():
    gb = 10**9
    result = planning.plan(100 * gb, [("16GB", "vfat", 16 * gb)], None, repeat_last=True)
    assert result.unplaced == 0
    assert len([d for d in result.drives if d.chunks]) == 7
    assert all(c <= limits.FAT32_MAX_FILE for d in result.drives for c in d.chunks)


def test_plan_reports_what_does_not_fit():
    result = planning.plan(10 * 2**20, [("tiny", "tmpfs", 4 * 2**20)], None)
    assert result.unplaced > 0 and result.to_dict()["fits"] is False

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize("total, capacities, expected", [
    (70, [64, 64], [35, 35]),              # equal drives share evenly
    (100, [30, 80, 80], [30, 35, 35]),     # a small drive takes what it holds, the others share the rest
    (200, [30, 40], [30, 40]),             # more than they hold: each is filled, the rest is not placed
    (7, [10, 10, 10], [3, 2, 2]),          # bytes that do not divide go to the first drives
    (0, [10, 10], [0, 0]),
])
def test_shares_split_as_evenly_as_capacities_allow(total, capacities, expected):
    assert planning.shares(total, capacities) == expected


def test_drives_written_at_once_each_take_an_even_share_within_their_limits():
    gb = 10**9
    result = planning.plan(70 * gb, [("a", "vfat", 64 * gb, 32768), ("b", "exfat", 64 * gb, 131072)], None,
                           parallel=True)
    a, b = result.drives
    assert result.unplaced == 0 and sum(a.chunks) == sum(b.chunks) == 35 * gb
    assert all(c <= limits.FAT32_MAX_FILE for c in a.chunks) and len(b.chunks) == 1
    # the allocation unit is kept free per chunk, on top of the reserve
    assert sum(a.chunks) + limits.reserve(len(a.chunks)) + 32768 * len(a.chunks) <= 64 * gb


@settings(max_examples=300, deadline=None)
@given(size=st.integers(0, 10**12),
       drives=st.lists(st.tuples(st.sampled_from(["vfat", "exfat", "ext4", None]),
                                 st.integers(0, 3 * 10**11), st.sampled_from([0, 4096, 131072])),
                       min_size=1, max_size=6),
       requested=st.one_of(st.none(), st.integers(planning.MIN_CHUNK, 10**11)))
def test_spread_places_every_byte_it_can_and_never_overfills(size, drives, requested):
    specs = [(f"d{n}", fs, free, block) for n, (fs, free, block) in enumerate(drives)]
    result = planning.plan(size, specs, requested, parallel=True)
    placed = sum(sum(d.chunks) for d in result.drives)
    assert placed + result.unplaced == size
    chunks_before = 0
    for drive in result.drives:
        limit = planning.chunk_limit(requested, drive.fs_type).size
        assert all(0 < c <= limit for c in drive.chunks)
        count = chunks_before + len(drive.chunks)
        if drive.chunks:
            assert sum(drive.chunks) + limits.reserve(count) + drive.block * len(drive.chunks) <= drive.free
        chunks_before = count
    # at once, the drives hold nearly what they hold in turn: at most a sliver per drive is left unused
    sequential = planning.plan(size, specs, requested)
    assert result.unplaced <= sequential.unplaced + sum(
        planning.MIN_CHUNK + b for _, _, b in drives)

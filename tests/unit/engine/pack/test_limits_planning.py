import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airgap_transfer import limits
from airgap_transfer.engine.pack import planning


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


def drive_plans(specs, requested):
    return [planning.DrivePlan(name, fs, free, planning.chunk_limit(requested, fs).size, block=block)
            for name, fs, free, block in specs]


def test_drives_written_at_once_each_take_an_even_share_within_their_limits():
    gb = 10**9
    specs = [("a", "vfat", 64 * gb, 32768), ("b", "exfat", 64 * gb, 131072)]
    result = planning.plan_at_once(70 * gb, drive_plans(specs, None), None)
    a, b = result.drives
    assert result.unplaced == 0 and sum(a.chunks) == sum(b.chunks) == 35 * gb
    # auto chunks written at once fit any file system, so one can move to another drive
    assert all(c <= limits.FAT32_MAX_FILE for c in a.chunks + b.chunks)
    # the allocation unit is kept free per chunk, on top of the reserve
    assert sum(a.chunks) + limits.reserve(len(a.chunks)) + 32768 * len(a.chunks) <= 64 * gb
    # an explicit size is kept
    explicit = planning.plan_at_once(70 * gb, drive_plans(specs, 20 * gb), 20 * gb)
    assert explicit.drives[1].chunks == [20 * gb, 15 * gb]


def test_at_once_is_declined_when_not_worth_it():
    specs = [("a", "tmpfs", 64 * 2**20, 4096), ("b", "tmpfs", 64 * 2**20, 4096)]
    assert planning.plan_at_once(100, drive_plans(specs, None), None) is not None
    assert planning.plan_at_once(0, drive_plans(specs, None), None) is None  # nothing to share
    one_room = [("a", "tmpfs", 64 * 2**20, 4096), ("b", "tmpfs", 2**20, 4096)]  # b has no room past its reserve
    assert planning.plan_at_once(10 * 2**20, drive_plans(one_room, None), None) is None


specs_strategy = st.lists(st.tuples(st.sampled_from(["vfat", "exfat", "ext4", None]),
                                    st.integers(0, 3 * 10**11), st.sampled_from([0, 4096, 131072])),
                          min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(size=st.integers(0, 10**12), drives=specs_strategy,
       requested=st.one_of(st.none(), st.integers(planning.MIN_CHUNK, 10**11)))
def test_spread_places_every_byte_it_can_and_never_overfills(size, drives, requested):
    plans = drive_plans([(f"d{n}", fs, free, block) for n, (fs, free, block) in enumerate(drives)], requested)
    unplaced = planning.spread(size, plans)
    assert sum(sum(d.chunks) for d in plans) + unplaced == size
    for drive in plans:
        assert all(0 < c <= drive.chunk_limit for c in drive.chunks)
        if drive.chunks:  # the reserve counts at most every chunk of the transfer
            assert sum(drive.chunks) + limits.reserve(len(drive.chunks)) + drive.block * len(drive.chunks) \
                <= drive.free


@settings(max_examples=300, deadline=None)
@given(size=st.integers(0, 10**12), drives=specs_strategy,
       requested=st.one_of(st.none(), st.integers(planning.MIN_CHUNK, 10**11)))
def test_at_once_never_holds_less_than_in_turn(size, drives, requested):
    specs = [(f"d{n}", fs, free, block) for n, (fs, free, block) in enumerate(drives)]
    shared = planning.plan_at_once(size, drive_plans(specs, requested), requested)
    if shared is not None:
        assert shared.unplaced <= planning.plan(size, specs, requested).unplaced
        assert sum(1 for d in shared.drives if d.chunks) >= 2

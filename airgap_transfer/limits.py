"""Largest single file each file system can hold, and the space pack keeps free.

Figures are the on-disk format's limits as Linux drivers implement them, with
the common defaults (4 KiB blocks).  An unknown file system gets the most
conservative figure, FAT32's, so a chunk is never too large for the medium.
"""

from __future__ import annotations

FAT32_MAX_FILE = 4 * 2**30 - 1          # 4 GiB − 1 byte: FAT's 32-bit size field
ISO9660_MAX_FILE = 4 * 2**30 - 1        # one extent; larger files need multi-extent support
EXT2_3_MAX_FILE = 2 * 2**40             # 2 TiB with 4 KiB blocks
EXT4_MAX_FILE = 16 * 2**40 - 4096       # 16 TiB with 4 KiB blocks (extent tree limit)
NTFS_MAX_FILE = 16 * 2**40 - 64 * 2**10  # 16 TiB − 64 KiB, the Windows implementation's limit
EXFAT_MAX_FILE = 2**64 - 1
UDF_MAX_FILE = 2**64 - 1
LARGE_MAX_FILE = 2**63 - 1              # xfs, btrfs, tmpfs, ...: beyond any medium

MAX_FILE_SIZE: dict[str, int] = {
    "vfat": FAT32_MAX_FILE, "fat": FAT32_MAX_FILE, "fat32": FAT32_MAX_FILE,
    "fat16": 2 * 2**30 - 1, "msdos": FAT32_MAX_FILE,
    "exfat": EXFAT_MAX_FILE,
    "ntfs": NTFS_MAX_FILE, "ntfs3": NTFS_MAX_FILE,
    "ext2": EXT2_3_MAX_FILE, "ext3": EXT2_3_MAX_FILE, "ext4": EXT4_MAX_FILE,
    "iso9660": ISO9660_MAX_FILE,
    "udf": UDF_MAX_FILE,
    "xfs": LARGE_MAX_FILE, "btrfs": LARGE_MAX_FILE, "tmpfs": LARGE_MAX_FILE,
    "f2fs": 4 * 2**40, "zfs": LARGE_MAX_FILE, "hfsplus": LARGE_MAX_FILE, "apfs": LARGE_MAX_FILE,
}

# Kept free on every drive for the index, signature, checksum files, RESTORE
# note and custody log, which are rewritten as the transfer proceeds.
RESERVE_BASE = 2 * 2**20
# Measured per chunk: ~270 B of index, ~95 B of B3SUMS, ~750 B of custody log;
# doubled while a file is rewritten under a temporary name.
RESERVE_PER_CHUNK = 4096
# Index entries are ~270 bytes; receivers accept a 64 MiB index.
MAX_TRANSFER_CHUNKS = 200_000


def max_file_size(fs_type: str | None) -> int:
    """The single-file limit for ``fs_type``; FAT32's when unknown."""
    if not fs_type:
        return FAT32_MAX_FILE
    return MAX_FILE_SIZE.get(fs_type.lower(), FAT32_MAX_FILE)


def reserve(chunks: int) -> int:
    """Bytes kept free on a drive holding ``chunks`` chunks."""
    return RESERVE_BASE + RESERVE_PER_CHUNK * chunks

# Parity (pack --parity N): at most this many drives' worth, and a stripe of
# data plus parity shards must fit the 256 elements of GF(2^8).
MAX_PARITY = 16
MAX_STRIPE_SHARDS = 256

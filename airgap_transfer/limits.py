"""Every cap the tool applies, defined once: what a drive may hold, and how much any parser reads.

Readers refuse what is over a cap with a one-line error (or stop listing), so
a crafted or damaged drive cannot exhaust memory or time.  Pack writes within
the same caps, so it never writes what unpack would refuse.  docs/FORMAT.md §10
lists them; a change here changes that table.
"""

from __future__ import annotations

import re

# File systems -----------------------------------------------------------------------------
# Largest single file each file system can hold, as Linux drivers implement the
# on-disk format with the common defaults (4 KiB blocks).  An unknown file
# system gets FAT32's figure, so a chunk is never too large for the medium.
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

# Space pack keeps free on every drive for the index, signature, checksum files,
# RESTORE note and custody log, which are rewritten as the transfer proceeds.
RESERVE_BASE = 2 * 2**20
# Measured per chunk: ~270 B of index, ~95 B of B3SUMS, ~750 B of custody log;
# doubled while a file is rewritten under a temporary name.
RESERVE_PER_CHUNK = 4096

# A transfer ---------------------------------------------------------------------------------
# Chunks in one transfer (and drives: a drive holds at least one chunk); chunk
# names have six-digit sequence numbers, far above it.
MAX_CHUNKS = 200_000
# Parity (pack --parity N): at most this many drives' worth, and a stripe of
# data plus parity shards must fit the 256 elements of GF(2^8).  A stripe holds
# at least one chunk, so there are at most MAX_CHUNKS stripes.
MAX_PARITY = 16
MAX_STRIPE_SHARDS = 256
MAX_DRIVES = MAX_CHUNKS + MAX_PARITY    # a data drive holds at least one chunk; then the parity drives
MAX_BUNDLE_SIZE = 2**60
# An index entry is ~270 bytes: MAX_CHUNKS of them fit.  With --sha256 and
# compression an entry is ~345 bytes and this cap binds first (~190,000
# chunks); pack then refuses to write the index (exit 2), as unpack would.
MAX_INDEX_BYTES = 64 * 2**20
MAX_NAME_CHARS = 255                    # the bundle's name, a chunk's file name
MAX_TEXT_CHARS = 1024                   # free-text index fields (tool, drive label, serial, ...)
MAX_NAME_BYTES = 200                    # a sanitized name: room for temp-name decorations under NAME_MAX
MAX_EXTENSION_BYTES = 16                # the extension a name cut to MAX_NAME_BYTES keeps (.bin, .tar.gz)
MAX_ORIGINAL_NAME_CHARS = 1024          # bundle.original_name: the sender's name, kept for the record only
MAX_ZSTD_WINDOW = 2**24                 # our frames use ≤ 2 MiB windows; a greedier frame is refused
MAX_PLANNED_DRIVES = 10_000             # --dry-run with --drive-size stops planning here

# Any msgpack document, and how deep it may nest.
MAX_DOCUMENT_BYTES = 16 * 2**20
MAX_DEPTH = 16
MAX_ARRAY_LEN = 2**20                   # above MAX_CHUNKS: the chunk list is the longest array
MAX_MAP_LEN = 2**16

# Signatures and keys (minisign files).
MAX_SIGNATURE_BYTES = 8192
MAX_KEY_FILE_BYTES = 4096
MAX_TRUSTED_KEYS = 1000
# An encrypted secret key names its own scrypt limits: a hostile one must not
# make us allocate more than 2 GiB (minisign's own keys ask 1 GiB).
MAX_SCRYPT_OPSLIMIT = 2**32 - 1
MAX_SCRYPT_MEMLIMIT = 2 * 2**30
MAX_PASSPHRASE_FILE_BYTES = 4096        # AIRGAP_TRANSFER_PASSPHRASE_FILE: only its first line is used
MAX_PASSPHRASE_CHARS = 1024

# Members of a folder bundle (engine/unpack/tarcheck.py) -----------------------------------------
MAX_MEMBER_NAME_CHARS = 1024            # well under PATH_MAX (4096) even below a deep output folder
MAX_MEMBER_COMPONENT_BYTES = 255        # NAME_MAX

# What discovery and the source walk read -----------------------------------------------------
MAX_ENTRIES_PER_DIR = MAX_CHUNKS + 50_000   # a full transfer folder, plus the files beside its chunks
MAX_ENTRIES_TOTAL = 1_000_000               # a drive crafted with huge folder trees cannot stall discovery
MAX_SOURCE_ENTRIES = 5_000_000              # files and folders in a packed directory

# Custody log ---------------------------------------------------------------------------------
MAX_LOG_BYTES = 16 * 2**20
MAX_LINE_BYTES = 64 * 2**10
MAX_EVENTS = 100_000
MAX_HEAD_BYTES = 4096
MAX_FIELD_CHARS = 256                   # a media-identity or actor field
MAX_HEADS_BYTES = 2**20                 # custody.heads: every head signed for one drive's copy
MAX_HEADS = 2000
MAX_EVENT_CHUNKS = 250_000              # chunk numbers in one custody event
MAX_EVENT_DRIVES = 1000                 # media maps in one custody event
MAX_DETAILS_DEPTH = 8                   # nesting inside a custody event's ``details``
MAX_NAMES_IN_PROGRESS_EVENT = 16        # names listed in one progress event (--json line); the rest counted

# Local state ---------------------------------------------------------------------------------
MAX_JOURNAL_BYTES = 256 * 2**20
MAX_JOURNALS_SCANNED = 1000
MAX_REPLAY_RECORD_BYTES = 64 * 2**20    # the accepted-transfers record
MAX_REPLAY_LINE_CHARS = 8192
MAX_LOCK_HOLDER_BYTES = 4096            # who holds a journal's lock (pid, start, command), for the refusal
# Room the state folder must have before pack or unpack starts: a journal line and a custody
# event per chunk (~1 kB each, doubled while a file is rewritten) and the fixed files.
STATE_BYTES_PER_CHUNK = 2048
STATE_BYTES_FIXED = 4 * 2**20

# Operator input and peer tools ---------------------------------------------------------------
MAX_SIZE_ARGUMENT = 2**62               # --chunk-size, --drive-size: far beyond any medium, exact arithmetic
MAX_RECORD_BYTES = 4 * 2**20            # an installed distribution's RECORD, read by bootstrap
MAX_TYPED_LINE = 4096                   # a mount path typed while pack or unpack waits
MAX_TOOL_OUTPUT = 64 * 1024             # lsblk, blkid and the like

# Shapes every parser accepts (always with fullmatch: ``^...$`` lets a trailing newline through) ----
TRANSFER_ID_RE = re.compile(r"[0-9a-f]{32}")
HEX256_RE = re.compile(r"[0-9a-f]{64}")


def max_file_size(fs_type: str | None) -> int:
    """The single-file limit for ``fs_type``; FAT32's when unknown."""
    if not fs_type:
        return FAT32_MAX_FILE
    return MAX_FILE_SIZE.get(fs_type.lower(), FAT32_MAX_FILE)


def reserve(chunks: int) -> int:
    """Bytes kept free on a drive holding ``chunks`` chunks."""
    return RESERVE_BASE + RESERVE_PER_CHUNK * chunks

# Custody events that concern many chunks stay bounded (custody/chunk_sets.py):
# the first CUSTODY_SINGLE_CHUNK_EVENTS chunks of a run get an event each,
# later ones one event per CUSTODY_CHUNK_GROUP chunks of a drive; an event
# lists chunk numbers while they are at most CUSTODY_CHUNK_LIST, else names
# them as at most CUSTODY_MAX_RANGES ranges.  At 200,000 chunks the log then
# holds about 1,200 events, its longest line about 20 KiB (the caps are 64 KiB
# a line and 100,000 events, custody/chain.py).
CUSTODY_SINGLE_CHUNK_EVENTS = 1000
CUSTODY_CHUNK_GROUP = 1000
CUSTODY_CHUNK_LIST = 1000
CUSTODY_MAX_RANGES = 1000

# Encryption at rest (age, docs/FORMAT.md §13) ------------------------------------------------
MAX_AGE_HEADER_BYTES = 64 * 2**10       # an age file's header: read and kept at most this far
MAX_AGE_STANZAS = 1024                  # recipient stanzas in one age header
MAX_SCRYPT_WORK_FACTOR = 22             # age's own cap: a header cannot make scrypt run for minutes
MAX_AGE_KEY_FILE_BYTES = 2**20          # an age identity file or recipients file
MAX_AGE_KEYS_PER_FILE = 1024            # keys in one such file
MAX_BECH32_CHARS = 1024                 # one key string
MAX_RECIPIENTS = 64                     # recipient stanzas per chunk (the index's count)
MAX_IDENTITY_AGE_BYTES = 4096           # identity.age: an scrypt age file of one identity (~300 bytes)
MAX_PASSPHRASE_FILE_BYTES = 64 * 2**10  # $AIRGAP_TRANSFER_PASSPHRASE_FILE: read this far, first line used

"""The FAT32 boot sector (BPB) and FSInfo sector, read and checked.

Only FAT32 is accepted: Raspberry Pi OS, Ubuntu for Pi and every image made
by mkfs.fat -F 32 use it; a FAT12/16 boot partition is refused with a line
saying so, never written with the wrong rules.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from images.fat.entries import MalformedFat

FSINFO_LEAD, FSINFO_STRUCT, FSINFO_TRAIL = 0x41615252, 0x61417272, 0xAA550000
MIN_FAT32_CLUSTERS = 65525
MAX_FAT32_CLUSTERS = 0x0FFFFFF5 - 2


@dataclass(frozen=True)
class Geometry:
    """Where things are in a FAT32 file system, in bytes from its first byte."""

    sector_size: int
    """Bytes per sector."""
    cluster_size: int
    """Bytes per cluster."""
    fat_offset: int
    """Offset of the first FAT."""
    fat_size: int
    """Bytes of one FAT."""
    fat_count: int
    """Number of FATs (usually 2)."""
    active_fat: int | None
    """The only FAT in use when mirroring is off; None when every copy is kept equal."""
    data_offset: int
    """Offset of cluster 2."""
    cluster_count: int
    """Data clusters; valid cluster numbers are 2..cluster_count+1."""
    root_cluster: int
    """First cluster of the root directory."""
    fsinfo_offset: int | None
    """Offset of the FSInfo sector, None when absent or invalid."""
    total_size: int
    """Bytes the file system claims (total sectors times sector size)."""
    label: str
    """Volume label from the boot sector."""

    def cluster_offset(self, cluster: int) -> int:
        """Offset of a data cluster (cluster >= 2)."""
        return self.data_offset + (cluster - 2) * self.cluster_size

    @property
    def max_cluster(self) -> int:
        """Highest valid cluster number."""
        return self.cluster_count + 1


def parse_boot_sector(sector: bytes, region_size: int) -> Geometry:
    """The geometry of the FAT32 file system whose first 512 bytes are `sector`."""
    if len(sector) < 512 or sector[510:512] != b"\x55\xaa":
        raise MalformedFat("not a FAT file system: the boot sector lacks the 0x55AA signature")
    (bytes_per_sector, sectors_per_cluster, reserved, fat_count, root_entries, total16, _media,
     fat16_size) = struct.unpack_from("<HBHBHHBH", sector, 11)
    total32, fat32_size, ext_flags, version, root_cluster, fsinfo_sector = struct.unpack_from("<IIHHIH", sector, 32)
    if bytes_per_sector not in (512, 1024, 2048, 4096):
        raise MalformedFat(f"not a FAT file system: {bytes_per_sector} bytes per sector")
    if sectors_per_cluster not in (1, 2, 4, 8, 16, 32, 64, 128):
        raise MalformedFat(f"not a FAT file system: {sectors_per_cluster} sectors per cluster")
    if reserved == 0 or fat_count == 0 or fat_count > 4:
        raise MalformedFat("not a FAT file system: no reserved sectors or a bad FAT count")
    if fat16_size != 0 or root_entries != 0 or fat32_size == 0:
        raise MalformedFat(
            "the boot partition is FAT12/FAT16, not FAT32; only FAT32 boot partitions "
            "(as in Raspberry Pi OS) are supported"
        )
    if version != 0:
        raise MalformedFat(f"FAT32 version {version >> 8}.{version & 0xFF} is unknown")
    total = total32 if total16 == 0 else total16
    cluster_size = bytes_per_sector * sectors_per_cluster
    fat_offset = reserved * bytes_per_sector
    fat_size = fat32_size * bytes_per_sector
    data_offset = fat_offset + fat_count * fat_size
    total_size = total * bytes_per_sector
    if total_size > region_size:
        raise MalformedFat(
            f"the FAT file system claims {total_size} bytes but its partition has {region_size}"
        )
    if data_offset >= total_size:
        raise MalformedFat("the FATs leave no room for data (bad FAT size or sector count)")
    cluster_count = (total_size - data_offset) // cluster_size
    if cluster_count < MIN_FAT32_CLUSTERS:
        raise MalformedFat(
            f"the boot partition has {cluster_count} clusters, too few for FAT32 (FAT16 by the "
            "specification's rule); only FAT32 boot partitions are supported"
        )
    if cluster_count > MAX_FAT32_CLUSTERS or (cluster_count + 2) * 4 > fat_size:
        raise MalformedFat(f"the FAT ({fat_size} bytes) is too small for {cluster_count} clusters")
    if not 2 <= root_cluster <= cluster_count + 1:
        raise MalformedFat(f"the root directory starts at cluster {root_cluster}, outside the data area")
    fsinfo_offset = fsinfo_sector * bytes_per_sector if 0 < fsinfo_sector < reserved else None
    active = ext_flags & 0x0F if ext_flags & 0x80 else None
    if active is not None and active >= fat_count:
        raise MalformedFat(f"the active FAT is {active} but there are {fat_count}")
    label = sector[71:82].decode("cp437").rstrip()
    return Geometry(bytes_per_sector, cluster_size, fat_offset, fat_size, fat_count, active,
                    data_offset, cluster_count, root_cluster, fsinfo_offset, total_size, label)


def fsinfo_valid(sector: bytes) -> bool:
    """True when `sector` carries the three FSInfo signatures."""
    lead, = struct.unpack_from("<I", sector, 0)
    mid, = struct.unpack_from("<I", sector, 484)
    trail, = struct.unpack_from("<I", sector, 508)
    return (lead, mid, trail) == (FSINFO_LEAD, FSINFO_STRUCT, FSINFO_TRAIL)


def with_free_counts(sector: bytes, free: int, next_free: int) -> bytes:
    """The FSInfo sector with its free-cluster count and next-free hint replaced."""
    out = bytearray(sector)
    struct.pack_into("<II", out, 488, free, next_free)
    return bytes(out)

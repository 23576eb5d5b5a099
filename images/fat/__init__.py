"""FAT32 written without mounting: the boot partition of a Pi card image, read and changed in place.

    with FatVolume(FileRegion(fd, boot.start, boot.size), now) as fat:
        fat.write_file("user-data", b"#cloud-config\\n...")

Written here rather than taken from a library: pyfatfs 1.1.0 (the one pure-Python FAT
writer on PyPI) leaves FSInfo's free count stale, so `fsck.fat -n` flags every image it
writes, shows lower-case short names in upper case, and depends on PyFilesystem2, which
is no longer maintained. This package does only what the images need, checked on every
step against crafted input (see images/fat/volume.py).
"""

from images.fat.entries import DirEntry, MalformedFat
from images.fat.volume import FatVolume

__all__ = ["DirEntry", "FatVolume", "MalformedFat"]

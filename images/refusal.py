"""Which devices `appliance flash` writes: pure rules over `DeviceFacts`.

Never, whatever the flags: something that is not a block device, a
partition (the whole card is written), the disk holding `/`, a disk with any
mounted partition (or anything mounted on top of it), a read-only disk, a
disk smaller than the image. Only with `--allow-non-removable`: a disk that
sysfs does not call removable (loop devices, internal disks); SD cards in USB
readers and mmc slots are removable.
"""

from __future__ import annotations

from dataclasses import dataclass

from images.devices import DeviceFacts


@dataclass(frozen=True)
class Verdict:
    """Whether a device may be written, and why not."""

    ok: bool
    """True when it may be written."""
    reasons: tuple[str, ...]
    """Each refusal, one line with the fix; empty when ok."""


def _size(value: int) -> str:
    return f"{value / 1e9:.1f} GB" if value >= 1e9 else f"{value / 1e6:.0f} MB"


def judge(device: DeviceFacts, image_size: int, allow_non_removable: bool = False) -> Verdict:
    """May `device` receive an image of `image_size` bytes?"""
    where = device.path
    if not device.is_block:
        return Verdict(False, (f"{where} is not a block device; name the card's disk, e.g. /dev/sdb or /dev/mmcblk0",))
    if device.is_partition:
        return Verdict(False, (f"{where} is a partition; name the whole card (its disk), not {device.name}",))
    reasons: list[str] = []
    if device.holds_root:
        reasons.append(f"{where} holds this machine's root file system (/); it is never written")
    elif device.mounted:
        reasons.append(f"{where} has mounted file systems ({', '.join(device.mounted)}); unmount them first "
                       f"(umount {' '.join(device.mounted)})")
    if device.read_only:
        reasons.append(f"{where} is read-only (the card's lock switch?); unlock it and retry")
    if device.size < image_size:
        reasons.append(f"{where} is {_size(device.size)}, smaller than the {_size(image_size)} image; use a larger card")
    if not device.removable and not allow_non_removable and not device.holds_root:
        kind = "a loop device" if device.loop else "not a removable disk"
        reasons.append(f"{where} is {kind}; pass --allow-non-removable if you really mean it")
    return Verdict(not reasons, tuple(reasons))

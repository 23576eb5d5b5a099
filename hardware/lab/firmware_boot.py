"""One boot of a lab board, the firmware's part: run by `board_launch.sh` before it starts systemd.

    python -m hardware.lab.firmware_boot --root ROOT --kernel-dir DIR --board NAME --cgroup CG
                                         [--card IMAGE --boot-offset BYTES]

1. First boot: when the board's disk has no `/boot/firmware/cmdline.txt`, give it one. A
   board booted from a card gets the card's FAT boot partition copied in with mtools (this
   kernel has no vfat driver); any other board gets Pi OS trixie's stock cmdline.txt and
   config.txt. Later edits of those files stay on the board's disk (the card's FAT
   partition itself is never written), which is where the lab's firmware reads them at
   every boot, so editing cmdline.txt and rebooting works as on a Pi.
2. Every boot: read cmdline.txt and rpi-swap's settings from the board's disk, and write the
   emulated kernel files into DIR (see `hardware.lab.firmware`): `cmdline`, `init-args` (one
   argument per line, for PID 1), `cgroup.controllers`, `cgroups`, `swaps`, `kernel.json`.

The board's disk is outside input: paths are walked without following symbolic links, so a
link on a disk can never make the host read or write its own files.
"""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
from pathlib import Path

from hardware.cmdline import split_args
from hardware.lab import firmware

MAX_READ = 64 * 1024
"""More than any boot file needs; a bigger file is read only this far."""


class UnsafePath(Exception):
    """A path on the board's disk that goes through a symbolic link or is not what it should be."""


def _open_inside(root: Path, relative: str, flags: int, mode: int = 0o644) -> int:
    """Open ROOT/relative with no symbolic link followed anywhere below ROOT."""
    parts = [p for p in relative.split("/") if p]
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        return os.open(parts[-1], flags | os.O_NOFOLLOW, mode, dir_fd=fd)
    except OSError as error:
        if error.errno in (40, 20):  # ELOOP (a link), ENOTDIR (a link or a file on the way)
            raise UnsafePath(f"/{relative} goes through a symbolic link or a file") from None
        raise
    finally:
        os.close(fd)


def read_inside(root: Path, relative: str) -> bytes | None:
    """The first MAX_READ bytes of a regular file in the board, or None when it is absent."""
    try:
        fd = _open_inside(root, relative, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise UnsafePath(f"/{relative} is not a regular file")
        return f.read(MAX_READ)


def write_inside(root: Path, relative: str, content: str) -> None:
    """Create a file in the board (refusing links on the way); used for the first boot's boot files."""
    fd = _open_inside(root, relative, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w") as f:
        f.write(content)


def _is_plain_dir(root: Path, relative: str) -> bool:
    try:
        fd = _open_inside(root, relative, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return False
    os.close(fd)
    return True


def swap_settings(root: Path) -> dict[str, str] | None:
    """rpi-swap's settings from the board (swap.conf, then drop-ins by name); None without rpi-swap."""
    main = read_inside(root, "etc/rpi/swap.conf")
    if main is None:
        return None
    texts = [main.decode("utf-8", "replace")]
    dropins: dict[str, str] = {}
    for directory in ("usr/lib/rpi/swap.conf.d", "etc/rpi/swap.conf.d"):  # /etc overrides /usr/lib
        if not _is_plain_dir(root, directory):
            continue
        for entry in sorted(os.listdir(root / directory)):
            if entry.endswith(".conf"):
                data = read_inside(root, f"{directory}/{entry}")
                if data is not None:
                    dropins[entry] = data.decode("utf-8", "replace")
    texts += [dropins[name] for name in sorted(dropins)]
    return firmware.read_swap_settings(texts)


def first_boot(root: Path, board: str, card: Path | None, boot_offset: int) -> str:
    """Give a new board its /boot/firmware; return what was done (for the console)."""
    if not _is_plain_dir(root, "boot/firmware"):
        if not _is_plain_dir(root, "boot"):
            raise UnsafePath("/boot is missing or not a directory")
        os.mkdir(root / "boot" / "firmware", 0o755)
    if read_inside(root, "boot/firmware/cmdline.txt") is not None:
        return ""
    if card is not None:
        # mcopy writes through the path it is given; the checks above made sure that
        # boot/firmware is a real directory of the board, not a link out of it.
        subprocess.run(["mcopy", "-s", "-n", "-p", "-m", "-i", f"{card}@@{boot_offset}", "::/*",
                        str(root / "boot" / "firmware") + "/"], check=True, stdin=subprocess.DEVNULL,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MTOOLS_SKIP_CHECK": "1"})
        return f"copied the boot partition of {card.name} into /boot/firmware"
    write_inside(root, "boot/firmware/cmdline.txt", firmware.stock_cmdline_txt(board))
    write_inside(root, "boot/firmware/config.txt", firmware.STOCK_CONFIG_TXT)
    return "wrote Pi OS's stock /boot/firmware/cmdline.txt and config.txt"


def write_kernel_files(directory: Path, view: firmware.KernelView, real_controllers: str,
                       real_cgroups: str) -> None:
    """The files board_launch.sh binds over /proc and /sys in the board."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "cmdline": view.cmdline + "\n",
        "init-args": "".join(arg + "\n" for arg in split_args(view.cmdline)),
        "cgroup.controllers": firmware.cgroup_controllers(real_controllers, view.memory_cgroup),
        "cgroups": firmware.proc_cgroups(real_cgroups, view.memory_cgroup),
        "swaps": firmware.proc_swaps(view.swaps),
        "kernel.json": view.to_json() + "\n",
    }
    for name, content in files.items():
        # Written in place (never replaced): a bind mount follows the inode, not the name.
        with open(directory / name, "w") as f:
            f.write(content)


def main(argv: list[str] | None = None) -> int:
    """Run the firmware's part of one boot; exit 1 with one line when the board cannot boot."""
    parser = argparse.ArgumentParser(prog="hardware.lab.firmware_boot")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--kernel-dir", type=Path, required=True)
    parser.add_argument("--board", required=True)
    parser.add_argument("--cgroup", type=Path, required=True)
    parser.add_argument("--card", type=Path)
    parser.add_argument("--boot-offset", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        done = first_boot(args.root, args.board, args.card, args.boot_offset)
        cmdline_txt = read_inside(args.root, "boot/firmware/cmdline.txt")
        view = firmware.kernel_view(cmdline_txt, swap_settings(args.root))
    except (UnsafePath, OSError, subprocess.CalledProcessError) as error:
        print(f"pilab firmware: {args.board} cannot boot: {error}", file=sys.stderr)
        return 1
    real_controllers = (args.cgroup / "cgroup.controllers").read_text()
    write_kernel_files(args.kernel_dir, view, real_controllers, Path("/proc/cgroups").read_text())
    if done:
        print(f"pilab firmware: {done}")
    print(f"pilab firmware: kernel command line: {view.cmdline}")
    print(f"pilab firmware: memory cgroup {'enabled' if view.memory_cgroup else 'disabled'}; "
          f"swap {', '.join(a.split()[0] for a in view.swaps) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Boot configuration of a node in one place: which files, and what to change in them.

The pieces live in `hardware.cmdline` (kernel command line),
`hardware.configtxt` (config.txt) and `hardware.swap`; this module composes
them into the plan provisioning and image building apply: given the current
text of the boot files, the new text of each (or no edit when it is right).
"""

from __future__ import annotations

from collections.abc import Mapping

from hardware.cmdline import choose_boot_file, enable_memory_cgroup
from hardware.configtxt import prepare_config
from hardware.swap import FileEdit


def plan_boot_files(contents: Mapping[str, str | None], role: str) -> tuple[FileEdit, ...]:
    """Edits for cmdline.txt and config.txt, given what /boot and /boot/firmware hold.

    `contents` maps each of /boot/firmware/{cmdline,config}.txt and
    /boot/{cmdline,config}.txt to its text, or None when absent. Files already
    right produce no edit, so running the plan twice changes nothing.
    """
    if role not in ("master", "worker"):
        raise ValueError(f"role must be master or worker, not {role!r}")
    edits: list[FileEdit] = []
    cmdline_path = choose_boot_file(contents, "cmdline.txt")
    cmdline = contents[cmdline_path]
    assert cmdline is not None  # choose_boot_file only returns a present file
    new_cmdline = enable_memory_cgroup(cmdline, cmdline_path)
    if new_cmdline != cmdline:
        edits.append(FileEdit(cmdline_path, new_cmdline))
    config_path = choose_boot_file(contents, "config.txt")
    config = contents[config_path]
    assert config is not None
    new_config = prepare_config(config, role, config_path)
    if new_config != config:
        edits.append(FileEdit(config_path, new_config))
    return tuple(edits)

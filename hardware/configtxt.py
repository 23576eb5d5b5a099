"""`config.txt` edits as pure functions over file text.

config.txt is read top to bottom; `[pi4]`, `[cm5]`, `[none]`... start
conditional sections, `[all]` ends them, and lines before the first header
apply to every board. For a single-valued setting the last matching line
wins, so a setting for every board is correct only if no later line for any
board overrides it. Multi-valued lines (`dtoverlay=`, `dtparam=`) just have
to be present in the right section.

Edits append: at the end of the file when it already ends in the target
section, otherwise after a fresh `[section]` header (and an `[all]` to close a
conditional one, as the stock file does). Lines are kept byte for byte; the
text is returned unchanged when nothing needs doing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hardware.cmdline import FIRMWARE_CONFIG, BootFileError

_HEADER = re.compile(r"^\s*\[([^\]]*)\]\s*$")


@dataclass(frozen=True)
class ConfigLine:
    """One line of config.txt with the section it sits in."""

    section: str
    """Lower-cased filter name of the enclosing section ("all" before any header)."""
    text: str
    """The line without its line ending, stripped of surrounding blanks."""


def parse_config(text: str, where: str = FIRMWARE_CONFIG) -> list[ConfigLine]:
    """Every line with its section; comments and blank lines included."""
    if "\0" in text:
        raise BootFileError(f"{where} contains NUL bytes; restore it from a fresh Raspberry Pi OS image")
    section = "all"
    lines: list[ConfigLine] = []
    # Only \n (and \r\n) end a line for the firmware; str.splitlines would also split on \f etc.
    for raw in re.split(r"\r?\n", text):
        header = _HEADER.match(raw)
        if header:
            section = header.group(1).strip().lower()
        lines.append(ConfigLine(section, raw.strip()))
    return lines


def _current_section(lines: list[ConfigLine]) -> str:
    return lines[-1].section if lines else "all"


def _append(text: str, section: str, new_line: str, lines: list[ConfigLine]) -> str:
    newline = "\r\n" if "\r\n" in text else "\n"
    out = text
    if out and not out.endswith("\n"):
        out += newline
    if _current_section(lines) == section:
        return out + new_line + newline
    block = [f"[{section}]", new_line]
    if section != "all":
        block.append("[all]")
    return out + newline.join(block) + newline


def effective_value(text: str, key: str, where: str = FIRMWARE_CONFIG) -> str | None:
    """The value every board ends up with for `key`, or None if unset or board-dependent."""
    value: str | None = None
    for line in parse_config(text, where):
        name, sep, rest = line.text.partition("=")
        if sep and name.strip() == key and not line.text.startswith("#"):
            value = rest.strip() if line.section == "all" else None
    return value


def set_value(text: str, key: str, value: str, where: str = FIRMWARE_CONFIG) -> str:
    """Make `key=value` hold for every board (e.g. arm_64bit=1); unchanged text if it already does."""
    if effective_value(text, key, where) == value:
        return text
    return _append(text, "all", f"{key}={value}", parse_config(text, where))


def add_line(text: str, line: str, section: str = "all", where: str = FIRMWARE_CONFIG) -> str:
    """Make sure `line` (e.g. dtoverlay=disable-wifi) is present in `section`; idempotent."""
    section = section.lower()
    lines = parse_config(text, where)
    if any(item.section == section and item.text == line for item in lines):
        return text
    return _append(text, section, line, lines)


WORKER_RADIOS_OFF = ("dtoverlay=disable-wifi", "dtoverlay=disable-bt")
"""Workers talk over Ethernet only; switching the radios off saves power and attack surface."""


def prepare_config(text: str, role: str, where: str = FIRMWARE_CONFIG) -> str:
    """config.txt for a cluster node: 64-bit kernel everywhere; radios off on workers."""
    result = set_value(text, "arm_64bit", "1", where)
    if role == "worker":
        for overlay in WORKER_RADIOS_OFF:
            result = add_line(result, overlay, "all", where)
    return result

"""One round trip for every fact: a small shell script that prints labelled sections.

Each fact area declares `Section`s (a name and a read-only shell snippet); the
runner joins them into one script, runs it once as root over the connection,
and splits the output back into {section name: text}. One exec instead of one
per fact is what makes a re-run on a provisioned node cost a few tens of
milliseconds (Ansible uploads and starts Python for every task).

Sections are separated by a line `BOUNDARY name`, where BOUNDARY is random for
every run, so no file content a node holds can forge or end a section.
"""

from __future__ import annotations

import re
import secrets
import shlex
from dataclasses import dataclass

_NAME = re.compile(r"^[a-z0-9_.:/-]+$")

PRELUDE = """\
s() { printf '\\n%s %s\\n' "$B" "$1"; }
f() { s "$1"; if [ -f "$2" ]; then echo Y; cat -- "$2"; else echo N; fi; }
h() { s "$1"; if [ -f "$2" ]; then sha256sum < "$2" | cut -d' ' -f1; fi; }
e() { s "$1"; if [ -e "$2" ]; then echo Y; else echo N; fi; }
"""
"""Helpers: s NAME starts a section; f NAME PATH prints Y + content or N; h NAME PATH prints the
sha256 (nothing when missing); e NAME PATH prints Y or N for existence."""


@dataclass(frozen=True)
class Section:
    """One fact read: a name and the shell line that prints it."""

    name: str
    """Unique name, [a-z0-9_.:/-]."""
    line: str
    """Shell line; it must start the section itself (use the helpers of PRELUDE)."""


def command(name: str, shell: str) -> Section:
    """A section holding the stdout of `shell` (stderr dropped, failures tolerated)."""
    return Section(name, f"s {name}; {{ {shell} ; }} 2>/dev/null")


def file(name: str, path: str) -> Section:
    """A section holding `Y` and the file's text, or `N` when it is missing."""
    return Section(name, f"f {name} {shlex.quote(path)}")


def digest(name: str, path: str) -> Section:
    """A section holding the file's sha256 hex, or nothing when it is missing."""
    return Section(name, f"h {name} {shlex.quote(path)}")


def exists(name: str, path: str) -> Section:
    """A section holding `Y` when the path exists, else `N`."""
    return Section(name, f"e {name} {shlex.quote(path)}")


def new_boundary() -> str:
    """A fresh random section separator."""
    return "@@facts-" + secrets.token_hex(12)


def build_script(sections: tuple[Section, ...], boundary: str) -> str:
    """The whole script: the helpers, then every section in order."""
    names = [section.name for section in sections]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate fact sections: {sorted({n for n in names if names.count(n) > 1})}")
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"bad fact section name {name!r}")
    body = "\n".join(section.line for section in sections)
    return f"B={shlex.quote(boundary)}\n{PRELUDE}{body}\n"


def split_output(text: str, boundary: str) -> dict[str, str]:
    """{section: its text} from the script's output; text outside sections is ignored."""
    found: dict[str, str] = {}
    for part in text.split(f"\n{boundary} ")[1:]:
        name, _, content = part.partition("\n")
        if _NAME.match(name) and name not in found:
            found[name] = content
    return found


def file_text(raw: str | None) -> str | None:
    """The text of an `f` section (None: the file is missing or the section did not come back)."""
    if raw is None or not raw.startswith("Y\n") and raw != "Y":
        return None
    return raw[2:]


def flag(raw: str | None) -> bool:
    """An `e` section as a bool."""
    return raw is not None and raw.strip() == "Y"


def sha256_of(raw: str | None) -> str | None:
    """An `h` section: the hex digest, or None when missing or malformed."""
    value = (raw or "").strip()
    return value if re.fullmatch(r"[0-9a-f]{64}", value) else None

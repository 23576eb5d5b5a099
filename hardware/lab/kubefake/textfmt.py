"""Go's text habits that Kubernetes output depends on: durations, RFC 3339, tabwriter, JSON.

Pure functions; each follows the Go code named in its docstring so that the
fake prints byte for byte what the real tools print.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta


def rfc3339(moment: datetime) -> str:
    """Go's time.RFC3339 of a UTC time: `2006-01-02T15:04:05Z` (whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 time (Z or an offset) to an aware UTC datetime; ValueError if bad."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no zone")
    return value.astimezone(UTC)


def _seconds(delta: timedelta) -> int:
    # Go's int(d.Seconds()) truncates toward zero.
    return int(delta.total_seconds())


def short_human_duration(delta: timedelta) -> str:
    """apimachinery duration.ShortHumanDuration (used by `kubeadm token list`'s TTL)."""
    seconds = _seconds(delta)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60:
        return f"{seconds}s"
    if seconds // 60 < 60:
        return f"{seconds // 60}m"
    hours = seconds // 3600
    if hours < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def human_duration(delta: timedelta) -> str:
    """apimachinery duration.HumanDuration (the AGE column of kubectl)."""
    seconds = _seconds(delta)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if rest == 0 else f"{hours // 24 // 365}y{rest}d"
    return f"{hours // 24 // 365}y"


def tabwrite(rows: list[list[str]], *, minwidth: int, padding: int) -> str:
    """Go's text/tabwriter with tab-terminated cells and the last cell of a line left free.

    Every row here has the same number of cells, so each column is one block:
    width = max(minwidth, widest cell + padding), padded with spaces.
    """
    columns = max((len(r) for r in rows), default=0) - 1
    widths = [minwidth] * max(columns, 0)
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell) + padding)
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("".join(cells) + (row[-1] if row else ""))
    return "".join(line + "\n" for line in lines)


def go_json(value: object, indent: int | None = None) -> str:
    """encoding/json's output: UTF-8 kept, `<>&` and U+2028/9 escaped as Go does."""
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(value, ensure_ascii=False, indent=indent, separators=separators)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text

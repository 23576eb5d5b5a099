"""QuietWarning: at most N lines per window, the rest counted and reported with the next line."""

from __future__ import annotations

import logging

import pytest

from netd.quiet_log import QuietWarning

log = logging.getLogger("test.quiet")


def test_lines_per_window_and_the_held_back_count(caplog: pytest.LogCaptureFixture) -> None:
    quiet = QuietWarning(log, lines=3, window=10.0)
    with caplog.at_level(logging.WARNING, logger="test.quiet"):
        logged = [quiet.warn(1.0 + n / 100, "pool %s exhausted", "A") for n in range(50)]
        assert logged == [True] * 3 + [False] * 47
        assert [r.getMessage() for r in caplog.records] == ["pool A exhausted"] * 3
        assert quiet.warn(11.0, "pool %s exhausted", "B")  # a new window
        assert caplog.records[-1].getMessage() == \
            "pool B exhausted (and 47 more like it held back since the last such line)"
        assert quiet.warn(11.5, "pool %s exhausted", "C")  # the count was reported once
        assert caplog.records[-1].getMessage() == "pool C exhausted"


def test_a_quiet_stretch_starts_a_fresh_window(caplog: pytest.LogCaptureFixture) -> None:
    quiet = QuietWarning(log, lines=1, window=60.0)
    with caplog.at_level(logging.WARNING, logger="test.quiet"):
        assert quiet.warn(0.0, "one")
        assert not quiet.warn(59.9, "two")
        assert quiet.warn(60.0, "three")
        assert not quiet.warn(100.0, "four")
        assert quiet.warn(1000.0, "five")
        assert [r.getMessage() for r in caplog.records] == [
            "one",
            "three (and 1 more like it held back since the last such line)",
            "five (and 1 more like it held back since the last such line)",
        ]

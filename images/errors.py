"""Errors of image building and flashing: each is one line saying what, where, and the fix."""

from __future__ import annotations

from foundation.errors import ApplianceError


class ImageError(ApplianceError, ValueError):
    """A base image (or card image) the appliance cannot use: corrupt, truncated, unknown layout, 32-bit."""

    exit_code = 2


class BuildFailed(ApplianceError, RuntimeError):
    """Building the card images failed for a reason outside the input (no space, a tool failed)."""


class FlashRefused(ApplianceError, ValueError):
    """A device the flasher will not write: not removable, holds /, mounted, too small."""

    exit_code = 2


class FlashFailed(ApplianceError, RuntimeError):
    """Writing or verifying a card failed (short write, I/O error, read-back mismatch)."""

"""`appliance flash`: check every device first, then write the cards one by one, each its own.

All devices are judged before the first byte is written, so one bad name never
leaves half of a batch done. Each card then gets fresh host keys, its own
instance-id and (a master card) the current cards.pub; after its read-back
matches, its public keys are appended to DIR/cards.pub, the list the master
uses to pin the boards it provisions.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from images.devices import SYS, DeviceFacts, gather
from images.errors import FlashRefused, ImageError
from images.flash import FlashResult, Progress, write_card
from images.personalize import (
    CardImage,
    card_key_lines,
    check_label,
    make_host_keys,
    next_labels,
    open_card_image,
    personalise,
)
from images.refusal import judge

CARDS_PUB_NAME = "cards.pub"


@dataclass(frozen=True)
class CardPlan:
    """One device to write and the name its card gets."""

    device: DeviceFacts
    """The device's facts (already judged writable)."""
    label: str
    """The card's name."""


@dataclass(frozen=True)
class CardReport:
    """One written card."""

    label: str
    """The card's name."""
    result: FlashResult
    """Bytes, hash and times of the write and the read-back."""
    key_lines: tuple[str, ...]
    """Lines appended to cards.pub."""
    cards_carried: int | None
    """For a master card: how many card keys it carries."""


def cards_pub_path(image: Path) -> Path:
    """DIR/cards.pub beside the image."""
    return image.parent / CARDS_PUB_NAME


def read_cards_pub(path: Path) -> str:
    """The current cards.pub, empty when there is none yet."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def plan_cards(image: CardImage, devices: list[str], names: list[str], allow_non_removable: bool,
               cards_pub: str, sys_root: Path = SYS, mountinfo: str | None = None) -> list[CardPlan]:
    """Judge every device and name every card; FlashRefused listing every refusal."""
    if len(set(devices)) != len(devices):
        raise FlashRefused("the same device is named twice; name each card once")
    if names and len(names) != len(devices):
        raise FlashRefused(f"{len(names)} --name for {len(devices)} devices; give one --name per device, or none")
    if image.role == "master" and len(devices) > 1:
        raise FlashRefused("a master image goes on one card; flash worker.img to the other cards")
    facts = [gather(device, sys_root, mountinfo) for device in devices]
    reasons = [reason for fact in facts for reason in judge(fact, image.size, allow_non_removable).reasons]
    real = [os.path.realpath(device) for device in devices]
    if len(set(real)) != len(real):
        reasons.append("two of the names are the same device; name each card once")
    if reasons:
        raise FlashRefused("\n".join(reasons))
    if names:
        labels = [check_label(name) for name in names]
    elif image.role == "master":
        labels = ["master"]
    else:
        labels = next_labels(cards_pub, len(devices))
    return [CardPlan(fact, label) for fact, label in zip(facts, labels, strict=True)]


def _append_keys(path: Path, lines: list[str]) -> None:
    """Append to cards.pub durably (the master trusts only what is in it)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, ("\n".join(lines) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _labelled(progress: Callable[[str, str, int, int], None], label: str) -> Progress:
    def report(phase: str, done: int, total: int) -> None:
        progress(label, phase, done, total)

    return report


def flash_cards(image_path: Path, plans: list[CardPlan], now: Callable[[], dt.datetime],
                progress: Callable[[str, str, int, int], None] = lambda label, phase, done, total: None,
                ) -> list[CardReport]:
    """Write each planned card and record its keys; reports in order."""
    keys_file = cards_pub_path(image_path)
    reports: list[CardReport] = []
    try:
        image_fd = os.open(image_path, os.O_RDONLY)
    except OSError as error:
        raise ImageError(f"{image_path}: cannot be read ({error.strerror})") from None
    try:
        image = open_card_image(image_path, image_fd)
        for plan in plans:
            stamp = now()
            keys = make_host_keys(plan.label) if image.record is not None else ()
            lines = card_key_lines(keys, plan.label, stamp)
            current = read_cards_pub(keys_file)
            if image.role == "master":  # the master card carries its own keys too
                current += "".join(line + "\n" for line in lines)
            card = personalise(image, image_fd, plan.label, keys, current, stamp)
            result = write_card(image_fd, image.size, plan.device.path, card.pages, _labelled(progress, plan.label))
            if lines:
                _append_keys(keys_file, lines)
            reports.append(CardReport(plan.label, result, tuple(lines), card.cards_carried))
    finally:
        os.close(image_fd)
    return reports

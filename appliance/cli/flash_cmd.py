"""`appliance flash IMAGE [DEVICE...]`: write cards safely, each its own, and verify them."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import click

from appliance.cli.progress import ProgressLine, human_bytes
from foundation.errors import UsageError


@click.command()
@click.argument("image_path", metavar="IMAGE", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("device", nargs=-1)
@click.option("--yes", is_flag=True, help="Do not ask before writing.")
@click.option("--allow-non-removable", is_flag=True,
              help="Also write disks sysfs does not call removable (loop devices); never / or a mounted disk.")
@click.option("--name", "names", multiple=True, metavar="LABEL",
              help="The card's name (one per DEVICE; default pi-N after the last in cards.pub, or master).")
def flash(image_path: Path, device: tuple[str, ...], yes: bool, allow_non_removable: bool,
          names: tuple[str, ...]) -> None:
    """Write IMAGE to each DEVICE, read it back and compare; without DEVICE, list candidate cards."""
    devices = device
    from images.cards import cards_pub_path, flash_cards, plan_cards, read_cards_pub
    from images.devices import candidates
    from images.errors import ImageError
    from images.personalize import open_card_image
    from images.refusal import judge

    try:
        fd = os.open(image_path, os.O_RDONLY)
    except OSError as error:
        raise ImageError(f"{image_path}: cannot be read ({error.strerror})") from None
    try:
        image = open_card_image(image_path, fd)
    finally:
        os.close(fd)
    if not devices:
        found = candidates()
        if not found:
            click.echo("no candidate disks found; insert a card (or name a loop device with --allow-non-removable)")
        for disk in found:
            verdict = judge(disk, image.size)
            state = "ok" if verdict.ok else "refused: " + verdict.reasons[0]
            click.echo(f"{disk.path:<16} {human_bytes(disk.size):>9}  {disk.transport or '-':<6} "
                       f"{disk.model or '-':<24} {state}")
        return
    keys_file = cards_pub_path(image_path)
    plans = plan_cards(image, list(devices), list(names), allow_non_removable, read_cards_pub(keys_file))
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("not asking on a non-terminal: pass --yes to write " + ", ".join(devices))
        for plan in plans:
            disk = plan.device
            click.echo(f"{disk.path}: {human_bytes(disk.size)} {disk.model or disk.transport} -> card {plan.label}")
        click.confirm(f"Write {image_path.name} to {len(plans)} card(s)? Everything on them is lost", abort=True)
    line = ProgressLine(sys.stderr, sys.stderr.isatty())
    reports = flash_cards(image_path, plans, lambda: dt.datetime.now(dt.UTC),
                          lambda label, phase, done, total: line.update(f"{label} {phase}", done, total))
    line.finish()
    for report in reports:
        result = report.result
        rate = result.size / max(result.write_seconds, 1e-9)
        click.echo(f"{result.device}: card {report.label} written and verified (read back from the card), "
                   f"{human_bytes(rate)}/s write, {result.verify_seconds:.1f} s verify")
        if report.key_lines:
            click.echo(f"  host keys recorded in {keys_file}")
        if report.cards_carried is not None:
            click.echo(f"  the master card carries {report.cards_carried} card key(s) in appliance/cards.pub")

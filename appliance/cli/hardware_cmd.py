"""`appliance hardware identify|bom`: which Pi this is, and what to buy."""

from __future__ import annotations

import csv
import io
import json

import click

from foundation.errors import UsageError
from hardware.bom import BOARDS, bill_of_materials, to_json
from hardware.models import (
    cpuinfo_revision,
    decode_revision,
    device_tree_model,
    device_tree_revision,
)
from hardware.support import assess

NOT_A_PI = "this machine is not a Raspberry Pi (no Revision in /proc/cpuinfo); pass --revision HEX"


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(1 << 20)
    except OSError:
        return None


@click.group()
def hardware() -> None:
    """Raspberry Pi models and the parts list."""


@hardware.command()
@click.option("--revision", metavar="HEX", help="Decode this revision code instead of reading /proc/cpuinfo.")
@click.option("--role", type=click.Choice(["master", "worker"]), default="worker", show_default=True,
              help="Judge the board for this role (RAM limits differ).")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def identify(revision: str | None, role: str, output: str) -> None:
    """Decode a Raspberry Pi revision code and say whether the board can run the cluster."""
    dt_model = None
    if revision is None:
        revision = cpuinfo_revision((_read("/proc/cpuinfo") or b"").decode("utf-8", "replace"))
        if revision is None:  # kernels without the Pi patches: the firmware's device-tree cell
            revision = device_tree_revision(_read("/proc/device-tree/system/linux,revision") or b"")
        if revision is None:
            raise UsageError(NOT_A_PI)
        raw_model = _read("/proc/device-tree/model")
        dt_model = device_tree_model(raw_model) if raw_model else None
    info = decode_revision(revision)
    verdict = assess(info, role)
    record = {
        "revision": info.revision,
        "model": info.model,
        "soc": info.soc,
        "arch": info.arch,
        "memory_mb": info.memory_mb,
        "manufacturer": info.manufacturer,
        "supported": verdict.supported,
        "reason": verdict.reason,
        "warnings": list(verdict.warnings),
        "role": role,
        "board_type": info.board_type,
        "pcb_revision": info.pcb_revision,
        "cpu": info.cpu,
        "new_style": info.new_style,
        "warranty_void": info.warranty_void,
        "device_tree_model": dt_model,
    }
    if output == "json":
        click.echo(json.dumps(record, indent=2))
        return
    memory = f"{info.memory_mb} MB" if info.memory_mb is not None else "other (see rpi-sdram-size-gbit)"
    click.echo(f"model:        {dt_model or info.model} (PCB {info.pcb_revision})")
    click.echo(f"revision:     {info.revision} ({'new' if info.new_style else 'old'}-style)")
    click.echo(f"soc:          {info.soc} ({info.cpu}, {info.arch})")
    click.echo(f"memory:       {memory}")
    click.echo(f"manufacturer: {info.manufacturer}")
    click.echo(f"supported:    {'yes' if verdict.supported else 'no'} as {role}: {verdict.reason}")
    for warning in verdict.warnings:
        click.echo(f"warning:      {warning}")


@hardware.command()
@click.option("--nodes", type=int, required=True, help="Number of boards, master included.")
@click.option("--model", type=click.Choice(sorted(BOARDS)), default="pi4", show_default=True)
@click.option("-o", "--output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def bom(nodes: int, model: str, output: str) -> None:
    """The parts list with dated price estimates and the power budget."""
    parts = bill_of_materials(nodes, model)
    if output == "json":
        click.echo(json.dumps(to_json(parts), indent=2))
        return
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["item", "quantity", "unit_price_usd", "line_total_usd", "notes"])
        for item in parts.items:
            writer.writerow([item.item, item.quantity, f"{item.unit_price_usd:.2f}",
                             f"{item.quantity * item.unit_price_usd:.2f}", item.notes])
        click.echo(buffer.getvalue(), nl=False)
        return
    click.echo(f"Parts for {nodes} x {model} (prices: USD estimates as of {parts.prices_as_of})")
    click.echo(f"{'QTY':>3}  {'EACH':>7}  {'TOTAL':>8}  ITEM")
    for item in parts.items:
        click.echo(f"{item.quantity:>3}  {item.unit_price_usd:>7.2f}  {item.quantity * item.unit_price_usd:>8.2f}  {item.item}")
        click.echo(f"{'':>22}  {item.notes}")
    click.echo(f"{'':>3}  {'':>7}  {parts.total_usd:>8.2f}  total")
    click.echo(f"power: {parts.power.total_watts:g} W budget; {parts.power.supply}")
    for alternative in parts.power.alternatives:
        click.echo(f"   or: {alternative}")

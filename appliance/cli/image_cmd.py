"""`appliance image build|inspect`: card images from an official Raspberry Pi OS image."""

from __future__ import annotations

import json
from pathlib import Path

import click

from foundation.config import load_config


@click.group()
def image() -> None:
    """Master and worker card images, seeded for first boot."""


@image.command("build")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="cluster.yaml (needs access.password_hash).")
@click.option("--base", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Raspberry Pi OS Lite (64-bit) image, .img or .img.xz.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for master.img, worker.img and manifest.json.")
@click.option("--sha256", "sha256", metavar="HEX", help="Expected SHA-256 of the --base file (from the download page).")
@click.option("--wheelhouse", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Use these wheels instead of the cached wheelhouse for the card's arch and Python.")
def build_cmd(config_path: Path, base: Path, out: Path, sha256: str | None, wheelhouse: Path | None) -> None:
    """Write DIR/master.img and DIR/worker.img (sparse) and DIR/manifest.json."""
    from images.build import build_images

    config = load_config(config_path)
    built = build_images(config, config_path.read_text(), base, out, expected_sha256=sha256, wheelhouse=wheelhouse,
                         progress=click.echo)
    for item in built:
        click.echo(f"{out / item.path}: {item.size} bytes, sha256 {item.sha256} ({item.seeded['mechanism']})")
    click.echo(f"{out / 'manifest.json'}: what was seeded; next: appliance flash {out / 'worker.img'} DEVICE...")


@image.command("inspect")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def inspect_cmd(path: Path, output: str) -> None:
    """Partitions, boot files and the seed found in an image."""
    from images.inspect import inspect_image

    found = inspect_image(path)
    if output == "json":
        click.echo(json.dumps(found, indent=2))
        return
    click.echo(f"{path}: {found['scheme']} disk {found['disk_id']}, {found['size']} bytes")
    click.echo(f"{'#':>2}  {'TYPE':<38} {'LABEL':<10} {'START':>12} {'SIZE':>12}")
    for part in found["partitions"]:  # type: ignore[attr-defined]
        click.echo(f"{part['index']:>2}  {part['type']:<38} {part['label']:<10} {part['start']:>12} {part['size']:>12}")
    files = found["boot_files"]
    click.echo(f"boot files: {len(files)}")  # type: ignore[arg-type]
    seed = found["seed"]
    if seed is None:
        click.echo("seed: none (a bookworm-style image: firstrun.sh is added by the build)")
    else:
        shown = {k: v for k, v in seed.items() if k in ("appliance", "mechanism", "role", "hostname", "instance_id",  # type: ignore[attr-defined]
                                                       "card", "files")}
        click.echo("seed: " + ", ".join(f"{k}={v}" for k, v in shown.items()))

"""`appliance image build`: one master and one worker card image from an official base image.

The steps, each checked before the next:

1. Wi-Fi passphrase, password hash and login user are checked first (nothing written if
   missing). The master's provisioning key pair in DIR is reused, or a new one made
   (`images.provisioning_key`): every card authorises it, the master card carries it.
2. The base (.img or .img.xz) is streamed once into DIR/.master.img.partial and
   DIR/.worker.img.partial, sparse; the partition table is parsed from its first
   MiB; at the end the image's length is checked against the table (a truncated
   download is caught) and `--sha256` against the file's hash.
3. The root partition's facts (architecture, Python) are read with debugfs; a
   32-bit system is refused. They choose the wheelhouse.
4. Each boot partition gets its card files (`images.customize`), written by
   `images.fat` in place, no mount.
5. Both images are hashed, the manifest (and a new provisioning key) is written, and
   only then are the partial files renamed into place: an error at any step leaves no half-written
   output (the partials are removed).

Steps 3-5 overlap the stream when the root's facts are known before it starts
(a plain .img, or a base built before: `images.facts_cache`): the boot
partitions are seeded as soon as they are on disk, and two threads hash the
outputs while the root partition streams (hashlib and liblzma release the GIL).
Otherwise the outputs are hashed after the stream, in parallel. The facts are
read from the finished image either way and must match.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from foundation.config.model import Config
from hardware.partitions import MalformedPartitionTable, PartitionTable, check_fits, parse_table
from images.customize import BaseFacts, apply_files, card_files, read_base_facts
from images.errors import BuildFailed, ImageError
from images.facts_cache import forget_facts, known_facts, remember_facts
from images.fat import FatVolume, MalformedFat
from images.provisioning_key import (
    CARD_PRIVATE,
    ProvisioningKey,
    keep_provisioning_key,
    load_provisioning_key,
    make_provisioning_key,
)
from images.region import FileRegion
from images.rootfs import RootInfo, gather_root_facts, judge_root
from images.seed import PAYLOAD_DIR, CardSeed, NoPasswordHash, hostname_of, wpa_psk
from images.stream import (
    SourceStream,
    StreamHasher,
    finish_size,
    read_ahead,
    sha256_file,
    write_error,
    write_sparse,
)
from images.wheels import ensure_wheelhouse, wheel_files

HEAD = 1024 * 1024
"""Bytes of the image the partition table must fit in."""
ROLES = ("master", "worker")

Progress = Callable[[str], None]


@dataclass
class BuiltImage:
    """One output image as the manifest lists it."""

    role: str
    """master or worker."""
    path: str
    """File name inside DIR."""
    size: int
    """Bytes."""
    sha256: str
    """Hex SHA-256 of the whole file (what `sha256sum` prints)."""
    seeded: dict[str, object] = field(default_factory=dict)
    """What the boot partition got (mechanism, hostname, files and their hashes, payload)."""


def read_psk(config: Config) -> str | None:
    """The WPA PSK (64 hex digits) from wifi.psk_file, or None when no Wi-Fi is configured."""
    if config.wifi.ssid is None:
        return None
    where = config.where("wifi.psk_file")
    if config.wifi.psk_file is None:
        raise ImageError(f"{where}: wifi.ssid is set but no psk_file; write the passphrase into a file "
                         "(chmod 600) and name it in wifi.psk_file")
    try:
        with open(config.wifi.psk_file, "rb") as handle:
            raw = handle.read(200)
    except FileNotFoundError:
        raise ImageError(f"{where}: {config.wifi.psk_file}: no such file; write the Wi-Fi passphrase into it "
                         "and chmod 600 it") from None
    except OSError as error:
        raise ImageError(f"{where}: {config.wifi.psk_file}: cannot be read ({error.strerror})") from None
    passphrase = raw.rstrip(b"\r\n").decode("ascii", "replace")
    hexadecimal = len(passphrase) == 64 and all(c in "0123456789abcdefABCDEF" for c in passphrase)
    if not hexadecimal and not (8 <= len(passphrase) <= 63 and passphrase.isprintable()):
        raise ImageError(f"{where}: {config.wifi.psk_file} does not hold a WPA passphrase (8-63 printable "
                         "characters or 64 hex digits); put only the passphrase in it, on one line")
    return wpa_psk(config.wifi.ssid, passphrase)


def _check_sha256(expected: str | None) -> str | None:
    if expected is None:
        return None
    value = expected.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ImageError(f"--sha256 {expected!r} is not 64 hex digits; copy it from the download page")
    return value


@dataclass
class Streamed:
    """The base image written into the outputs."""

    table: PartitionTable
    """Its partition table."""
    size: int
    """Its length in bytes."""
    sha256: str
    """SHA-256 of the base file as read (compressed or not)."""
    hashers: dict[str, StreamHasher] | None
    """The outputs' hashers, when the boot partitions were seeded during the stream."""


OnBootWritten = Callable[[PartitionTable, int], dict[str, StreamHasher] | None]


def stream_base(base: Path, fds: Mapping[str, int], progress: Progress,
                on_boot_written: OnBootWritten | None = None) -> Streamed:
    """Decompress/copy `base` into every fd (sparse). Once the boot partition is on disk,
    `on_boot_written(table, bytes written)` may seed it and return hashers, which then get every later chunk."""
    table: PartitionTable | None = None
    head = bytearray()
    offset = 0
    next_report = 256 * 1024 * 1024
    hashers: dict[str, StreamHasher] | None = None
    waiting = on_boot_written is not None
    try:
        with SourceStream(base) as stream:
            for chunk in read_ahead(stream.chunks()):  # the next chunk decompresses while this one is written
                if table is None:
                    head += chunk[: HEAD - len(head)]
                    if len(head) >= HEAD:
                        table = _parse_head(base, bytes(head))
                for fd in fds.values():
                    write_sparse(fd, chunk, offset)
                offset += len(chunk)
                if hashers is not None:
                    for hasher in hashers.values():
                        hasher.feed(chunk)
                elif waiting and table is not None and offset >= table.boot().end:
                    waiting = False
                    assert on_boot_written is not None
                    hashers = on_boot_written(table, offset)
                if offset >= next_report:
                    progress(f"  {offset // (1024 * 1024)} MiB of the base image read")
                    next_report += 256 * 1024 * 1024
            if table is None:
                table = _parse_head(base, bytes(head))
            for fd in fds.values():
                finish_size(fd, offset)
            try:
                check_fits(table, offset)
            except MalformedPartitionTable as error:
                raise ImageError(f"{base}: {error}") from None
            return Streamed(table, offset, stream.sha256(), hashers)
    except BaseException:
        for hasher in (hashers or {}).values():
            hasher.abandon()
        raise


def _parse_head(base: Path, head: bytes) -> PartitionTable:
    try:
        table = parse_table(head)
        table.boot()
        table.root()
    except MalformedPartitionTable as error:
        raise ImageError(f"{base}: {error}") from None
    return table


def _hash_all(paths: Mapping[str, Path], size: int) -> dict[str, str]:
    """SHA-256 of each file, one thread each (hashlib releases the GIL on large updates)."""
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def work(role: str, path: Path) -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                results[role] = sha256_file(fd, size)
            finally:
                os.close(fd)
        except BaseException as error:  # handed to the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=item) for item in paths.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def build_images(config: Config, config_text: str, base: Path, out: Path, *, expected_sha256: str | None = None,
                 now: dt.datetime | None = None, wheelhouse: Path | None = None,
                 progress: Progress = lambda line: None) -> list[BuiltImage]:
    """Write DIR/master.img, DIR/worker.img and DIR/manifest.json; return what was built."""
    now = now or dt.datetime.now(dt.UTC)
    expected = _check_sha256(expected_sha256)
    if not config.access.password_hash:
        raise NoPasswordHash(f"{config.where('access.password_hash')}: no password hash, and a card is never made "
                             "with a default password; add one made by `openssl passwd -6`")
    if config.provisioning.ssh_user != config.access.user:
        raise ImageError(f"{config.where('provisioning.ssh_user')}: the master logs in as "
                         f"{config.provisioning.ssh_user!r}, but the cards make the user {config.access.user!r}; "
                         "set provisioning.ssh_user to access.user")
    psk = read_psk(config)
    key = load_provisioning_key(out) or make_provisioning_key()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BuildFailed(f"cannot make the output folder {out}: {error.strerror}") from None
    partials = {role: out / f".{role}.img.partial" for role in ROLES}
    manifest_partial = out / ".manifest.json.partial"
    try:
        try:
            return _build(config, config_text, base, out, expected, now, wheelhouse, psk, key, partials,
                          manifest_partial, progress)
        except OSError as error:  # the outputs: no space, a read-only or vanished folder
            raise write_error(error) from None
    except BaseException:
        for path in [*partials.values(), manifest_partial]:
            path.unlink(missing_ok=True)
        raise


class _GuessWasWrong(Exception):
    """The remembered facts of a base did not match its root: build again without them."""


def _build(config: Config, config_text: str, base: Path, out: Path, expected: str | None, now: dt.datetime,
           wheelhouse: Path | None, psk: str | None, key: ProvisioningKey, partials: dict[str, Path],
           manifest_partial: Path, progress: Progress) -> list[BuiltImage]:
    known = known_facts(base)
    try:
        return _build_once(config, config_text, base, out, expected, now, wheelhouse, psk, key, partials,
                           manifest_partial, progress, known)
    except _GuessWasWrong:
        progress("the remembered facts of this base were wrong; building again without them")
        forget_facts(base)
        return _build_once(config, config_text, base, out, expected, now, wheelhouse, psk, key, partials,
                           manifest_partial, progress, None)


def _build_once(config: Config, config_text: str, base: Path, out: Path, expected: str | None,
                now: dt.datetime, wheelhouse: Path | None, psk: str | None, key: ProvisioningKey,
                partials: dict[str, Path], manifest_partial: Path, progress: Progress,
                known: RootInfo | None) -> list[BuiltImage]:
    progress(f"reading {base}" + (" (seeding while it streams)" if known else ""))
    fds: dict[str, int] = {}
    built: dict[str, BuiltImage] = {}

    def seed_all(table: PartitionTable, info: RootInfo) -> None:
        boot = table.boot()
        wheels = wheel_files(wheelhouse or ensure_wheelhouse(info.arch, info.python))
        for role in ROLES:
            seeded = _customize(config, config_text, fds[role], boot.start, boot.size, role, psk, key, wheels,
                                info, now, str(base))
            built[role] = BuiltImage(role, f"{role}.img", 0, "", seeded)
            progress(f"{role}: seeded ({seeded['mechanism']}), {len(wheels)} wheels")

    def on_boot_written(table: PartitionTable, written: int) -> dict[str, StreamHasher] | None:
        assert known is not None
        seed_all(table, known)
        for fd in fds.values():  # zero chunks were skipped: make the file as long as what the hasher reads back
            if os.fstat(fd).st_size < written:
                finish_size(fd, written)
        return {role: StreamHasher(fd, written) for role, fd in fds.items()}

    try:
        for role, path in partials.items():
            # The master's image carries the provisioning key's private half: for its owner only.
            fds[role] = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600 if role == "master" else 0o644)
        streamed = stream_base(base, fds, progress, on_boot_written if known else None)
        table, size = streamed.table, streamed.size
        hashers = streamed.hashers or {}
        try:
            if expected is not None and streamed.sha256 != expected:
                raise ImageError(f"{base}: SHA-256 is {streamed.sha256}, not the expected {expected}; "
                                 "download it again")
            boot, root = table.boot(), table.root()
            info = judge_root(gather_root_facts(partials["master"], root.start), str(base))
            if known is not None and (known.arch, known.python) != (info.arch, info.python):
                raise _GuessWasWrong()
            progress(f"base: {info.os_name}, {info.arch}, Python {info.python}; {table.scheme.upper()} "
                     f"boot {boot.size // 2**20} MiB at {boot.start}, root at {root.start}")
            if not built:
                seed_all(table, info)
            for fd in fds.values():
                os.fsync(fd)
        except BaseException:
            for hasher in hashers.values():
                hasher.abandon()
            raise
    finally:
        for fd in fds.values():
            os.close(fd)
    if hashers:
        digests = {role: hasher.finish() for role, hasher in hashers.items()}
    else:
        digests = _hash_all(partials, size)
    remember_facts(base, info)
    images = [built[role] for role in ROLES]
    for image in images:
        image.size, image.sha256 = size, digests[image.role]
    manifest = {
        "format": 1,
        "built_at": now.isoformat(timespec="seconds"),
        "base": {"path": str(base), "sha256": streamed.sha256, "size": size, "system": info.os_name,
                 "codename": info.codename, "arch": info.arch, "python": info.python,
                 "partition_table": table.scheme, "disk_id": table.disk_id},
        "images": [image.__dict__ for image in images],
    }
    manifest_partial.write_text(json.dumps(manifest, indent=2) + "\n")
    keep_provisioning_key(out, key)
    for role, path in partials.items():
        path.rename(out / f"{role}.img")
    manifest_partial.rename(out / "manifest.json")
    return images


def _customize(config: Config, config_text: str, fd: int, start: int, size: int, role: str, psk: str | None,
               key: ProvisioningKey, wheels: Mapping[str, bytes], info: RootInfo, now: dt.datetime,
               where: str) -> dict[str, object]:
    try:
        with FatVolume(FileRegion(fd, start, size), now) as fat:
            facts: BaseFacts = read_base_facts(fat, where)
            seed = CardSeed(role, f"appliance-{role}-{secrets.token_hex(8)}", provisioning_key=key.public)
            payload = {"arch": info.arch, "python": info.python, "wheels": sorted(wheels)}
            files = card_files(config, config_text, facts, seed, psk, wheels,
                               {"built_at": now.isoformat(timespec="seconds"), "payload": payload},
                               master_key=key if role == "master" else None)
            apply_files(fat, files)
    except MalformedFat as error:
        raise ImageError(f"{where}: boot partition: {error}") from None
    listed = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()
              if not name.startswith(f"{PAYLOAD_DIR}/wheels/") and name != CARD_PRIVATE}
    wifi = {"ssid": config.wifi.ssid, "country": config.wifi.country} if role == "master" and psk else None
    return {"mechanism": facts.mechanism, "instance_id": seed.instance_id, "hostname": hostname_of(config, role),
            "user": config.access.user, "ssh_authorized_keys": len(config.access.ssh_authorized_keys),
            "provisioning_key": key.public,
            "payload": payload, "wifi": wifi, "files": listed}

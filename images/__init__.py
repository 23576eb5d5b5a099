"""Card images: master and worker images from an official Raspberry Pi OS image, and safe flashing.

    appliance image build --config cluster.yaml --base 2026-06-18-raspios-trixie-arm64-lite.img.xz --out DIR
    appliance flash DIR/worker.img /dev/sdb /dev/sdc      # each card its own host keys and instance-id
    appliance flash DIR/master.img /dev/sdb               # carries DIR/cards.pub

Modules, pure codecs and rules first, I/O last:

- `partitions` (MBR/GPT), `fat` (FAT32 without mounting), `seed` (cloud-init and
  firstrun.sh text), `payload` (installer, unit, card cluster.yaml), `customize`
  (the whole boot-partition content of a card), `refusal` (which devices may be
  written): pure, with one exception type per codec, fuzzed by the tests.
- `region` (bounded byte windows: memory, file, overlay), `stream` (xz stream,
  sparse writes, hashes), `rootfs` (debugfs facts), `wheels` (the offline
  wheelhouse), `devices` (sysfs/mountinfo facts), `flash` (write + verify),
  `personalize` (per-card edits), `build`, `cards`, `inspect`: the I/O.

cards.pub: the card keys the master pins
----------------------------------------
`appliance flash` makes each card's SSH host keys (ssh-keygen, ed25519) and
appends their public halves to `DIR/cards.pub` beside the flashed image, after
the card's read-back matched. One line per key, OpenSSH public key format with
a fixed comment:

    ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... card=pi-1 flashed=2026-06-20T14:03:11+00:00

- field 1: key type; field 2: base64 key; field 3 `card=<label>` (pi-N, master,
  or `--name`); field 4 `flashed=<ISO 8601 UTC time>`; fields are separated by
  single spaces, lines end in `\\n`, the file is only ever appended to.
- A master card gets the current file as `appliance/cards.pub` in its boot
  partition (its own keys included); the first-boot installer copies it to
  `/var/lib/appliance/cards.pub`. Provisioning accepts a board only when the
  host key it presents is one of these lines.
"""

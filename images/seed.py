"""The first-boot seed of a card, rendered as text: pure functions of cluster.yaml and a few facts.

Two mechanisms, chosen by what the base image ships (see `images.inspect`):

- `cloud-init` (Pi OS trixie, Ubuntu for Pi): NoCloud files at the top of the
  boot partition: `user-data` (#cloud-config), `network-config` (netplan v2),
  `meta-data` (a unique instance-id). cmdline.txt gets `ds=nocloud;s=...` so
  the seed is found even where the image's own cloud.cfg.d does not point
  there.
- `firstrun` (bookworm and older): Raspberry Pi Imager's way, a `firstrun.sh`
  in the boot partition run once through `systemd.run=` on the kernel
  command line; it removes itself and its cmdline arguments, then reboots.

Both run the same installer (`appliance/install.sh`, `images.payload`) that
puts the appliance on the card from the wheelhouse in the boot partition.

No default password ever: a seed is only rendered with the user's crypt(3)
hash (`NoPasswordHash` otherwise). The Wi-Fi passphrase is turned into the
64-hex-digit WPA PSK (PBKDF2, as wpa_passphrase and Imager do), and appears
only in `network-config` (or, for firstrun, in the NetworkManager profile the
script writes), never in user-data or cluster.yaml.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass

import yaml

from foundation.config.model import Config
from foundation.errors import ConfigError
from hardware.cmdline import edit_kernel_args
from hardware.swap import RPI_SWAP_DROPIN, RPI_SWAP_DROPIN_TEXT

BOOT_DIR = "/boot/firmware"
"""Where Pi OS (bookworm and later) and Ubuntu mount the boot partition."""
PAYLOAD_DIR = "appliance"
"""Folder of the boot partition holding the wheelhouse, the installer and the card's extras."""
NOCLOUD_ARG = f"ds=nocloud;s=file://{BOOT_DIR}/"
FIRSTRUN_ARGS = ("systemd.run=/boot/firstrun.sh", "systemd.run_success_action=reboot",
                 "systemd.unit=kernel-command-line.target")
"""What Imager appends for bookworm (the initramfs hook rewrites /boot/ to /boot/firmware/)."""
MECHANISMS = ("cloud-init", "firstrun")


class NoPasswordHash(ConfigError):
    """cluster.yaml has no access.password_hash: the build refuses to make a card with a default password."""


@dataclass(frozen=True)
class HostKey:
    """One SSH host key pair of a card."""

    kind: str
    """OpenSSH key type name as cloud-init spells it (ed25519, ecdsa, rsa)."""
    private: str
    """The private key in OpenSSH PEM form."""
    public: str
    """The public key line (`ssh-ed25519 AAAA... comment`)."""


@dataclass(frozen=True)
class CardSeed:
    """What makes one card (or one image) itself."""

    role: str
    """`master` or `worker`."""
    instance_id: str
    """cloud-init instance-id: unique per build, and again per flashed card."""
    host_keys: tuple[HostKey, ...] = ()
    """SSH host keys given at flash time; none in a built image shared by many cards."""
    provisioning_key: str | None = None
    """The master's provisioning public key (images.provisioning_key), authorised beside the user's keys."""


def authorized_keys(config: Config, provisioning_key: str | None) -> list[str]:
    """The login user's SSH keys on a card: the user's own, then the master's provisioning key.

    The master logs in as `provisioning.ssh_user`, which the build requires to be `access.user`."""
    keys = list(config.access.ssh_authorized_keys)
    if provisioning_key is not None and provisioning_key not in keys:
        keys.append(provisioning_key)
    return keys


def hostname_of(config: Config, role: str) -> str | None:
    """The master is `<cluster>-master`; workers get their names from the master (None here)."""
    return f"{config.cluster.name}-master" if role == "master" else None


def wpa_psk(ssid: str, passphrase: str) -> str:
    """The 256-bit WPA PSK as 64 hex digits (a 64-hex passphrase already is one)."""
    if len(passphrase) == 64 and all(c in "0123456789abcdefABCDEF" for c in passphrase):
        return passphrase.lower()
    return hashlib.pbkdf2_hmac("sha1", passphrase.encode(), ssid.encode(), 4096, 32).hex()


def _require_hash(config: Config) -> str:
    if not config.access.password_hash:
        raise NoPasswordHash(
            f"{config.where('access.password_hash')}: no password hash, and a card is never made with a "
            "default password; add one made by `openssl passwd -6` (or mkpasswd -m yescrypt)"
        )
    return config.access.password_hash


class _Dumper(yaml.SafeDumper):
    """safe_dump with multi-line strings as literal blocks (keys, files): readable on the card."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not value.startswith((" ", "\n")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(document: object) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096,
                     allow_unicode=True)


def first_boot_commands(role: str) -> list[list[str]]:
    """Commands run once at first boot on every card: SSH on, swap off, the appliance installed."""
    return [
        ["systemctl", "enable", "--now", "ssh"],  # trixie ships sshd disabled
        ["sh", "-c", "swapoff -a; systemctl stop dev-zram0.swap 2>/dev/null; "
                     "if command -v dphys-swapfile >/dev/null; then dphys-swapfile swapoff; "
                     "dphys-swapfile uninstall; systemctl disable dphys-swapfile; fi; true"],
        ["sh", f"{BOOT_DIR}/{PAYLOAD_DIR}/install.sh", role, f"{BOOT_DIR}/{PAYLOAD_DIR}"],
    ]


def user_data(config: Config, seed: CardSeed) -> str:
    """The #cloud-config user-data of a card."""
    password_hash = _require_hash(config)
    document: dict[str, object] = {}
    hostname = hostname_of(config, seed.role)
    if hostname is not None:
        document["hostname"] = hostname
        document["fqdn"] = f"{hostname}.{config.cluster.domain}"
        document["manage_etc_hosts"] = True
    user: dict[str, object] = {
        "name": config.access.user,
        "shell": "/bin/bash",
        "lock_passwd": False,
        "passwd": password_hash,
        # The provisioner runs `sudo -n` over SSH (key only), so sudo may not ask for the password.
        "sudo": "ALL=(ALL) NOPASSWD:ALL",
    }
    logins = authorized_keys(config, seed.provisioning_key)
    if logins:
        user["ssh_authorized_keys"] = logins
    document["user"] = user
    document["ssh_pwauth"] = False
    document["disable_root"] = True
    # Keys the image may carry are deleted; a card flashed by `appliance flash` brings its own
    # (pinned by the master); any other copy makes an ed25519 key the master will not accept.
    document["ssh_deletekeys"] = True
    document["ssh_genkeytypes"] = ["ed25519"]
    if seed.host_keys:
        keys: dict[str, str] = {}
        for key in seed.host_keys:
            keys[f"{key.kind}_private"] = key.private
            keys[f"{key.kind}_public"] = key.public
        document["ssh_keys"] = keys
    document["write_files"] = [
        {"path": RPI_SWAP_DROPIN, "content": RPI_SWAP_DROPIN_TEXT, "permissions": "0644"},
    ]
    document["runcmd"] = first_boot_commands(seed.role)
    return "#cloud-config\n" + _dump(document)


def meta_data(config: Config, seed: CardSeed) -> str:
    """NoCloud meta-data: the instance-id (and the master's hostname)."""
    document: dict[str, str] = {"instance-id": seed.instance_id}
    hostname = hostname_of(config, seed.role)
    if hostname is not None:
        document["local-hostname"] = hostname
    return _dump(document)


def network_config(config: Config, role: str, psk: str | None) -> str:
    """Netplan v2: the master's LAN address is static and its uplink takes DHCP; workers take DHCP."""
    network = config.network
    ethernets: dict[str, object] = {}
    document: dict[str, object] = {"version": 2, "renderer": "NetworkManager"}
    if role == "master":
        ethernets[network.lan_interface] = {
            "dhcp4": False,
            "addresses": [f"{network.master_address}/{network.subnet.prefixlen}"],
            "optional": True,
        }
        if config.wifi.ssid is not None and psk is not None:
            document["wifis"] = {network.uplink_interface: {
                "dhcp4": True,
                "regulatory-domain": config.wifi.country,
                "access-points": {config.wifi.ssid: {"password": psk}},
                "optional": True,
            }}
        else:
            ethernets[network.uplink_interface] = {"dhcp4": True, "optional": True}
    else:
        ethernets[network.lan_interface] = {"dhcp4": True, "optional": True}
    document["ethernets"] = ethernets
    ordered = {key: document[key] for key in ("version", "renderer", "ethernets", "wifis") if key in document}
    return _dump({"network": ordered})


def cloud_init_cmdline(text: str, config: Config) -> str:
    """cmdline.txt pointing cloud-init at the seed (and the radio's country for the master's Wi-Fi)."""
    args = [NOCLOUD_ARG]
    if config.wifi.ssid is not None:
        args.append(f"cfg80211.ieee80211_regdom={config.wifi.country}")
    return edit_kernel_args(text, add=args, where="cmdline.txt")


def firstrun_cmdline(text: str) -> str:
    """cmdline.txt that runs firstrun.sh once (bookworm)."""
    return edit_kernel_args(text, add=FIRSTRUN_ARGS, where="cmdline.txt")


def _q(value: str) -> str:
    return shlex.quote(value)


def firstrun_script(config: Config, role: str, psk: str | None, provisioning_key: str | None = None) -> str:
    """firstrun.sh for bookworm images: the same end state as the cloud-init seed, in shell."""
    password_hash = _require_hash(config)
    user = config.access.user
    hostname = hostname_of(config, role)
    lines = [
        "#!/bin/sh",
        "# Written by `appliance image build`: runs once at first boot (systemd.run), then removes itself.",
        "set +e",
        f"BOOT={BOOT_DIR}",
        '[ -d "$BOOT" ] || BOOT=/boot',
    ]
    if hostname is not None:
        lines += [
            "CURRENT_HOSTNAME=$(tr -d ' \\t\\n\\r' < /etc/hostname)",
            f"echo {_q(hostname)} > /etc/hostname",
            f'sed -i "s/127.0.1.1.*$CURRENT_HOSTNAME/127.0.1.1\\t{hostname}/g" /etc/hosts',
        ]
    keys = "\n".join(authorized_keys(config, provisioning_key))
    lines += [
        "FIRSTUSER=$(getent passwd 1000 | cut -d: -f1)",
        f"if [ -n \"$FIRSTUSER\" ] && [ \"$FIRSTUSER\" != {_q(user)} ]; then",
        f"  usermod -l {_q(user)} \"$FIRSTUSER\"; usermod -m -d /home/{_q(user)} {_q(user)}",
        f"  groupmod -n {_q(user)} \"$FIRSTUSER\" 2>/dev/null",
        "elif [ -z \"$FIRSTUSER\" ]; then",
        f"  useradd -m -s /bin/bash -G sudo {_q(user)}",
        "fi",
        f"echo {_q(f'{user}:{password_hash}')} | chpasswd -e",
        f"echo {_q(f'{user} ALL=(ALL) NOPASSWD:ALL')} > /etc/sudoers.d/010_appliance-nopasswd",
        "chmod 0440 /etc/sudoers.d/010_appliance-nopasswd",
        f"install -d -m 0700 -o {_q(user)} -g {_q(user)} /home/{_q(user)}/.ssh",
        f"printf '%s\\n' {_q(keys)} > /home/{_q(user)}/.ssh/authorized_keys",
        f"chown {_q(user)}:{_q(user)} /home/{_q(user)}/.ssh/authorized_keys",
        f"chmod 0600 /home/{_q(user)}/.ssh/authorized_keys",
        "mkdir -p /etc/ssh/sshd_config.d",
        "printf 'PasswordAuthentication no\\nPermitRootLogin no\\n' > /etc/ssh/sshd_config.d/10-appliance.conf",
        # Host keys given at flash time: installed, then removed from the boot partition.
        f'if ls "$BOOT/{PAYLOAD_DIR}/host-keys/"ssh_host_*_key >/dev/null 2>&1; then',
        "  rm -f /etc/ssh/ssh_host_*",
        f'  for key in "$BOOT/{PAYLOAD_DIR}/host-keys/"ssh_host_*; do install -m 0600 "$key" /etc/ssh/; done',
        "  chmod 0644 /etc/ssh/ssh_host_*_key.pub",
        f'  rm -rf "$BOOT/{PAYLOAD_DIR}/host-keys"',
        "fi",
        "systemctl enable ssh",
        "systemctl disable regenerate_ssh_host_keys 2>/dev/null",
        "mkdir -p /etc/rpi/swap.conf.d",
        f"printf '%s' {_q(RPI_SWAP_DROPIN_TEXT)} > {RPI_SWAP_DROPIN}",
        "if command -v dphys-swapfile >/dev/null; then dphys-swapfile uninstall; systemctl disable dphys-swapfile; fi",
    ]
    lines += _firstrun_network(config, role, psk)
    lines += [
        f'sh "$BOOT/{PAYLOAD_DIR}/install.sh" {role} "$BOOT/{PAYLOAD_DIR}" --no-start',
        'rm -f "$BOOT/firstrun.sh"',
        "sed -i 's| systemd.run.*||g' \"$BOOT/cmdline.txt\"",
        "exit 0",
    ]
    return "\n".join(lines) + "\n"


def _firstrun_network(config: Config, role: str, psk: str | None) -> list[str]:
    """NetworkManager profiles (bookworm's network stack) for the master; workers keep NM's DHCP."""
    if role != "master":
        return []
    network = config.network
    lan = (
        "[connection]\nid=appliance-lan\ntype=ethernet\n"
        f"interface-name={network.lan_interface}\n\n[ipv4]\nmethod=manual\n"
        f"address1={network.master_address}/{network.subnet.prefixlen}\n\n[ipv6]\nmethod=disabled\n"
    )
    lines = ["install -d -m 0700 /etc/NetworkManager/system-connections",
             f"printf '%s' {_q(lan)} > /etc/NetworkManager/system-connections/appliance-lan.nmconnection"]
    if config.wifi.ssid is not None and psk is not None:
        wifi = (
            "[connection]\nid=appliance-uplink\ntype=wifi\n"
            f"interface-name={network.uplink_interface}\n\n[wifi]\nmode=infrastructure\nssid={config.wifi.ssid}\n\n"
            f"[wifi-security]\nkey-mgmt=wpa-psk\npsk={psk}\n\n[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=auto\n"
        )
        lines += [f"printf '%s' {_q(wifi)} > /etc/NetworkManager/system-connections/appliance-uplink.nmconnection",
                  f"raspi-config nonint do_wifi_country {_q(config.wifi.country)} 2>/dev/null || "
                  f"iw reg set {_q(config.wifi.country)} 2>/dev/null"]
    lines.append("chmod 0600 /etc/NetworkManager/system-connections/appliance-*.nmconnection")
    return lines


def with_host_keys(user_data_text: str, keys: tuple[HostKey, ...]) -> str:
    """A card's user-data: the built one with its own SSH host keys under `ssh_keys:`."""
    document = yaml.safe_load(user_data_text)
    if not isinstance(document, dict):
        raise ValueError("user-data is not a #cloud-config mapping")
    document["ssh_keys"] = {f"{key.kind}_{part}": getattr(key, part) for key in keys for part in ("private", "public")}
    return "#cloud-config\n" + _dump(document)


def with_instance_id(meta_data_text: str, instance_id: str) -> str:
    """A card's meta-data: the built one with its own instance-id."""
    document = yaml.safe_load(meta_data_text) or {}
    if not isinstance(document, dict):
        raise ValueError("meta-data is not a mapping")
    document["instance-id"] = instance_id
    return _dump(document)

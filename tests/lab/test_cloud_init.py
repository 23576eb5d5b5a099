"""The boards' root runs real cloud-init on a NoCloud seed at boot, as a Pi's first boot does."""

from __future__ import annotations

import pytest

from hardware.lab import nodes as boards
from tests.support.lab import LabHandle

pytestmark = [pytest.mark.lab, pytest.mark.root]

SEED = "/var/lib/cloud/seed/nocloud"
USER_DATA = """#cloud-config
preserve_hostname: true
write_files:
  - path: /root/written-by-cloud-init
    content: seeded
runcmd:
  - [sh, -c, "id -un > /root/runcmd-ran"]
"""
CLEAN = (f"rm -rf {SEED} /var/lib/cloud/instances /var/lib/cloud/instance /var/lib/cloud/data "
         "/root/written-by-cloud-init /root/runcmd-ran")


def _reboot(lab: LabHandle, board: str) -> None:
    old = boards.init_pid(lab.node(board))
    lab.run(board, "reboot", check=False)
    lab.wait_for(lambda: boards.init_pid(lab.node(board)) not in (None, old) and lab.run(
        board, "systemctl is-system-running", check=False).stdout.strip() in ("running", "degraded"),
        timeout=90, interval=0.5, what=f"{board} rebooted")


def _done(lab: LabHandle, board: str) -> str | None:
    out = lab.run(board, "cloud-init status --long", check=False).stdout
    return out if "status: done" in out else None


def test_cloud_init_runs_every_stage_at_boot_on_a_nocloud_seed(lab: LabHandle) -> None:
    board = "pi-2"
    # Without a seed, cloud-init's generator finds no datasource and leaves the boot alone.
    assert "disabled" in lab.run(board, "cloud-init status", check=False).stdout
    lab.run(board, f"{CLEAN} && mkdir -p {SEED} && printf 'instance-id: lab-test-1\\n' > {SEED}/meta-data "
                   f"&& cat > {SEED}/user-data", input=USER_DATA)
    try:
        lab.run(board, f"cloud-init schema --config-file {SEED}/user-data")
        _reboot(lab, board)
        status = lab.wait_for(lambda: _done(lab, board), timeout=120, interval=1, what="cloud-init done at boot")
        assert "DataSourceNoCloud" in status and "errors: []" in status
        units = ("cloud-init-local.service", "cloud-init-network.service", "cloud-config.service",
                 "cloud-final.service")
        assert lab.run(board, ["systemctl", "show", "-P", "Result", *units]).stdout.split() == ["success"] * 4
        assert lab.read_file(board, "/root/written-by-cloud-init") == "seeded"
        assert lab.read_file(board, "/root/runcmd-ran") == "root\n"
        assert lab.run(board, "hostname").stdout.strip() == board
    finally:
        lab.run(board, CLEAN, check=False)
        _reboot(lab, board)

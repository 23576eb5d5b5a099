"""The boards' root runs real cloud-init on a NoCloud seed, as a Pi's first boot does."""

from __future__ import annotations

import pytest

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


def test_cloud_init_runs_every_stage_on_a_nocloud_seed(lab: LabHandle) -> None:
    board = "pi-2"
    lab.run(board, f"rm -rf /var/lib/cloud/instances /var/lib/cloud/instance && mkdir -p {SEED} && "
                   f"printf 'instance-id: lab-test-1\\n' > {SEED}/meta-data && cat > {SEED}/user-data",
            input=USER_DATA)
    try:
        lab.run(board, "cloud-init schema --config-file /var/lib/cloud/seed/nocloud/user-data")
        for stage in ("init --local", "init", "modules --mode=config", "modules --mode=final"):
            lab.run(board, f"cloud-init {stage} >/dev/null 2>&1", timeout=120)
        assert lab.read_file(board, "/root/written-by-cloud-init") == "seeded"
        assert lab.read_file(board, "/root/runcmd-ran") == "root\n"
        status = lab.run(board, "cloud-init status --long", check=False).stdout
        assert "status: done" in status, status
        assert lab.run(board, "hostname").stdout.strip() == board
    finally:
        lab.run(board, f"rm -rf {SEED} /var/lib/cloud/instances /var/lib/cloud/instance "
                       "/root/written-by-cloud-init /root/runcmd-ran", check=False)

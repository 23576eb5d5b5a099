"""Pod routes (host-gw) and the master's LAN address: pure plan, kernel access, keeper, service.

- `plan`: which routes should exist (pure), and the diff against the kernel's.
- `kernel` / `rtnl_batch`: reading and changing routes over netlink, in batches.
- `keeper`: reconcile loop driven by netlink events plus a periodic resync.
- `service`: the netd service (`--only routes`).
"""

"""Raspberry Pi hardware knowledge of the appliance, as code.

- `models`: revision codes (old-style and bit-field) and Raspberry Pi MAC prefixes.
- `support`: which boards can run the cluster (64-bit CPU) and RAM warnings per role.
- `cmdline`, `configtxt`, `swap`, `boot`: boot-file and swap edits as pure functions
  over file text, returning the new text or the commands to run (provisioning and
  image building apply them).
- `bom`: the parts list with dated price estimates and the power budget.
- `doctor`: preflight checks of a node (`appliance doctor`, `python3 -m hardware.doctor`).
- `lab`: the virtual cluster used by the demo and the tests.
"""

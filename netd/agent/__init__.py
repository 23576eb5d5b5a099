"""The node agent: routes, CNI config and liveness for one node (stdlib + pyroute2 only).

Run as `appliance agent run --master URL --state-dir DIR`, or where only
Debian's python3 and python3-pyroute2 exist, `python3 -m netd.agent ...`.
"""

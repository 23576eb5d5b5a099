"""The node agent: its payload, its credential, its systemd unit, running (workers only).

One operation for all of it, because the agent must be restarted when any of
the three changed; a node where all three are right and the unit runs gets no
action at all.
"""

from __future__ import annotations

import hashlib
import hmac
import shlex

from provisioning import paths
from provisioning.operations.base import Action, Change, Context, IssueCredential, Put, Run, ok
from provisioning.payload import AGENT, AGENT_STATE_DIR, IMPORT_CHECK, Payload

AGENT_PORT = 8081
"""The master's agent API port (netd.api)."""
UNIT = "appliance-agent.service"


def unpack_actions(payload: Payload, sha256: str) -> tuple[Put, Run]:
    """Copy `payload` and swap it into `payload.home` whole, after an import check of the new copy."""
    home = payload.home
    archive = f"{home}.tar.gz.new"
    q = shlex.quote
    script = (
        f"rm -rf {q(home + '.new')} && mkdir -p {q(home + '.new')} && "
        f"tar -xzf {q(archive)} -C {q(home + '.new')} --no-same-owner && "
        f"python3 -I -c {q(IMPORT_CHECK)} {q(home + '.new')} {q(payload.entry_module)} >/dev/null && "
        f"printf '%s\\n' {q(sha256)} > {q(home + '.new/' + paths.PAYLOAD_HASH_FILE)} && "
        f"rm -rf {q(home + '.old')} && {{ [ ! -e {q(home)} ] || mv {q(home)} {q(home + '.old')}; }} && "
        f"mv {q(home + '.new')} {q(home)} && rm -rf {q(home + '.old')} {q(archive)}"
    )
    shown = f"unpack the {payload.name} payload ({sha256[:12]}) into {home} after an import check"
    return Put(archive, payload.tar(), mode=0o600), Run(script, shown=shown)


def unit_text(master_address: str) -> str:
    """The agent's systemd unit (runs Debian's python3 on the unpacked payload)."""
    return (
        "# Written by the appliance's provisioning; it is rewritten when it differs.\n"
        "[Unit]\n"
        "Description=Pi cluster appliance node agent (pod routes, CNI config)\n"
        "Wants=network-online.target\nAfter=network-online.target\n"
        # The agent must never be given up on: without it a node has no pod routes.
        "StartLimitIntervalSec=0\n\n"
        "[Service]\n"
        f"WorkingDirectory={AGENT.home}\n"
        f"ExecStart=/usr/bin/{AGENT.command} --master http://{master_address}:{AGENT_PORT} "
        f"--state-dir {AGENT_STATE_DIR}\n"
        "Restart=always\nRestartSec=2\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


def credential_valid(ctx: Context) -> bool:
    """The node holds the credential the registry knows (compared by hash; the secret never leaves the node)."""
    held = ctx.facts.state.credential
    if held is None or ctx.credential_sha256 is None:
        return False
    return (held.node == ctx.node and held.mode == "600"
            and hmac.compare_digest(held.secret_sha256, ctx.credential_sha256))


def master_cni(ctx: Context) -> Change:
    """The master's pods get the CNI config a worker's agent writes (written once by the agent's own code
    from the payload); no agent runs there, since the master's daemon programs its routes."""
    state = ctx.facts.state
    actions: list[Action] = []
    payload_sha = AGENT.sha256()
    if state.agent_payload_sha256 != payload_sha:
        actions += unpack_actions(AGENT, payload_sha)
    if paths.AGENT_CONFLIST not in state.cni_confs or actions:
        if ctx.pod_cidr is None:
            return ok("no agent on the master; no pod CIDR in the registry yet for its CNI config")
        write = ("import ipaddress, sys; from netd.cni import write_cni_config; "
                 "write_cni_config(ipaddress.IPv4Network(sys.argv[1]))")
        actions.append(Run(f"cd {shlex.quote(AGENT.home)} && python3 -E -s -c {shlex.quote(write)} "
                           f"{shlex.quote(str(ctx.pod_cidr))}",
                           shown=f"write the CNI config for {ctx.pod_cidr} with the agent's code"))
    if not actions:
        return ok(f"no agent on the master (its daemon programs the routes); CNI config for {ctx.pod_cidr} in place")
    return Change(f"CNI config for the master's pods ({ctx.pod_cidr}); no agent: its daemon programs the routes",
                  tuple(actions))


def agent(ctx: Context) -> Change:
    """Payload, credential and unit as wanted; the unit enabled and running (restarted after a change)."""
    if ctx.role == "master":
        return master_cni(ctx)
    state = ctx.facts.state
    actions: list[Action] = []
    what: list[str] = []
    payload_sha = AGENT.sha256()
    if state.agent_payload_sha256 != payload_sha:
        actions += unpack_actions(AGENT, payload_sha)
        what.append("payload")
    if not credential_valid(ctx):
        actions.append(IssueCredential(paths.AGENT_CREDENTIAL))
        what.append("credential")
    unit = unit_text(ctx.master_address)
    if state.agent_unit_sha256 != hashlib.sha256(unit.encode()).hexdigest():
        actions += [Put(paths.AGENT_UNIT, unit.encode()), Run("systemctl daemon-reload")]
        what.append("unit")
    running = ctx.facts.units[UNIT]
    if actions:
        actions.append(Run(f"systemctl enable {UNIT} && systemctl restart {UNIT}"))
        return Change(f"agent {', '.join(what)} updated; restarted", tuple(actions))
    if not (running.enabled and running.active):
        return Change("agent installed but not running: started", (Run(f"systemctl enable --now {UNIT}"),))
    return ok(f"agent {payload_sha[:12]} runs with its credential")

"""The registry: SQLite (WAL) in the state directory, the appliance's one source of truth.

Open it with `open_registry(state_dir)`; every function takes the connection
as its first argument and an explicit `now` where time matters. Each writing
function is one short transaction; wrap several in `with transaction(conn):`
to make them one atomic commit.
"""

from foundation.registry.credentials import (
    get_agent_credential,
    issue_agent_credential,
    revoke_agent_credential,
    verify_agent_credential,
)
from foundation.registry.db import (
    REGISTRY_FILE,
    check_integrity,
    check_schema,
    connect,
    migrate,
    open_registry,
    registry_path,
    schema_version,
    transaction,
)
from foundation.registry.history import append_event, latest_events, list_events
from foundation.registry.host_keys import (
    add_card_key,
    count_card_keys,
    get_host_key,
    list_host_keys,
    pin_host_key,
    pinned_host_key,
    unpin_host_key,
)
from foundation.registry.jobs import (
    active_jobs,
    append_log,
    create_job,
    finish_job,
    get_job,
    interrupt_orphaned_jobs,
    interrupt_running_jobs,
    job_log,
    last_job,
    list_jobs,
    record_step,
    require_job,
    start_job,
)
from foundation.registry.leases import (
    get_lease,
    list_leases,
    put_lease,
    record_lease_event,
    record_lease_events,
)
from foundation.registry.models import (
    AgentCredentialRow,
    EventRow,
    HostKeyRow,
    HostKeySource,
    JobLogRow,
    JobRow,
    JobState,
    LeaseRow,
    LeaseState,
    LogStream,
    NodeRole,
    NodeRow,
    NodeState,
    TokenRow,
)
from foundation.registry.nodes import (
    allocate_pod_cidr,
    approve_node,
    ensure_master,
    find_node,
    forget_node,
    get_node,
    list_node_records,
    list_nodes,
    require_node,
    set_node_model,
    set_node_state,
    set_ssh_host_key,
    touch_node,
)
from foundation.registry.schema import SCHEMA_VERSION
from foundation.registry.tokens import (
    create_token,
    get_token,
    list_tokens,
    purge_expired_tokens,
    revoke_token,
    store_token,
    verify_token,
)

__all__ = [
    "REGISTRY_FILE", "SCHEMA_VERSION", "AgentCredentialRow", "EventRow", "HostKeyRow",
    "HostKeySource", "JobLogRow", "JobRow", "active_jobs", "add_card_key", "count_card_keys",
    "get_host_key", "interrupt_orphaned_jobs", "last_job", "list_host_keys", "pin_host_key",
    "pinned_host_key", "record_step", "unpin_host_key",
    "JobState", "LeaseRow", "LeaseState", "LogStream", "NodeRole", "NodeRow", "NodeState", "TokenRow",
    "allocate_pod_cidr", "append_event", "append_log", "approve_node", "check_integrity",
    "check_schema", "connect", "create_job",
    "create_token", "ensure_master", "find_node", "finish_job", "forget_node",
    "get_agent_credential", "get_job", "get_lease", "get_node", "get_token", "interrupt_running_jobs",
    "issue_agent_credential", "job_log", "latest_events", "list_events", "list_jobs", "list_leases",
    "list_node_records", "list_nodes", "list_tokens", "migrate", "open_registry", "purge_expired_tokens",
    "put_lease", "record_lease_event", "record_lease_events", "registry_path", "require_job", "require_node", "revoke_agent_credential",
    "revoke_token", "schema_version", "set_node_model", "set_node_state", "set_ssh_host_key",
    "start_job", "store_token", "touch_node", "transaction", "verify_agent_credential", "verify_token",
]  # fmt: skip

"""The registry's schema as an ordered list of migration steps.

Step i (counting from 1) brings a database from `user_version` i-1 to i; each
step runs in one transaction together with the version bump, so a crash
leaves either the old or the new schema. Never edit a released step: append
a new one. STRICT tables make SQLite refuse values of the wrong type.
"""

from __future__ import annotations

# "PCLA": marks the file as ours, so a foreign SQLite database is refused rather than altered.
APPLICATION_ID = 0x50434C41

_V1 = (
    """
    CREATE TABLE nodes (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('master', 'worker')),
        mac TEXT UNIQUE,
        client_id TEXT UNIQUE,
        address TEXT UNIQUE,
        model TEXT,
        state TEXT NOT NULL
            CHECK (state IN ('discovered', 'approved', 'provisioning', 'joined', 'failed')),
        pod_cidr TEXT UNIQUE,
        ssh_host_key TEXT,
        hostname TEXT,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        approved_at REAL
    ) STRICT
    """,
    """
    CREATE TABLE leases (
        address TEXT PRIMARY KEY,
        mac TEXT NOT NULL,
        client_id TEXT,
        node TEXT NOT NULL,
        expires REAL NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'released', 'expired', 'declined')),
        updated REAL NOT NULL
    ) STRICT
    """,
    "CREATE INDEX leases_node ON leases (node)",
    """
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        description TEXT NOT NULL,
        expires REAL,
        usages TEXT NOT NULL,
        created REAL NOT NULL
    ) STRICT
    """,
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        node TEXT NOT NULL,
        plan TEXT NOT NULL,
        state TEXT NOT NULL
            CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'interrupted')),
        created REAL NOT NULL,
        started REAL,
        finished REAL
    ) STRICT
    """,
    "CREATE INDEX jobs_node ON jobs (node, id)",
    """
    CREATE TABLE job_log (
        job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        time REAL NOT NULL,
        stream TEXT NOT NULL CHECK (stream IN ('stdout', 'stderr', 'info')),
        line TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
    ) STRICT, WITHOUT ROWID
    """,
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time REAL NOT NULL,
        kind TEXT NOT NULL,
        node TEXT,
        message TEXT NOT NULL
    ) STRICT
    """,
    "CREATE INDEX events_node ON events (node, id)",
    """
    CREATE TABLE agent_credentials (
        node TEXT PRIMARY KEY REFERENCES nodes (name) ON DELETE CASCADE ON UPDATE CASCADE,
        credential_hash TEXT NOT NULL,
        issued REAL NOT NULL
    ) STRICT
    """,
    f"PRAGMA application_id = {APPLICATION_ID}",
)

POD_PREFIX_EXPR = "CAST(substr(pod_cidr, instr(pod_cidr, '/') + 1) AS INTEGER)"
"""The prefix length of a stored pod CIDR text (`a.b.c.d/p`), as the index below spells it."""

# v2: pod CIDR allocation asks "is any slice stored with a longer prefix than today's
# node_cidr_mask?" (left over from an older setting); this index answers it without
# reading every node, so allocating a slice costs O(log n) instead of O(n).
_V2 = (f"CREATE INDEX nodes_pod_prefix ON nodes ({POD_PREFIX_EXPR}) WHERE pod_cidr IS NOT NULL",)

# v3 (provisioning): a job remembers how far it got, so a job cut off (power cut, cable
# pulled, master restarted) is resumed from its failed step by the next run; `error` is the
# one line a user sees. `host_keys` holds SSH host keys: keys known before first contact
# (written on the card by `appliance flash`, node NULL until a node presents one) and the
# key pinned for each node, with where the trust came from. A pin goes with its node
# (ON DELETE SET NULL, then the trigger drops a pin that no card vouches for), so a
# forgotten node's card key is known again while a trusted-on-first-use key is not.
_V3 = (
    "ALTER TABLE jobs ADD COLUMN step INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE jobs ADD COLUMN steps INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE jobs ADD COLUMN step_name TEXT",
    "ALTER TABLE jobs ADD COLUMN changed INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE jobs ADD COLUMN error TEXT",
    "ALTER TABLE jobs ADD COLUMN resumed_from INTEGER",
    "ALTER TABLE jobs ADD COLUMN dry_run INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE jobs ADD COLUMN owner INTEGER",
    """
    CREATE TABLE host_keys (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('card', 'tofu', 'manual')),
        card TEXT,
        node TEXT UNIQUE REFERENCES nodes (name) ON DELETE SET NULL ON UPDATE CASCADE,
        added REAL NOT NULL,
        pinned REAL
    ) STRICT
    """,
    """
    CREATE TRIGGER host_keys_unpinned AFTER UPDATE OF node ON host_keys
    WHEN NEW.node IS NULL AND NEW.source != 'card'
    BEGIN
        DELETE FROM host_keys WHERE key = NEW.key;
    END
    """,
)

# MIGRATIONS[i] holds the statements that take the schema from version i to i + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3)

SCHEMA_VERSION = len(MIGRATIONS)

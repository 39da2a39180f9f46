-- retention policies: what to do with which records and when (a cron pattern in a time
-- zone), enabled only after a second admin approved a destructive one; and each dry run and
-- run, with the snapshot it froze and the job it started (a scheduled run is recorded once
-- per due time, which is how several instances run it once)
CREATE TABLE lethe_retention_policy (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    filter TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('notify', 'trash', 'anonymize', 'purge')),
    schedule TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    owner_id INTEGER REFERENCES lethe_user (id),
    enabled INTEGER NOT NULL,
    approved_by INTEGER REFERENCES lethe_user (id),
    approved_at TEXT,
    changed_by INTEGER REFERENCES lethe_user (id),
    changed_at TEXT NOT NULL,
    next_run_at TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE lethe_policy_run (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    policy_id INTEGER NOT NULL REFERENCES lethe_retention_policy (id),
    kind TEXT NOT NULL CHECK (kind IN ('dry_run', 'run', 'scheduled')),
    due_at TEXT,
    snapshot_id INTEGER,
    job_id INTEGER,
    dry_run_id INTEGER,
    members INTEGER NOT NULL,
    counts TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    at TEXT NOT NULL,
    UNIQUE (policy_id, due_at)
);
CREATE INDEX ix_lethe_policy_run_policy ON lethe_policy_run (policy_id, id);

-- users, tokens, deletion batches, jobs, history, schema state
CREATE TABLE lethe_user (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    created_at TEXT NOT NULL
);
CREATE TABLE lethe_token (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES lethe_user (id),
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE INDEX ix_lethe_token_user_id ON lethe_token (user_id);
CREATE TABLE lethe_deletion_batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    created_by INTEGER REFERENCES lethe_user (id),
    reason TEXT,
    state TEXT NOT NULL
);
CREATE TABLE lethe_job (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    payload TEXT NOT NULL,
    cursor TEXT,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER,
    result TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    created_by INTEGER REFERENCES lethe_user (id),
    started_at TEXT,
    finished_at TEXT,
    lease_owner TEXT,
    lease_expires_at TEXT
);
CREATE INDEX ix_lethe_job_state ON lethe_job (state);
CREATE TABLE lethe_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor_id INTEGER,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE lethe_schema_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_toml TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

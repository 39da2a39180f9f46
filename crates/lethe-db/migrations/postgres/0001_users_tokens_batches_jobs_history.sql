-- users, tokens, deletion batches, jobs, history, schema state
CREATE TABLE lethe_user (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE lethe_token (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES lethe_user (id),
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX ix_lethe_token_user_id ON lethe_token (user_id);
CREATE TABLE lethe_deletion_batch (
    id BIGSERIAL PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    created_by BIGINT REFERENCES lethe_user (id),
    reason TEXT,
    state TEXT NOT NULL
);
CREATE TABLE lethe_job (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    payload JSONB NOT NULL,
    cursor JSONB,
    done BIGINT NOT NULL DEFAULT 0,
    total BIGINT,
    result JSONB,
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    created_by BIGINT REFERENCES lethe_user (id),
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    lease_owner TEXT,
    lease_expires_at TIMESTAMPTZ
);
CREATE INDEX ix_lethe_job_state ON lethe_job (state);
CREATE TABLE lethe_history (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    actor_id BIGINT,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT,
    details JSONB NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE lethe_schema_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_toml TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

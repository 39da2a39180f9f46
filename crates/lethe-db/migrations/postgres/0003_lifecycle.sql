-- lifecycle: batch roots, job scheduling, skipped members, notifications, erased files, secrets
ALTER TABLE lethe_deletion_batch ADD COLUMN entity TEXT;
ALTER TABLE lethe_deletion_batch ADD COLUMN snapshot_id BIGINT;
ALTER TABLE lethe_deletion_batch ADD COLUMN job_id BIGINT;
ALTER TABLE lethe_job ADD COLUMN not_before TIMESTAMPTZ;
ALTER TABLE lethe_job ADD COLUMN batch_size BIGINT NOT NULL DEFAULT 5000;
CREATE INDEX ix_lethe_job_state_not_before ON lethe_job (state, not_before);
CREATE TABLE lethe_job_skip (
    job_id BIGINT NOT NULL REFERENCES lethe_job (id) ON DELETE CASCADE,
    record_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    entity TEXT,
    count BIGINT NOT NULL DEFAULT 1,
    reason TEXT NOT NULL
);
CREATE INDEX ix_lethe_job_skip_job_record ON lethe_job_skip (job_id, record_id);
CREATE TABLE lethe_notification (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES lethe_user (id),
    at TIMESTAMPTZ NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    job_id BIGINT,
    read_at TIMESTAMPTZ
);
CREATE INDEX ix_lethe_notification_user ON lethe_notification (user_id, id);
CREATE TABLE lethe_erased_file (
    id BIGSERIAL PRIMARY KEY,
    job_id BIGINT NOT NULL,
    storage_key TEXT NOT NULL
);
CREATE TABLE lethe_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    hash_key TEXT NOT NULL
);

-- people's erasure and access requests (GDPR Art. 12, 15, 17): the subject (an address as
-- given, or a contact) only while the request is open, always a keyed tag of it; the legal
-- deadline, its extension with the reason, the status, who works on it, and when each
-- reminder went out (set once, which is how several instances send each reminder once)
CREATE TABLE lethe_request (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('erasure', 'access')),
    subject_email TEXT,
    subject_contact_id BIGINT,
    subject_tag TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    due_at TIMESTAMPTZ NOT NULL,
    extended_until TIMESTAMPTZ,
    extension_reason TEXT,
    deadline TIMESTAMPTZ NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('received', 'in_progress', 'done', 'refused')),
    refusal_reason TEXT,
    assignee_id BIGINT REFERENCES lethe_user (id),
    reminded_at TIMESTAMPTZ,
    overdue_notified_at TIMESTAMPTZ,
    created_by BIGINT REFERENCES lethe_user (id),
    created_at TIMESTAMPTZ NOT NULL,
    closed_at TIMESTAMPTZ,
    CHECK (status IN ('received', 'in_progress') OR (subject_email IS NULL AND subject_contact_id IS NULL))
);
CREATE INDEX ix_lethe_request_open ON lethe_request (status, deadline);
CREATE INDEX ix_lethe_request_tag ON lethe_request (subject_tag);
-- the deletion batches and purge jobs that fulfilled a request
CREATE TABLE lethe_request_link (
    id BIGSERIAL PRIMARY KEY,
    request_id BIGINT NOT NULL REFERENCES lethe_request (id),
    batch_id BIGINT,
    job_id BIGINT,
    linked_by BIGINT REFERENCES lethe_user (id),
    linked_at TIMESTAMPTZ NOT NULL,
    CHECK ((batch_id IS NULL) <> (job_id IS NULL))
);
CREATE UNIQUE INDEX ux_lethe_request_link_batch ON lethe_request_link (request_id, batch_id);
CREATE UNIQUE INDEX ux_lethe_request_link_job ON lethe_request_link (request_id, job_id);

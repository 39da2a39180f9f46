-- notifications that reach people: a user's e-mail address and their choice of channel per
-- kind of event; webhook endpoints; and the outbox of messages to deliver, written in the
-- same transaction as the event and delivered (with retries) by the servers' workers
ALTER TABLE lethe_user ADD COLUMN email TEXT;
CREATE TABLE lethe_channel_choice (
    user_id BIGINT NOT NULL REFERENCES lethe_user (id),
    kind TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('email')),
    enabled BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, kind, channel)
);
CREATE TABLE lethe_webhook (
    id BIGSERIAL PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    kinds TEXT NOT NULL,
    created_by BIGINT REFERENCES lethe_user (id),
    created_at TIMESTAMPTZ NOT NULL,
    removed_at TIMESTAMPTZ
);
CREATE TABLE lethe_outbox (
    id BIGSERIAL PRIMARY KEY,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    kind TEXT NOT NULL,
    user_id BIGINT REFERENCES lethe_user (id),
    webhook_id BIGINT REFERENCES lethe_webhook (id),
    address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    job_id BIGINT,
    created_at TIMESTAMPTZ NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_try_at TIMESTAMPTZ NOT NULL,
    lease_owner TEXT,
    lease_expires_at TIMESTAMPTZ,
    last_error TEXT,
    delivered_at TIMESTAMPTZ,
    given_up_at TIMESTAMPTZ
);
CREATE INDEX ix_lethe_outbox_due ON lethe_outbox (next_try_at) WHERE delivered_at IS NULL AND given_up_at IS NULL;
CREATE INDEX ix_lethe_outbox_given_up ON lethe_outbox (given_up_at) WHERE given_up_at IS NOT NULL;

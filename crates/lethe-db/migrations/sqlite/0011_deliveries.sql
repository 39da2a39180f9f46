-- notifications that reach people: a user's e-mail address and their choice of channel per
-- kind of event; webhook endpoints; and the outbox of messages to deliver, written in the
-- same transaction as the event and delivered (with retries) by the servers' workers
ALTER TABLE lethe_user ADD COLUMN email TEXT;
CREATE TABLE lethe_channel_choice (
    user_id INTEGER NOT NULL REFERENCES lethe_user (id),
    kind TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('email')),
    enabled INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind, channel)
);
CREATE TABLE lethe_webhook (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    kinds TEXT NOT NULL,
    created_by INTEGER REFERENCES lethe_user (id),
    created_at TEXT NOT NULL,
    removed_at TEXT
);
CREATE TABLE lethe_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    kind TEXT NOT NULL,
    user_id INTEGER REFERENCES lethe_user (id),
    webhook_id INTEGER REFERENCES lethe_webhook (id),
    address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    job_id INTEGER,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at TEXT NOT NULL,
    lease_owner TEXT,
    lease_expires_at TEXT,
    last_error TEXT,
    delivered_at TEXT,
    given_up_at TEXT
);
CREATE INDEX ix_lethe_outbox_due ON lethe_outbox (next_try_at) WHERE delivered_at IS NULL AND given_up_at IS NULL;
CREATE INDEX ix_lethe_outbox_given_up ON lethe_outbox (given_up_at) WHERE given_up_at IS NOT NULL;

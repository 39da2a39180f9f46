-- monitors (SuperOffice SAINT): a saved selection evaluated on a schedule (a cron pattern in
-- a time zone) that tells its subscribers which records entered it (and, when asked, left
-- it). The members as of the last evaluation are kept here, so an evaluation is a set
-- difference in SQL; each run is recorded when it is claimed (once per due time) and marked
-- done in the transaction that evaluates it, with the records that entered or left.
CREATE TABLE lethe_monitor (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    selection_id BIGINT NOT NULL REFERENCES lethe_selection (id),
    entity TEXT NOT NULL,
    schedule TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    notify_on_leave BOOLEAN NOT NULL,
    owner_id BIGINT REFERENCES lethe_user (id),
    enabled BOOLEAN NOT NULL,
    member_count BIGINT NOT NULL,
    next_run_at TIMESTAMPTZ,
    changed_by BIGINT REFERENCES lethe_user (id),
    changed_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE lethe_monitor_subscriber (
    monitor_id BIGINT NOT NULL REFERENCES lethe_monitor (id),
    user_id BIGINT NOT NULL REFERENCES lethe_user (id),
    PRIMARY KEY (monitor_id, user_id)
);
CREATE TABLE lethe_monitor_member (
    monitor_id BIGINT NOT NULL REFERENCES lethe_monitor (id),
    record_id BIGINT NOT NULL,
    PRIMARY KEY (monitor_id, record_id)
);
CREATE INDEX ix_lethe_monitor_member_record ON lethe_monitor_member (record_id);
CREATE TABLE lethe_monitor_run (
    id BIGSERIAL PRIMARY KEY,
    monitor_id BIGINT NOT NULL REFERENCES lethe_monitor (id),
    kind TEXT NOT NULL CHECK (kind IN ('baseline', 'run', 'scheduled')),
    due_at TIMESTAMPTZ,
    state TEXT NOT NULL CHECK (state IN ('due', 'done')),
    entered_count BIGINT NOT NULL,
    left_count BIGINT NOT NULL,
    notified BIGINT NOT NULL,
    actor_name TEXT NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL,
    done_at TIMESTAMPTZ,
    UNIQUE (monitor_id, due_at)
);
CREATE INDEX ix_lethe_monitor_run_monitor ON lethe_monitor_run (monitor_id, id);
CREATE INDEX ix_lethe_monitor_run_due ON lethe_monitor_run (state, id);
CREATE TABLE lethe_monitor_hit (
    run_id BIGINT NOT NULL REFERENCES lethe_monitor_run (id),
    record_id BIGINT NOT NULL,
    change TEXT NOT NULL CHECK (change IN ('entered', 'left')),
    PRIMARY KEY (run_id, record_id)
);
CREATE INDEX ix_lethe_monitor_hit_record ON lethe_monitor_hit (record_id);

-- saved selections and snapshots
CREATE TABLE lethe_selection (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('dynamic', 'static', 'combined')),
    filter_text TEXT,
    operator TEXT CHECK (operator IN ('union', 'intersection', 'difference')),
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    created_by BIGINT REFERENCES lethe_user (id),
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE lethe_selection_member (
    selection_id BIGINT NOT NULL REFERENCES lethe_selection (id) ON DELETE CASCADE,
    record_id BIGINT NOT NULL,
    PRIMARY KEY (selection_id, record_id)
);
CREATE TABLE lethe_selection_part (
    selection_id BIGINT NOT NULL REFERENCES lethe_selection (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    part_id BIGINT NOT NULL REFERENCES lethe_selection (id),
    PRIMARY KEY (selection_id, position)
);
CREATE INDEX ix_lethe_selection_part_part_id ON lethe_selection_part (part_id);
CREATE TABLE lethe_snapshot (
    id BIGSERIAL PRIMARY KEY,
    entity TEXT NOT NULL,
    scope TEXT NOT NULL,
    source TEXT NOT NULL,
    member_count BIGINT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    created_by BIGINT REFERENCES lethe_user (id)
);
CREATE TABLE lethe_snapshot_member (
    snapshot_id BIGINT NOT NULL REFERENCES lethe_snapshot (id) ON DELETE CASCADE,
    record_id BIGINT NOT NULL,
    PRIMARY KEY (snapshot_id, record_id)
);

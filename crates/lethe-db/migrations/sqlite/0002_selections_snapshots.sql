-- saved selections and snapshots
CREATE TABLE lethe_selection (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('dynamic', 'static', 'combined')),
    filter_text TEXT,
    operator TEXT CHECK (operator IN ('union', 'intersection', 'difference')),
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    created_by INTEGER REFERENCES lethe_user (id),
    updated_at TEXT NOT NULL
);
CREATE TABLE lethe_selection_member (
    selection_id INTEGER NOT NULL REFERENCES lethe_selection (id) ON DELETE CASCADE,
    record_id INTEGER NOT NULL,
    PRIMARY KEY (selection_id, record_id)
);
CREATE TABLE lethe_selection_part (
    selection_id INTEGER NOT NULL REFERENCES lethe_selection (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    part_id INTEGER NOT NULL REFERENCES lethe_selection (id),
    PRIMARY KEY (selection_id, position)
);
CREATE INDEX ix_lethe_selection_part_part_id ON lethe_selection_part (part_id);
CREATE TABLE lethe_snapshot (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    scope TEXT NOT NULL,
    source TEXT NOT NULL,
    member_count INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    created_by INTEGER REFERENCES lethe_user (id)
);
CREATE TABLE lethe_snapshot_member (
    snapshot_id INTEGER NOT NULL REFERENCES lethe_snapshot (id) ON DELETE CASCADE,
    record_id INTEGER NOT NULL,
    PRIMARY KEY (snapshot_id, record_id)
);

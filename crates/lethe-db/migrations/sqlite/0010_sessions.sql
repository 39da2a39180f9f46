-- sign-in sessions of the web pages (only a hash of each session's secret is kept), and the
-- wrong passwords in a row per name that slow the next tries
CREATE TABLE lethe_session (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES lethe_user (id),
    secret_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    ended_at TEXT,
    ended_by TEXT
);
CREATE INDEX ix_lethe_session_user_id ON lethe_session (user_id);
CREATE TABLE lethe_sign_in_failure (
    name TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    next_try_at TEXT NOT NULL
);

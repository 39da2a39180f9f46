-- history: numbered entries, and the fingerprint of the key that seals them
ALTER TABLE lethe_history ADD COLUMN seq BIGINT;
UPDATE lethe_history SET seq = numbered.n
    FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n FROM lethe_history) AS numbered
    WHERE lethe_history.id = numbered.id;
CREATE UNIQUE INDEX ux_lethe_history_seq ON lethe_history (seq);
CREATE TABLE lethe_history_seal (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_fingerprint TEXT NOT NULL,
    seal TEXT NOT NULL
);

-- users: removal
ALTER TABLE lethe_user ADD COLUMN removed_at TEXT;

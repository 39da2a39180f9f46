-- users: a password to sign in to the web pages, stored as an argon2 hash
ALTER TABLE lethe_user ADD COLUMN password_hash TEXT;
ALTER TABLE lethe_user ADD COLUMN password_set_at TEXT;

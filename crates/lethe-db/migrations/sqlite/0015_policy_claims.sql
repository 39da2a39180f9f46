-- retention policies: a saved selection can stand in for the filter; a scheduled run is
-- recorded when an instance takes it (claimed_at) and marked finished when it has run, so
-- that a run whose instance died is found and finished by another one
ALTER TABLE lethe_retention_policy ADD COLUMN selection TEXT;
ALTER TABLE lethe_policy_run ADD COLUMN claimed_at TEXT;
ALTER TABLE lethe_policy_run ADD COLUMN finished INTEGER NOT NULL DEFAULT 1;

-- claims: one confirmation, one operation
CREATE TABLE lethe_claim (
    subject TEXT PRIMARY KEY,
    job_id INTEGER NOT NULL
);

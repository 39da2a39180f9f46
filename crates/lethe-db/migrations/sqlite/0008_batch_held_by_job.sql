-- deletion batches: the purge that left them held
ALTER TABLE lethe_deletion_batch ADD COLUMN held_by_job INTEGER;

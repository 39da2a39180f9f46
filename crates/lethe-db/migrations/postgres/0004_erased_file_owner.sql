-- erased files: the record each file belonged to
ALTER TABLE lethe_erased_file ADD COLUMN entity TEXT;
ALTER TABLE lethe_erased_file ADD COLUMN record_id BIGINT;

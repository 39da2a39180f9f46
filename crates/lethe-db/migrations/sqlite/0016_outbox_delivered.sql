-- Delivered messages leave the outbox after a while (LETHE_DELIVERED_KEPT_DAYS); this index
-- finds the old ones without reading the rest.
CREATE INDEX ix_lethe_outbox_delivered ON lethe_outbox (delivered_at) WHERE delivered_at IS NOT NULL;

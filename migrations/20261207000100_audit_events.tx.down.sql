DROP TABLE webhook_outbox;
DROP TABLE events;
DROP FUNCTION events_ensure_partitions(timestamptz, int);

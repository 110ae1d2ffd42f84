-- token-quota schema, version 5, H2 2.x: the unique (subject, idempotency_key) of tq_reservation says NULLS
-- DISTINCT instead of leaving it to the database's mode. H2 in MODE=MSSQLServer or MODE=Oracle (a host's
-- development profile mimicking its production database) takes NULLs as equal there, so each subject's
-- second hold without an idempotency key broke the constraint and the store answered STORE_UNAVAILABLE.
-- Applied after V4; released schemas are never edited in place. Every statement may run twice.
ALTER TABLE tq_reservation DROP CONSTRAINT IF EXISTS tq_reservation_idempotency;
ALTER TABLE tq_reservation ADD CONSTRAINT tq_reservation_idempotency UNIQUE NULLS DISTINCT (subject, idempotency_key);

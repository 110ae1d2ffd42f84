-- token-quota schema, version 4, H2 2.x: a hold writes no RESERVED row; the first event that finishes it
-- (COMMITTED, RELEASED or EXPIRED, one per account the hold was held against) records the reserve as
-- well. Applied after V3; released schemas are never edited in place. Every statement may run twice.
--
-- On such a finishing event:
--   id           the hold's number (drawn from tq_event_id_seq when it was reserved), which is the id
--                its RESERVED event is listed under.
--   logged_id    the id the finishing event itself is listed and told under, drawn when it is written,
--                so the log still reads in the order things happened.
--   held_tokens  the tokens held, held_at when (the policy's clock), held_until when the hold would
--                have expired (the database's clock, as tq_reservation.expires_at).
-- NULL on every other event, on a late commit, and on the finish of a hold reserved before this
-- version (whose RESERVED row was written then). A hold still open has no such event yet: its RESERVED
-- event is read from its tq_reservation row. H2 keeps every hold's row (PostgreSQL deletes a key-less
-- one at its commit or release); what the store answers is the same.
ALTER TABLE tq_event ADD COLUMN IF NOT EXISTS logged_id BIGINT;
ALTER TABLE tq_event ADD COLUMN IF NOT EXISTS held_tokens BIGINT CHECK (held_tokens > 0);
ALTER TABLE tq_event ADD COLUMN IF NOT EXISTS held_at TIMESTAMP(9) WITH TIME ZONE;
ALTER TABLE tq_event ADD COLUMN IF NOT EXISTS held_until TIMESTAMP(9) WITH TIME ZONE;
-- Hold numbers and event ids are drawn from one sequence, as on PostgreSQL, so they never meet: the
-- identity of version 1 becomes a default drawn from it, starting after every id already drawn (a
-- second run starts it no lower than it is).
CREATE SEQUENCE IF NOT EXISTS tq_event_id_seq AS BIGINT;
ALTER TABLE tq_event ALTER COLUMN id DROP IDENTITY;
ALTER SEQUENCE tq_event_id_seq RESTART WITH (SELECT GREATEST(COALESCE(MAX(id), 0) + 1,
    (SELECT BASE_VALUE FROM INFORMATION_SCHEMA.SEQUENCES
      WHERE SEQUENCE_SCHEMA = CURRENT_SCHEMA AND SEQUENCE_NAME = 'TQ_EVENT_ID_SEQ')) FROM tq_event);
ALTER TABLE tq_event ALTER COLUMN id SET DEFAULT NEXT VALUE FOR tq_event_id_seq;

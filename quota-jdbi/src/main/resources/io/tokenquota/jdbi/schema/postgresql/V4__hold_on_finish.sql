-- token-quota schema, version 4, PostgreSQL: a hold writes no RESERVED row; the first event that
-- finishes it (COMMITTED, RELEASED or EXPIRED, one per account the hold was held against) records the
-- reserve as well, so a reserve and its commit append one row between them instead of two. Applied
-- after V3; released schemas are never edited in place. Every statement is IF NOT EXISTS.
--
-- On such a finishing event:
--   id           the hold's number (drawn from tq_event_id_seq when it was reserved), which is the id
--                its RESERVED event is listed under; a key-less hold's row is deleted when it is
--                committed or released, and this id, through the id index, finds it again.
--   logged_id    the id the finishing event itself is listed and told under, drawn when it is written,
--                so the log still reads in the order things happened (an event logged between the
--                reserve and the finish sits between the two).
--   held_tokens  the tokens held, held_at when (the policy's clock), held_until when the hold would
--                have expired (the database's clock, as tq_reservation.expires_at).
-- NULL on every other event: other kinds, a late commit, and the finish of a hold reserved before this
-- version, whose RESERVED row was written then (events(subject, month) reads both kinds of rows, and
-- lists each RESERVED once). A hold still open has no such event yet: its RESERVED event is read from
-- its tq_reservation row, through the open-holds index.
-- Nullable columns without a default change only the catalog (no table rewrite, a brief ACCESS
-- EXCLUSIVE lock) and reach every attached partition; archived (detached) months keep their columns.
ALTER TABLE tq_event ADD COLUMN IF NOT EXISTS logged_id BIGINT;
ALTER TABLE tq_event ADD COLUMN IF NOT EXISTS held_tokens BIGINT CHECK (held_tokens > 0);
ALTER TABLE tq_event ADD COLUMN IF NOT EXISTS held_at TIMESTAMPTZ;
ALTER TABLE tq_event ADD COLUMN IF NOT EXISTS held_until TIMESTAMPTZ;

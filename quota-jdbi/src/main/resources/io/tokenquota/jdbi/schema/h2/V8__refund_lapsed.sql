-- token-quota schema, version 8, H2 2.x: what refunds of a closed month's purchases found unspent there
-- with rollover off (round 425), so the next such refund does not find the same tokens again. 0 for every month
-- before this version (a refund made before it is not counted).
-- Released schemas are never edited in place; the statement is IF NOT EXISTS, so it may run twice.

-- A closed month's, with rollover off: its purchased tokens that refunds of its purchases found unspent once it
-- closed and left in its granted (they lapsed with it); back to 0 when a refund takes from its holds and lowers
-- its granted by them.
ALTER TABLE tq_account ADD COLUMN IF NOT EXISTS refund_lapsed BIGINT NOT NULL DEFAULT 0;

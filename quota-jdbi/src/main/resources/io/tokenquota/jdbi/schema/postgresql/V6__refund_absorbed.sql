-- token-quota schema, version 6, PostgreSQL 12+: refund_absorbed, how many of the month's allocated tokens are
-- a refund's already-spent part (unrecovered) moved there from its purchased tokens. A plan change sets
-- the allocation from the plan and keeps of these only what the month's use still needs beyond it, so a
-- refund and a plan change end the same in either order. 0 for every month before this version.
-- Released schemas are never edited in place; the statement is IF NOT EXISTS, so it may run twice.
ALTER TABLE tq_account ADD COLUMN IF NOT EXISTS refund_absorbed BIGINT NOT NULL DEFAULT 0;

-- token-quota schema, version 7, PostgreSQL 12+: what a plan change needs to move refunds' takes from closed
-- months onto the purchased tokens it frees (round 318), so a refund and a plan change end the same in
-- either order. Both 0 for every month before this version (no take recorded: nothing to move).
-- Released schemas are never edited in place; the statements are IF NOT EXISTS, so they may run twice.

-- A closed month's: how much refunds' takes from its holds lowered its granted (the take, and its purchased
-- tokens it did not consume, which live in later months), and no plan change gave back yet.
ALTER TABLE tq_account ADD COLUMN IF NOT EXISTS refund_taken BIGINT NOT NULL DEFAULT 0;

-- Of refund_absorbed, the part a refund turned into allowance while an earlier refund's take from a closed
-- month still stood: a plan raise frees tokens for that take before it.
ALTER TABLE tq_account ADD COLUMN IF NOT EXISTS refund_absorbed_behind BIGINT NOT NULL DEFAULT 0;

-- token-quota schema, version 3, PostgreSQL 12+: team budgets. Applied after V1 (and V2); every
-- statement is IF NOT EXISTS, so applying it twice is harmless.
-- A team's monthly accounts are ordinary tq_account rows under the subject E'\x01team:' || team id
-- (Team.subject in the Java API), a name no user subject can take, so the month rules, reports and
-- purchases of users apply to teams unchanged.

-- Which team each user belongs to, synced by the host as it syncs plans; a user without a row has no
-- team. Read by every reserve and consume (the plain statements skip members; the team path reads it).
CREATE TABLE IF NOT EXISTS tq_team_member (
    subject       VARCHAR(128) NOT NULL PRIMARY KEY,
    team_subject  VARCHAR(128) NOT NULL,
    updated_at    TIMESTAMPTZ  NOT NULL
);

-- The team account a hold (or keyed consume) was held against, NULL for a user without a team: its
-- commit, release or expiry settles that team's account even if the user changed teams meanwhile.
ALTER TABLE tq_reservation ADD COLUMN IF NOT EXISTS team_subject VARCHAR(128);
-- A team's open holds, for the sweep of its stale holds before any member's hold is decided.
CREATE INDEX IF NOT EXISTS tq_reservation_open_team ON tq_reservation (team_subject, expires_at)
    WHERE finished_at IS NULL AND team_subject IS NOT NULL;

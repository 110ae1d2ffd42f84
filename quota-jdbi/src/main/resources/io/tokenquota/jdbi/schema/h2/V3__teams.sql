-- token-quota schema, version 3, H2 2.x: team budgets. Applied after V1 (and V2); every statement is
-- IF NOT EXISTS, so applying it twice is harmless.
-- A team's monthly accounts are ordinary tq_account rows under the subject CHAR(1) || 'team:' || team id
-- (Team.subject in the Java API), a name no user subject can take, so the month rules, reports and
-- purchases of users apply to teams unchanged.

-- Which team each user belongs to, synced by the host as it syncs plans; a user without a row has no team.
-- Copied into each account the user opens (tq_account.team_subject), where the holds read it.
CREATE TABLE IF NOT EXISTS tq_team_member (
    subject       VARCHAR(256) NOT NULL PRIMARY KEY,
    team_subject  VARCHAR(256) NOT NULL,
    updated_at    TIMESTAMP(9) WITH TIME ZONE NOT NULL
);

-- The team of the account's owner (NULL: none, and always NULL for a team's own account), kept by the
-- membership sync on the owner's latest account under that row's lock, and copied from tq_team_member
-- when a month's account is created (read under the lock of the account it carries from): so a plain
-- user's reserve checks it on the row it locks anyway, and a member is never granted on its own alone.
ALTER TABLE tq_account ADD COLUMN IF NOT EXISTS team_subject VARCHAR(256);

-- The team account a hold (or keyed consume) was held against, NULL for a user without a team: its
-- commit, release or expiry settles that team's account even if the user changed teams meanwhile.
ALTER TABLE tq_reservation ADD COLUMN IF NOT EXISTS team_subject VARCHAR(256);
-- A team's open holds, for the sweep of its stale holds before any member's hold is decided.
CREATE INDEX IF NOT EXISTS tq_reservation_open_team ON tq_reservation (team_subject, finished_at, expires_at);

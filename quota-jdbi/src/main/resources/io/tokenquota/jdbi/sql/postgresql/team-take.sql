-- A team member's reserve (:consume false) or consume (:consume true), in autocommit: held against (or
-- charged to) the member's account and its team's at once, or nothing at all. The member's account
-- row says which team it is in (membership sync keeps it there); both accounts of the month are locked
-- team first, then the member (the order of every path that locks both, so members never deadlock),
-- and the hold is granted only if, on the rows as locked, the member is still in that team, both
-- accounts are the latest of their owners, both have :tokens available, and neither has a stale hold.
-- Then both balances move, and the hold (which remembers the team) is written, with one event per account
-- for a consume.
-- Anything else (no account yet, a later month, a stale hold, a refusal, no team) returns no row and
-- changes nothing: the store then reads why, on its transaction path. A replayed :key fails the hold's
-- insert, which undoes the whole statement.
-- :month is where the store starts the member's take: the later of its clock's month and the member's
-- latest month as far as it knows (Holds.takeForTeam). The team read below is :month's; when the member
-- has a later account (an instance whose clock is ahead opened it, and membership sync wrote that one),
-- the NOT EXISTS on later months refuses, whatever :month's row says, and the transaction path reads the
-- latest account's team and moves to its month (round 323: it started from the clock's month and spun).
WITH member AS (
    SELECT team_subject AS team
      FROM tq_account
     WHERE subject = :subject AND plan_month = :month AND team_subject IS NOT NULL
), locked AS (
    SELECT a.subject, a.team_subject, a.superseded,
           a.allocated + a.granted + a.carried - a.used - a.reserved AS available
      FROM tq_account AS a JOIN member AS m ON a.subject IN (m.team, :subject)
     WHERE a.plan_month = :month
     -- team first (FALSE sorts first), then the member: rows are locked in this order
     ORDER BY a.subject = :subject
       FOR UPDATE OF a
), decision AS (
    SELECT m.team
      FROM member AS m
     WHERE (SELECT COUNT(*) FROM locked AS l
             WHERE NOT l.superseded AND l.available >= :tokens
               AND (l.subject = m.team OR l.team_subject = m.team)) = 2
       -- OFFSET 0 keeps each NOT EXISTS a probe (the account key; the open-holds indexes of the member
       -- and of the team), never an anti-join against a scan of every account or open hold
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later
                        WHERE later.subject IN (m.team, :subject) AND later.plan_month > :month
                       OFFSET 0)
       AND NOT EXISTS (SELECT 1 FROM tq_reservation AS stale
                        WHERE stale.subject = :subject AND stale.finished_at IS NULL AND stale.expires_at <= :dbNow
                       OFFSET 0)
       AND NOT EXISTS (SELECT 1 FROM tq_reservation AS stale
                        WHERE stale.team_subject = m.team AND stale.finished_at IS NULL
                          AND stale.expires_at <= :dbNow
                       OFFSET 0)
), account AS (
    -- both rows are locked by this statement: the checks above still hold
    UPDATE tq_account AS a
       SET used = a.used + CASE WHEN :consume THEN :tokens ELSE 0 END,
           reserved = a.reserved + CASE WHEN :consume THEN 0 ELSE :tokens END,
           updated_at = :now
      FROM decision AS d
     WHERE a.subject IN (d.team, :subject) AND a.plan_month = :month
    RETURNING a.subject, a.plan_month, a.allocated, a.granted, a.carried, a.used, a.reserved, a.created_at,
              a.updated_at
), ids AS (
    -- a hold's id is two numbers drawn from the event log's sequence, the member's and the team's, joined
    -- by 't' (which also tells its commit to take the team path): the ids its two RESERVED events are
    -- listed under. A hold writes no event (see reserve.sql); a consume keeps :id and logs both events.
    SELECT d.team, CASE WHEN :consume THEN NULL ELSE nextval('tq_event_id_seq') END AS member_number,
           CASE WHEN :consume THEN NULL ELSE nextval('tq_event_id_seq') END AS team_number
      FROM decision AS d
), hold AS (
    -- created_at in the database's clock, as expires_at (see reserve.sql, round 326)
    INSERT INTO tq_reservation (id, subject, plan_month, held, state, charged, actual, overage, idempotency_key,
                                endpoint, is_consume, created_at, expires_at, finished_at, team_subject)
    -- a CASE without ELSE is typed by its THEN alone: cast, so the statement prepares without the driver's types
    SELECT CASE WHEN :consume THEN CAST(:id AS VARCHAR)
                ELSE CAST(i.member_number AS VARCHAR) || 't' || CAST(i.team_number AS VARCHAR) END,
           :subject, :month, :tokens, CASE WHEN :consume THEN 'COMMITTED' ELSE 'HELD' END,
           CASE WHEN :consume THEN :tokens ELSE 0 END, CASE WHEN :consume THEN CAST(:tokens AS BIGINT) END, 0,
           CAST(:key AS VARCHAR), CAST(:endpoint AS VARCHAR), :consume, :dbNow, :expiresAt,
           CASE WHEN :consume THEN CAST(:now AS TIMESTAMPTZ) END, i.team
      FROM ids AS i
    RETURNING id
), event AS (
    -- a consume's events keep the usage it was weighed from (:model and the counts)
    INSERT INTO tq_event (subject, plan_month, kind, tokens, overage, reservation_id, transaction_id, detail,
                          is_consume, occurred_at, model, input_tokens, cached_input_tokens, output_tokens,
                          reasoning_tokens)
    SELECT a.subject, :month, 'COMMITTED', :tokens, 0, :id, NULL, CAST(:endpoint AS VARCHAR), TRUE, :now,
           CAST(:model AS VARCHAR), CAST(:inputTokens AS BIGINT), CAST(:cachedTokens AS BIGINT),
           CAST(:outputTokens AS BIGINT), CAST(:reasoningTokens AS BIGINT)
      FROM account AS a
     WHERE :consume
    RETURNING id, subject
)
-- per account: its consume event's id, or its RESERVED event's (the hold's number for that account)
SELECT a.subject, a.plan_month, a.allocated, a.granted, a.carried, a.used, a.reserved, a.created_at, a.updated_at,
       COALESCE(e.id, CASE WHEN a.subject = i.team THEN i.team_number ELSE i.member_number END) AS event_id,
       h.id AS hold_id
  FROM account AS a CROSS JOIN ids AS i CROSS JOIN hold AS h LEFT JOIN event AS e ON e.subject = a.subject

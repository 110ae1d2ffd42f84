-- Reserves and consumes without idempotency keys of several callers (the store's group commit), in
-- one statement and one commit. A call is a hold when it has an expiry (:expiryList, each hold's
-- expiry in the database's clock, in microseconds since the epoch), a consume when that is NULL. It sums
-- what the calls ask of each subject and moves each subject's account once, by one conditional update
-- that grants all of that subject's calls or none: only if the account (the month's, still its owner's
-- latest, no team, no stale hold) has room for the sum. When it has, each call fits after those before it
-- in queue order (balances only go down by what the calls ask), so granting them all is what running them
-- one after another would do. When it has not, none of that subject's calls has a row back, and each caller
-- runs its call alone, on the path that decides one call at a time and explains refusals; so a subject
-- near the end of its tokens is decided call by call, as it would be without the group commit.
-- The update tests the balance as a single consume does (consume.sql): PostgreSQL tests it on the row as
-- of the statement's snapshot, and again on the newest version of a row another transaction changed
-- meanwhile, so it never grants past the balance; a row that fails on the snapshot only changes nothing,
-- and its calls run alone. The accounts are locked in subject order (`locked`), as the combined finish
-- locks them, so that the two never deadlock: the update's own plan may visit them in the table's order
-- (round 547: a take locking 'b' then 'a' deadlocked with a finish holding 'a'). A team member's row is not
-- locked here (a team's statements lock the team's row before its members'; a plain statement moves neither).
-- It inserts the holds and appends one event per granted consume. Each grant draws one number from the
-- event log's sequence: a consume's event id, or a hold's number (its id, and the id its RESERVED event is
-- listed under: a hold writes no event, see reserve.sql). One row back per granted call (ord, 1-based, and
-- that number as event_id) with its account as the statement left it; a call without a row changed
-- nothing, and its caller runs it alone.
-- Each call is made at its own instant (round 343): :nowList in the policy's clock (its event's time),
-- :dbNowList the same in the database's clock (its hold's creation), microseconds since the epoch; an
-- account's updated_at is its last granted call's. :month is the calls' month (the store sends only calls
-- made in one month), :dbNow the last call's instant, at which no account may have a stale hold.
-- Every list is read through a scalar subquery, so that the planner sees no list's length and keeps one
-- generic plan for every batch instead of planning each anew (docs/storage.md, "One plan per statement").
WITH calls AS (
    SELECT t.ord, t.subject, t.tokens, t.endpoint, t.expiry IS NOT NULL AS is_hold,
           TIMESTAMPTZ 'epoch' + t.expiry * INTERVAL '1 microsecond' AS expires_at,
           TIMESTAMPTZ 'epoch' + t.call_at * INTERVAL '1 microsecond' AS call_at,
           TIMESTAMPTZ 'epoch' + t.call_db_at * INTERVAL '1 microsecond' AS call_db_at
      FROM unnest((SELECT CAST(:subjectList AS VARCHAR[])), (SELECT CAST(:tokenList AS BIGINT[])),
                  (SELECT CAST(:endpointList AS VARCHAR[])), (SELECT CAST(:expiryList AS BIGINT[])),
                  (SELECT CAST(:nowList AS BIGINT[])), (SELECT CAST(:dbNowList AS BIGINT[])))
           WITH ORDINALITY AS t(subject, tokens, endpoint, expiry, call_at, call_db_at, ord)
), sums AS (
    SELECT subject, SUM(CASE WHEN is_hold THEN 0 ELSE tokens END) AS consumed,
           SUM(CASE WHEN is_hold THEN tokens ELSE 0 END) AS held, SUM(tokens) AS total, MAX(call_at) AS last_at
      FROM calls
     GROUP BY subject
), locked AS MATERIALIZED (
    -- the lock (the update below tests every other condition on the rows as it finds them). Every row the
    -- update can move is one of these, and it reaches a row only once this has returned it, so the locks are
    -- taken in ascending subject order whatever order the update's plan visits the rows in (PostgreSQL locks
    -- after the sort, and runs a materialized CTE once)
    SELECT a.subject
      FROM tq_account AS a
     WHERE a.subject = ANY(CAST((SELECT CAST(:subjectList AS VARCHAR[])) AS VARCHAR[])) AND a.plan_month = :month
       AND a.team_subject IS NULL
     ORDER BY a.subject
       FOR UPDATE OF a
), account AS (
    -- the new values and the sum to test from a subquery per row, the rows from the key's index (the
    -- locked subjects, which an init plan lists once `locked` has run), not from a join: a row another
    -- transaction changed since the snapshot (a hot subject's, nearly always) is tested again on its newest
    -- version, and that costs what the update's own plan costs to start
    UPDATE tq_account AS a
       SET (used, reserved, updated_at) = (SELECT a.used + s.consumed, a.reserved + s.held, s.last_at
                                             FROM sums AS s WHERE s.subject = a.subject)
     WHERE a.subject = ANY(ARRAY(SELECT subject FROM locked)) AND a.plan_month = :month
       -- room for every call of the subject at once, on the row as the update finds it (see above)
       AND a.allocated + a.granted + a.carried - a.used - a.reserved
           >= (SELECT s.total FROM sums AS s WHERE s.subject = a.subject)
       -- the same conditions as a single reserve or consume: the subject's latest month, no team (a team
       -- member's holds are held against its team's account too, on the store's team path), no stale hold.
       -- OFFSET 0 keeps each NOT EXISTS a probe per account, by the open-holds index (subject, expiry) and
       -- by the account key: pulled up into an anti-join, it can be planned as a merge or hash against a
       -- scan of every subject's open holds or accounts
       AND NOT a.superseded
       AND a.team_subject IS NULL
       AND NOT EXISTS (SELECT 1 FROM tq_reservation AS stale
                        WHERE stale.subject = a.subject AND stale.finished_at IS NULL AND stale.expires_at <= :dbNow
                       OFFSET 0)
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later WHERE later.subject = a.subject AND later.plan_month > :month
                       OFFSET 0)
    RETURNING a.subject, a.plan_month, a.allocated, a.granted, a.carried, a.used, a.reserved, a.created_at,
              a.updated_at
), accepted AS (
    -- numbers drawn in queue order, so that a subject's events are listed in the order its calls were made
    SELECT x.*, nextval('tq_event_id_seq') AS event_id
      FROM (SELECT c.ord, c.subject, c.tokens, c.endpoint, c.is_hold, c.expires_at, c.call_at, c.call_db_at
              FROM calls AS c JOIN account AS a ON a.subject = c.subject
             ORDER BY c.ord
            OFFSET 0) AS x
), hold AS (
    -- created_at in the database's clock, as expires_at (see reserve.sql, round 326)
    INSERT INTO tq_reservation (id, subject, plan_month, held, state, charged, actual, overage, idempotency_key,
                                endpoint, is_consume, created_at, expires_at, finished_at)
    SELECT CAST(x.event_id AS VARCHAR), x.subject, :month, x.tokens, 'HELD', 0, CAST(NULL AS BIGINT), 0,
           CAST(NULL AS VARCHAR), x.endpoint, FALSE, x.call_db_at, x.expires_at, CAST(NULL AS TIMESTAMPTZ)
      FROM accepted AS x
     WHERE x.is_hold
), event AS (
    INSERT INTO tq_event (id, subject, plan_month, kind, tokens, overage, reservation_id, transaction_id, detail,
                          is_consume, occurred_at)
    SELECT x.event_id, x.subject, :month, 'COMMITTED', x.tokens, 0, CAST(NULL AS VARCHAR), NULL, x.endpoint, TRUE,
           x.call_at
      FROM accepted AS x
     WHERE NOT x.is_hold
     ORDER BY x.ord
)
SELECT a.subject, a.plan_month, a.allocated, a.granted, a.carried, a.used, a.reserved, a.created_at, a.updated_at,
       x.ord, x.event_id
  FROM account AS a JOIN accepted AS x ON x.subject = a.subject
 ORDER BY x.ord

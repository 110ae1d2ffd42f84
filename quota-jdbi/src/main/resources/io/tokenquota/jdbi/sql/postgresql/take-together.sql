-- Reserves and consumes without idempotency keys of several callers (the store's group commit), in
-- one statement and one commit. A call is a hold when it has an expiry (:expiryList, each hold's
-- expiry in the database's clock, in microseconds since the epoch), a consume when that is NULL. It locks the accounts of the month in subject order, walks each subject's calls in queue
-- order granting each one that still fits what the earlier ones left (the check each would make
-- alone), adds each subject's granted consumes to used and its granted holds to reserved, inserts
-- the holds, and appends one event per granted consume. Each grant draws one number from the event
-- log's sequence: a consume's event id, or a hold's number (its id, and the id its RESERVED event is
-- listed under: a hold writes no event, see reserve.sql). One row back per granted call (ord, 1-based,
-- and that number as event_id) with its account as the statement left it; a call without a row changed
-- nothing, and its caller runs it alone.
-- Each call is made at its own instant (round 343): :nowList in the policy's clock (its event's time),
-- :dbNowList the same in the database's clock (its hold's creation), microseconds since the epoch; an
-- account's updated_at is its last granted call's. :month is the calls' month (the store sends only calls
-- made in one month), :dbNow the last call's instant, at which no account may have a stale hold.
WITH RECURSIVE calls AS (
    SELECT t.ord, t.subject, t.tokens, t.endpoint, t.expiry IS NOT NULL AS is_hold,
           TIMESTAMPTZ 'epoch' + t.expiry * INTERVAL '1 microsecond' AS expires_at,
           TIMESTAMPTZ 'epoch' + t.call_at * INTERVAL '1 microsecond' AS call_at,
           TIMESTAMPTZ 'epoch' + t.call_db_at * INTERVAL '1 microsecond' AS call_db_at,
           row_number() OVER (PARTITION BY t.subject ORDER BY t.ord) AS k
      FROM unnest(CAST(:subjectList AS VARCHAR[]), CAST(:tokenList AS BIGINT[]), CAST(:endpointList AS VARCHAR[]),
                  CAST(:expiryList AS BIGINT[]), CAST(:nowList AS BIGINT[]), CAST(:dbNowList AS BIGINT[]))
           WITH ORDINALITY AS t(subject, tokens, endpoint, expiry, call_at, call_db_at, ord)
), locked AS (
    -- in subject order, so that two combined statements never deadlock; the same conditions as a
    -- single reserve or consume (no stale hold, the subject's latest month)
    SELECT a.subject, a.allocated + a.granted + a.carried - a.used - a.reserved AS available
      FROM tq_account AS a
     -- the calls' subjects straight from the parameter, so the key's index finds them whatever the
     -- statistics say (a join to calls can be planned as a scan of the month's accounts)
     -- the list read through a scalar subquery (cast again: ANY over a bare subquery would compare with its rows),
     -- so that the planner does not plan anew for each batch's length
     -- (docs/storage.md, "One plan per statement")
     WHERE a.subject = ANY(CAST((SELECT CAST(:subjectList AS VARCHAR[])) AS VARCHAR[])) AND a.plan_month = :month
       AND NOT a.superseded
       -- OFFSET 0 keeps each NOT EXISTS a probe per account, by the open-holds index (subject, expiry)
       -- and by the account key: pulled up into an anti-join, it can be planned as a merge or hash
       -- against a scan of every subject's open holds or accounts
       AND NOT EXISTS (SELECT 1 FROM tq_reservation AS stale
                        WHERE stale.subject = a.subject AND stale.finished_at IS NULL AND stale.expires_at <= :dbNow
                       OFFSET 0)
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later WHERE later.subject = a.subject AND later.plan_month > :month
                       OFFSET 0)
       -- a team member's holds are held against its team's account too, on the store's team path; the
       -- account row carries its owner's team (membership sync writes it under this row's lock), so the
       -- check is on the row as locked, like the month's
       AND a.team_subject IS NULL
     ORDER BY a.subject
       FOR UPDATE OF a
), walk (subject, k, available, fits) AS (
    SELECT CAST(subject AS VARCHAR), CAST(0 AS BIGINT), available, FALSE FROM locked
    UNION ALL
    SELECT c.subject, c.k,
           CASE WHEN w.available >= c.tokens THEN w.available - c.tokens ELSE w.available END,
           w.available >= c.tokens
      FROM walk AS w JOIN calls AS c ON c.subject = w.subject AND c.k = w.k + 1
), accepted AS (
    SELECT c.ord, c.subject, c.tokens, c.endpoint, c.is_hold, c.expires_at, c.call_at, c.call_db_at,
           nextval('tq_event_id_seq') AS event_id
      FROM walk AS w JOIN calls AS c ON c.subject = w.subject AND c.k = w.k
     WHERE w.fits
), sums AS (
    SELECT subject, SUM(CASE WHEN is_hold THEN 0 ELSE tokens END) AS consumed,
           SUM(CASE WHEN is_hold THEN tokens ELSE 0 END) AS held, SUM(tokens) AS total, MAX(call_at) AS last_at
      FROM accepted
     GROUP BY subject
), account AS (
    -- by the key alone, each row moved from its own columns: PostgreSQL finds the rows to update as of
    -- this statement's snapshot and tests the WHERE on that version first; only a row that passes is
    -- tested again on its newest version (the one locked above). A balance test here would read the
    -- snapshot's balance, older than the one the walk granted against, and drop the row (and with it
    -- the batch, whose holds and events join it) when another transaction freed room in meanwhile. The
    -- walk has checked each sum against its row as locked, and the lock keeps that row until commit.
    UPDATE tq_account AS a SET used = a.used + s.consumed, reserved = a.reserved + s.held, updated_at = s.last_at
      FROM sums AS s
     WHERE a.subject = s.subject AND a.plan_month = :month
       -- a no-op filter (the walked subjects are calls' subjects) that lets the key's index find the rows
       AND a.subject = ANY(CAST((SELECT CAST(:subjectList AS VARCHAR[])) AS VARCHAR[]))
    RETURNING a.subject, a.plan_month, a.allocated, a.granted, a.carried, a.used, a.reserved, a.created_at,
              a.updated_at
), hold AS (
    -- created_at in the database's clock, as expires_at (see reserve.sql, round 326)
    INSERT INTO tq_reservation (id, subject, plan_month, held, state, charged, actual, overage, idempotency_key,
                                endpoint, is_consume, created_at, expires_at, finished_at)
    SELECT CAST(x.event_id AS VARCHAR), x.subject, :month, x.tokens, 'HELD', 0, CAST(NULL AS BIGINT), 0,
           CAST(NULL AS VARCHAR), x.endpoint, FALSE, x.call_db_at, x.expires_at, CAST(NULL AS TIMESTAMPTZ)
      FROM accepted AS x JOIN account AS a ON a.subject = x.subject
     WHERE x.is_hold
), event AS (
    INSERT INTO tq_event (id, subject, plan_month, kind, tokens, overage, reservation_id, transaction_id, detail,
                          is_consume, occurred_at)
    SELECT x.event_id, x.subject, :month, 'COMMITTED', x.tokens, 0, CAST(NULL AS VARCHAR), NULL, x.endpoint, TRUE,
           x.call_at
      FROM accepted AS x JOIN account AS a ON a.subject = x.subject
     WHERE NOT x.is_hold
     ORDER BY x.ord
)
SELECT a.subject, a.plan_month, a.allocated, a.granted, a.carried, a.used, a.reserved, a.created_at, a.updated_at,
       x.ord, x.event_id
  FROM account AS a JOIN accepted AS x ON x.subject = a.subject
 ORDER BY x.ord

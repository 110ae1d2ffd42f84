-- Commits and releases of held holds of several callers (the store's group commit), in one statement
-- and one commit. A call is a commit when it has actual tokens (:actualList), a release when NULL;
-- every id is distinct. Each hold is finished exactly as commit.sql or release.sql would finish it
-- alone, and only if it is a held hold of the subject's latest month; the accounts of the finished
-- holds are then locked in subject order (as every combined statement locks them, so two never
-- deadlock), each moved once by the sum of its holds, and one event appended per finished hold. One
-- row back per finished hold (ord, 1-based) with its account as the statement left it; a call without
-- a row changed nothing, and its caller runs it alone. :capAtHeld is the overrun policy. A commit's usage
-- (:modelList and the count lists, NULL for a release or a commit without one) goes on its event.
-- A key-less hold is deleted, one with an idempotency key keeps its row (see commit.sql).
-- Each call is made at its own instant (round 343): :nowList, in the policy's clock, microseconds since
-- the epoch, is its hold's finished_at and its event's time; an account's updated_at is its last finished
-- call's. :month is the calls' month (the store sends only calls made in one month).
WITH calls AS (
    SELECT t.id, t.actual, t.ord, t.model, t.input_tokens, t.cached_input_tokens, t.output_tokens, t.reasoning_tokens,
           TIMESTAMPTZ 'epoch' + t.call_at * INTERVAL '1 microsecond' AS call_at
      -- every list read through a scalar subquery, so that no plan sees a list's length: one generic plan
      -- serves every batch (docs/storage.md, "One plan per statement")
      FROM unnest((SELECT CAST(:idList AS VARCHAR[])), (SELECT CAST(:actualList AS BIGINT[])),
                  (SELECT CAST(:modelList AS VARCHAR[])), (SELECT CAST(:inputList AS BIGINT[])),
                  (SELECT CAST(:cachedList AS BIGINT[])), (SELECT CAST(:outputList AS BIGINT[])),
                  (SELECT CAST(:reasoningList AS BIGINT[])), (SELECT CAST(:nowList AS BIGINT[])))
           WITH ORDINALITY AS t(id, actual, model, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens,
                                call_at, ord)
), kept AS (
    -- a hold with an idempotency key, or one reserved before schema version 4 (a UUID id), keeps its row
    -- (see commit.sql)
    UPDATE tq_reservation AS r
       SET state = CASE WHEN c.actual IS NULL THEN 'RELEASED' ELSE 'COMMITTED' END,
           charged = CASE WHEN c.actual IS NULL THEN r.charged
                          WHEN :capAtHeld = 1 AND c.actual > r.held THEN r.held ELSE c.actual END,
           actual = CASE WHEN c.actual IS NULL THEN r.actual ELSE c.actual END,
           overage = CASE WHEN c.actual IS NULL THEN r.overage
                          WHEN c.actual > r.held THEN c.actual - r.held ELSE 0 END,
           finished_at = c.call_at
      FROM calls AS c
     -- by its key: state = 'HELD' does not imply the open-holds index's predicate (finished_at IS NULL).
     -- The ids straight from the parameter as well, so the key's index finds the holds whatever the
     -- statistics say: joined to calls alone, an id without statistics matches 1 row in 200, and a
     -- scan of the whole table, each row against every call, was planned instead
     -- the list read through a scalar subquery (cast again: ANY over a bare subquery would compare with its rows),
     -- so that the planner does not plan anew for each batch's length
     -- (docs/storage.md, "One plan per statement")
     WHERE r.id = ANY(CAST((SELECT CAST(:idList AS VARCHAR[])) AS VARCHAR[])) AND r.id = c.id AND r.state = 'HELD'
       AND NOT (r.idempotency_key IS NULL AND strpos(r.id, '-') = 0)
       AND r.plan_month = :month AND NOT r.superseded
       -- a team hold settles its team's account too, on the store's locked path
       AND r.team_subject IS NULL
       -- OFFSET 0: a probe of the account key per hold, never an anti-join against a scan of the accounts
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later WHERE later.subject = r.subject AND later.plan_month > r.plan_month
                       OFFSET 0)
    RETURNING r.id, r.subject, r.plan_month, r.held, r.state, r.charged, r.actual, r.overage, r.idempotency_key,
              r.endpoint, r.is_consume, r.created_at, r.expires_at, r.finished_at, r.team_subject, c.ord, c.model,
              c.input_tokens, c.cached_input_tokens, c.output_tokens, c.reasoning_tokens
), dropped AS (
    -- a key-less hold is deleted: its finishing event, under the hold's number, is its record
    DELETE FROM tq_reservation AS r
     USING calls AS c
     WHERE r.id = ANY(CAST((SELECT CAST(:idList AS VARCHAR[])) AS VARCHAR[])) AND r.id = c.id AND r.state = 'HELD'
       AND r.idempotency_key IS NULL AND strpos(r.id, '-') = 0
       AND r.plan_month = :month AND NOT r.superseded
       AND r.team_subject IS NULL
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later WHERE later.subject = r.subject AND later.plan_month > r.plan_month
                       OFFSET 0)
    -- the row as the update above would have left it
    RETURNING r.id, r.subject, r.plan_month, r.held,
              CAST(CASE WHEN c.actual IS NULL THEN 'RELEASED' ELSE 'COMMITTED' END AS VARCHAR(9)) AS state,
              CASE WHEN c.actual IS NULL THEN r.charged
                   WHEN :capAtHeld = 1 AND c.actual > r.held THEN r.held ELSE c.actual END AS charged,
              CASE WHEN c.actual IS NULL THEN r.actual ELSE c.actual END AS actual,
              CASE WHEN c.actual IS NULL THEN r.overage
                   WHEN c.actual > r.held THEN c.actual - r.held ELSE 0 END AS overage,
              r.idempotency_key, r.endpoint, r.is_consume, r.created_at, r.expires_at,
              c.call_at AS finished_at, r.team_subject, c.ord, c.model,
              c.input_tokens, c.cached_input_tokens, c.output_tokens, c.reasoning_tokens
), hold AS (
    SELECT * FROM kept UNION ALL SELECT * FROM dropped
), sums AS (
    SELECT subject, SUM(CASE WHEN state = 'COMMITTED' THEN charged ELSE 0 END) AS charged, SUM(held) AS held,
           MAX(finished_at) AS last_at
      FROM hold
     GROUP BY subject
), locked AS (
    SELECT a.subject
      FROM tq_account AS a
     WHERE a.subject = ANY(ARRAY(SELECT subject FROM sums)) AND a.plan_month = :month
     ORDER BY a.subject
       FOR UPDATE OF a
), account AS (
    -- the new values from a subquery per row, the rows from the key's index (the subjects an init plan lists),
    -- not from a join: a row another transaction changed since the snapshot (a hot subject's, nearly always)
    -- is evaluated again on its newest version, and that costs what the update's own plan costs to start
    UPDATE tq_account AS a
       SET (used, reserved, updated_at) = (SELECT a.used + s.charged, a.reserved - s.held, s.last_at
                                             FROM sums AS s WHERE s.subject = a.subject)
     WHERE a.subject = ANY(ARRAY(SELECT subject FROM locked)) AND a.plan_month = :month
    RETURNING a.subject, a.allocated AS account_allocated, a.granted AS account_granted,
              a.carried AS account_carried, a.used AS account_used, a.reserved AS account_reserved,
              a.created_at AS account_created_at, a.updated_at AS account_updated_at
), event AS (
    -- each hold's first finishing event records its reserve under the hold's number, and is listed under
    -- logged_id, drawn now (see commit.sql); a hold from before version 4 logs a plain event
    INSERT INTO tq_event (id, logged_id, subject, plan_month, kind, tokens, overage, reservation_id, transaction_id,
                          detail, is_consume, occurred_at, model, input_tokens, cached_input_tokens, output_tokens,
                          reasoning_tokens, held_tokens, held_at, held_until)
    SELECT CASE WHEN strpos(h.id, '-') = 0 THEN CAST(h.id AS BIGINT) ELSE nextval('tq_event_id_seq') END,
           CASE WHEN strpos(h.id, '-') = 0 THEN nextval('tq_event_id_seq') END,
           h.subject, h.plan_month, h.state, CASE WHEN h.state = 'COMMITTED' THEN h.charged ELSE h.held END,
           h.overage, h.id, NULL, h.endpoint, FALSE, h.finished_at, h.model, h.input_tokens, h.cached_input_tokens,
           h.output_tokens, h.reasoning_tokens,
           CASE WHEN strpos(h.id, '-') = 0 THEN h.held END,
           CASE WHEN strpos(h.id, '-') = 0 THEN h.created_at END,
           CASE WHEN strpos(h.id, '-') = 0 THEN h.expires_at END
      FROM hold AS h JOIN account AS a ON a.subject = h.subject
     ORDER BY h.ord
    RETURNING COALESCE(logged_id, id) AS id, reservation_id
)
SELECT h.id, h.subject, h.plan_month, h.held, h.state, h.charged, h.actual, h.overage, h.idempotency_key,
       h.endpoint, h.is_consume, h.created_at, h.expires_at, h.finished_at, h.team_subject, h.ord,
       a.account_allocated, a.account_granted, a.account_carried, a.account_used, a.account_reserved,
       a.account_created_at, a.account_updated_at, e.id AS event_id
  FROM hold AS h JOIN account AS a ON a.subject = h.subject JOIN event AS e ON e.reservation_id = h.id
 ORDER BY h.ord

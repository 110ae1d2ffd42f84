-- Commits and releases of several team members' held holds (the store's group commit for members), in
-- one statement and one commit. A call is a commit when it has actual tokens (:actualList), a release
-- when NULL; every id is distinct. Each hold is finished exactly as team-finish.sql would finish it
-- alone, and only if it is a member's held hold of the latest month of both its accounts; the accounts
-- of the finished holds are then locked teams first, then members, each in subject order (the order of
-- every path that locks a team's row and a member's, so no two deadlock), each moved once by the sum of
-- its holds, and one event appended per finished hold and account. One row back per finished hold (ord,
-- 1-based) with the member's and the team's account as the statement left them and both events' ids; a
-- call without a row changed nothing, and its caller runs it alone. :capAtHeld is the overrun policy. A
-- commit's usage (:modelList and the count lists, NULL for a release or a commit without one) goes on
-- both of its events. A key-less hold is deleted, one with an idempotency key keeps its row (see
-- team-finish.sql).
-- Each call is made at its own instant (round 343): :nowList, in the policy's clock, microseconds since
-- the epoch, is its hold's finished_at and its event's time; an account's updated_at is its last finished
-- call's. :month is the calls' month (the store sends only calls made in one month).
WITH calls AS (
    SELECT t.id, t.actual, t.ord, t.model, t.input_tokens, t.cached_input_tokens, t.output_tokens, t.reasoning_tokens,
           TIMESTAMPTZ 'epoch' + t.call_at * INTERVAL '1 microsecond' AS call_at
      FROM unnest(CAST(:idList AS VARCHAR[]), CAST(:actualList AS BIGINT[]), CAST(:modelList AS VARCHAR[]),
                  CAST(:inputList AS BIGINT[]), CAST(:cachedList AS BIGINT[]), CAST(:outputList AS BIGINT[]),
                  CAST(:reasoningList AS BIGINT[]), CAST(:nowList AS BIGINT[]))
           WITH ORDINALITY AS t(id, actual, model, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens,
                                call_at, ord)
), kept AS (
    -- a hold with an idempotency key, or one reserved before schema version 4 (a UUID id), keeps its row
    -- (see team-finish.sql)
    UPDATE tq_reservation AS r
       SET state = CASE WHEN c.actual IS NULL THEN 'RELEASED' ELSE 'COMMITTED' END,
           charged = CASE WHEN c.actual IS NULL THEN 0
                          WHEN :capAtHeld = 1 AND c.actual > r.held THEN r.held ELSE c.actual END,
           actual = c.actual,
           overage = CASE WHEN c.actual IS NOT NULL AND c.actual > r.held THEN c.actual - r.held ELSE 0 END,
           finished_at = c.call_at
      FROM calls AS c
     -- by its key: state = 'HELD' does not imply the open-holds index's predicate (finished_at IS NULL).
     -- The ids straight from the parameter as well, so the key's index finds the holds whatever the
     -- statistics say (see finish-together.sql)
     -- the list read through a scalar subquery (cast again: ANY over a bare subquery would compare with its rows),
     -- so that the planner does not plan anew for each batch's length
     -- (docs/storage.md, "One plan per statement")
     WHERE r.id = ANY(CAST((SELECT CAST(:idList AS VARCHAR[])) AS VARCHAR[])) AND r.id = c.id AND r.state = 'HELD'
       AND NOT (r.idempotency_key IS NULL AND strpos(r.id, '-') = 0)
       AND r.plan_month = :month AND NOT r.superseded
       AND r.team_subject IS NOT NULL
       -- OFFSET 0: a probe of the account key per hold, never an anti-join against a scan of the accounts
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later
                        WHERE later.subject IN (r.subject, r.team_subject) AND later.plan_month > r.plan_month
                       OFFSET 0)
    RETURNING r.id, r.subject, r.plan_month, r.held, r.state, r.charged, r.actual, r.overage, r.idempotency_key,
              r.endpoint, r.is_consume, r.created_at, r.expires_at, r.finished_at, r.team_subject, c.ord, c.model,
              c.input_tokens, c.cached_input_tokens, c.output_tokens, c.reasoning_tokens
), dropped AS (
    -- a key-less hold is deleted: its finishing events, under the hold's numbers, are its record
    DELETE FROM tq_reservation AS r
     USING calls AS c
     WHERE r.id = ANY(CAST((SELECT CAST(:idList AS VARCHAR[])) AS VARCHAR[])) AND r.id = c.id AND r.state = 'HELD'
       AND r.idempotency_key IS NULL AND strpos(r.id, '-') = 0
       AND r.plan_month = :month AND NOT r.superseded
       AND r.team_subject IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later
                        WHERE later.subject IN (r.subject, r.team_subject) AND later.plan_month > r.plan_month
                       OFFSET 0)
    -- the row as the update above would have left it
    RETURNING r.id, r.subject, r.plan_month, r.held,
              CAST(CASE WHEN c.actual IS NULL THEN 'RELEASED' ELSE 'COMMITTED' END AS VARCHAR(9)) AS state,
              CASE WHEN c.actual IS NULL THEN 0
                   WHEN :capAtHeld = 1 AND c.actual > r.held THEN r.held ELSE c.actual END AS charged,
              c.actual AS actual,
              CASE WHEN c.actual IS NOT NULL AND c.actual > r.held THEN c.actual - r.held ELSE 0 END AS overage,
              r.idempotency_key, r.endpoint, r.is_consume, r.created_at, r.expires_at,
              c.call_at AS finished_at, r.team_subject, c.ord, c.model,
              c.input_tokens, c.cached_input_tokens, c.output_tokens, c.reasoning_tokens
), hold AS (
    SELECT * FROM kept UNION ALL SELECT * FROM dropped
), moves AS (
    -- each finished hold moves its member's account and its team's by the same charge
    SELECT o.subject, o.is_team, h.charged, h.held, h.finished_at
      FROM hold AS h CROSS JOIN LATERAL (VALUES (h.subject, FALSE), (h.team_subject, TRUE)) AS o(subject, is_team)
), sums AS (
    SELECT subject, BOOL_OR(is_team) AS is_team, SUM(charged) AS charged, SUM(held) AS held,
           MAX(finished_at) AS last_at
      FROM moves
     GROUP BY subject
), locked AS (
    SELECT a.subject
      FROM tq_account AS a
     WHERE a.subject = ANY(ARRAY(SELECT subject FROM sums)) AND a.plan_month = :month
     ORDER BY a.subject = ANY(ARRAY(SELECT subject FROM sums WHERE is_team)) DESC, a.subject
       FOR UPDATE OF a
), account AS (
    -- by the key alone, each row moved from its own columns (see team-take-together.sql): every account
    -- of a hold this statement sees existed at its snapshot, and the lock above keeps it until commit,
    -- so none is left unmoved; should one be missing, the statement fails (division by zero) and changes
    -- nothing, rather than commit finished holds whose accounts did not move (as team-finish.sql)
    UPDATE tq_account AS a
       SET (used, reserved, updated_at) = (SELECT a.used + s.charged, a.reserved - s.held, s.last_at
                                             FROM sums AS s WHERE s.subject = a.subject)
     WHERE a.subject = ANY(ARRAY(SELECT subject FROM locked)) AND a.plan_month = :month
       AND 1 / CASE WHEN (SELECT COUNT(*) FROM locked) = (SELECT COUNT(*) FROM sums) THEN 1 ELSE 0 END = 1
    RETURNING a.subject, a.allocated, a.granted, a.carried, a.used, a.reserved, a.created_at, a.updated_at
), event AS (
    -- each account's event records the hold's reserve under that account's number in the hold's id, and
    -- is listed under logged_id, drawn now (see team-finish.sql); a hold from before version 4 logs plain
    -- events
    INSERT INTO tq_event (id, logged_id, subject, plan_month, kind, tokens, overage, reservation_id, transaction_id,
                          detail, is_consume, occurred_at, model, input_tokens, cached_input_tokens, output_tokens,
                          reasoning_tokens, held_tokens, held_at, held_until)
    SELECT CASE WHEN strpos(h.id, '-') > 0 THEN nextval('tq_event_id_seq')
                ELSE CAST(split_part(h.id, 't', o.n + 1) AS BIGINT) END,
           CASE WHEN strpos(h.id, '-') = 0 THEN nextval('tq_event_id_seq') END,
           o.subject, h.plan_month, h.state, CASE WHEN h.state = 'COMMITTED' THEN h.charged ELSE h.held END,
           h.overage, h.id, NULL, h.endpoint, FALSE, h.finished_at, h.model, h.input_tokens, h.cached_input_tokens,
           h.output_tokens, h.reasoning_tokens,
           CASE WHEN strpos(h.id, '-') = 0 THEN h.held END,
           CASE WHEN strpos(h.id, '-') = 0 THEN h.created_at END,
           CASE WHEN strpos(h.id, '-') = 0 THEN h.expires_at END
      FROM hold AS h CROSS JOIN LATERAL (VALUES (h.subject, 0), (h.team_subject, 1)) AS o(subject, n)
      JOIN account AS a ON a.subject = o.subject
     ORDER BY h.ord, o.n
    RETURNING COALESCE(logged_id, id) AS id, subject, reservation_id
)
SELECT h.id, h.subject, h.plan_month, h.held, h.state, h.charged, h.actual, h.overage, h.idempotency_key,
       h.endpoint, h.is_consume, h.created_at, h.expires_at, h.finished_at, h.team_subject, h.ord,
       m.allocated AS account_allocated, m.granted AS account_granted, m.carried AS account_carried,
       m.used AS account_used, m.reserved AS account_reserved, m.created_at AS account_created_at,
       m.updated_at AS account_updated_at,
       t.allocated AS team_allocated, t.granted AS team_granted, t.carried AS team_carried, t.used AS team_used,
       t.reserved AS team_reserved, t.created_at AS team_created_at, t.updated_at AS team_updated_at,
       em.id AS event_id, et.id AS team_event_id
  FROM hold AS h
  JOIN account AS m ON m.subject = h.subject
  JOIN account AS t ON t.subject = h.team_subject
  JOIN event AS em ON em.reservation_id = h.id AND em.subject = h.subject
  JOIN event AS et ON et.reservation_id = h.id AND et.subject = h.team_subject
 ORDER BY h.ord

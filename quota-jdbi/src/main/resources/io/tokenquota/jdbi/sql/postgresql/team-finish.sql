-- A commit (:commit TRUE, :actual set) or release of a team member's held hold of the latest month, in
-- autocommit: the hold's conditional change, then both accounts it was held against (its team's, then
-- the member's, locked in that order as everywhere), moved by the same charge, and one event per
-- account. Opening a new month of either account marks the open holds of both first (holds before
-- accounts), so a hold found HELD and not superseded under its lock keeps both accounts the latest
-- until this commits. Any other hold (a plain one, of an earlier month, finished, none) gets no row and
-- changes nothing: the store then reads it and finishes it in a transaction that locks its months.
-- :capAtHeld is the overrun policy (1: charge at most the hold, 0: the actual tokens).
-- A hold without an idempotency key is deleted, as commit.sql deletes a plain one: nothing can retry its
-- reserve, and its two finishing events, whose ids are its numbers (the member's, the team's), are its
-- record from now on (found by the event log's id index). A hold with a key keeps its row, updated, so
-- that a retry of its reserve finds it; so does a hold reserved before schema version 4 (a UUID id). The
-- two changes below exclude each other: one of them finds the hold.
WITH kept AS (
    UPDATE tq_reservation
       SET state = CASE WHEN :commit THEN 'COMMITTED' ELSE 'RELEASED' END,
           charged = CASE WHEN NOT :commit THEN 0
                          WHEN :capAtHeld = 1 AND CAST(:actual AS BIGINT) > held THEN held
                          ELSE CAST(:actual AS BIGINT) END,
           actual = CAST(:actual AS BIGINT),
           overage = CASE WHEN :commit AND CAST(:actual AS BIGINT) > held THEN CAST(:actual AS BIGINT) - held
                          ELSE 0 END,
           finished_at = :now
     -- by its key: state = 'HELD' does not imply the open-holds index's predicate (finished_at IS NULL)
     WHERE id = :id AND state = 'HELD'
       AND NOT (idempotency_key IS NULL AND strpos(id, '-') = 0)
       AND plan_month = :month AND NOT superseded
       AND team_subject IS NOT NULL
       -- OFFSET 0: a probe of the account key, never an anti-join against a scan of the accounts
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later
                        WHERE later.subject IN (tq_reservation.subject, tq_reservation.team_subject)
                          AND later.plan_month > tq_reservation.plan_month
                       OFFSET 0)
    RETURNING id, subject, plan_month, held, state, charged, actual, overage, idempotency_key, endpoint, is_consume,
              created_at, expires_at, finished_at, team_subject
), dropped AS (
    DELETE FROM tq_reservation
     WHERE id = :id AND state = 'HELD'
       AND idempotency_key IS NULL AND strpos(id, '-') = 0
       AND plan_month = :month AND NOT superseded
       AND team_subject IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later
                        WHERE later.subject IN (tq_reservation.subject, tq_reservation.team_subject)
                          AND later.plan_month > tq_reservation.plan_month
                       OFFSET 0)
    -- the row as the update above would have left it
    RETURNING id, subject, plan_month, held,
              CAST(CASE WHEN :commit THEN 'COMMITTED' ELSE 'RELEASED' END AS VARCHAR(9)) AS state,
              CASE WHEN NOT :commit THEN 0
                   WHEN :capAtHeld = 1 AND CAST(:actual AS BIGINT) > held THEN held
                   ELSE CAST(:actual AS BIGINT) END AS charged,
              CAST(:actual AS BIGINT) AS actual,
              CASE WHEN :commit AND CAST(:actual AS BIGINT) > held THEN CAST(:actual AS BIGINT) - held
                   ELSE 0 END AS overage,
              idempotency_key, endpoint, is_consume, created_at, expires_at, CAST(:now AS TIMESTAMPTZ) AS finished_at,
              team_subject
), hold AS (
    SELECT * FROM kept UNION ALL SELECT * FROM dropped
), locked AS (
    SELECT a.subject
      FROM tq_account AS a JOIN hold AS h ON a.subject IN (h.team_subject, h.subject) AND a.plan_month = h.plan_month
     -- team first (FALSE sorts first), then the member: rows are locked in this order
     ORDER BY a.subject = h.subject
       FOR UPDATE OF a
), account AS (
    UPDATE tq_account AS a SET used = a.used + h.charged, reserved = a.reserved - h.held, updated_at = :now
      FROM hold AS h
     -- a found hold moves both accounts or the statement fails (division by zero) and changes nothing:
     -- the hold's row is gone or finished once this commits, so it must never commit with one account
     -- or none moved (a hold implies both accounts exist; this makes that an error, not a lost hold)
     WHERE 1 / CASE WHEN (SELECT COUNT(*) FROM locked) = 2 * (SELECT COUNT(*) FROM hold) THEN 1 ELSE 0 END = 1
       AND a.subject IN (h.team_subject, h.subject) AND a.plan_month = h.plan_month
    RETURNING a.subject, a.allocated AS account_allocated, a.granted AS account_granted,
              a.carried AS account_carried, a.used AS account_used, a.reserved AS account_reserved,
              a.created_at AS account_created_at, a.updated_at AS account_updated_at
), event AS (
    -- a commit's events keep the usage it was weighed from (:model and the counts; all NULL for a release).
    -- Each account's event is the hold's first finishing event there and records its reserve, under that
    -- account's number in the hold's id (the member's before the 't', the team's after it) as its id,
    -- listed under logged_id, drawn now (see commit.sql); a hold from before version 4 logs plain events.
    INSERT INTO tq_event (id, logged_id, subject, plan_month, kind, tokens, overage, reservation_id, transaction_id,
                          detail, is_consume, occurred_at, model, input_tokens, cached_input_tokens, output_tokens,
                          reasoning_tokens, held_tokens, held_at, held_until)
    SELECT CASE WHEN strpos(h.id, '-') > 0 THEN nextval('tq_event_id_seq')
                ELSE CAST(split_part(h.id, 't', CASE WHEN a.subject = h.subject THEN 1 ELSE 2 END) AS BIGINT) END,
           CASE WHEN strpos(h.id, '-') = 0 THEN nextval('tq_event_id_seq') END,
           a.subject, h.plan_month, CASE WHEN :commit THEN 'COMMITTED' ELSE 'RELEASED' END,
           CASE WHEN :commit THEN h.charged ELSE h.held END, h.overage, h.id, NULL, h.endpoint, FALSE, :now,
           CAST(:model AS VARCHAR), CAST(:inputTokens AS BIGINT), CAST(:cachedTokens AS BIGINT),
           CAST(:outputTokens AS BIGINT), CAST(:reasoningTokens AS BIGINT),
           CASE WHEN strpos(h.id, '-') = 0 THEN h.held END,
           CASE WHEN strpos(h.id, '-') = 0 THEN h.created_at END,
           CASE WHEN strpos(h.id, '-') = 0 THEN h.expires_at END
      FROM hold AS h JOIN account AS a ON TRUE
    RETURNING COALESCE(logged_id, id) AS id, subject
)
SELECT h.*, a.subject AS account_subject, a.account_allocated, a.account_granted, a.account_carried,
       a.account_used, a.account_reserved, a.account_created_at, a.account_updated_at, e.id AS event_id
  FROM hold AS h JOIN account AS a ON TRUE JOIN event AS e ON e.subject = a.subject

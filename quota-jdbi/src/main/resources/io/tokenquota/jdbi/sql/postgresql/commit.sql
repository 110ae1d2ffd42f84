-- A commit of a held hold of the subject's latest month, in autocommit: the hold's conditional change,
-- then the account and the COMMITTED event, only from the row that change returns. Any other hold (one
-- of an earlier month, a finished one, none) gets no row and changes nothing: the store then reads it
-- and finishes it in a transaction that locks its months. :capAtHeld is the overrun policy (1: charge
-- at most the hold, 0: charge the actual tokens). The event keeps the usage the charge was weighed from
-- (:model and the counts, all NULL for a commit without one).
-- A hold without an idempotency key is deleted: nothing can retry its reserve, and its COMMITTED event,
-- whose id is the hold's number, is its record from now on (found by the event log's id index). A hold
-- with a key keeps its row, updated, so that a retry of its reserve finds it; so does a hold reserved
-- before schema version 4 (its id is a UUID, not a number), whose RESERVED event is a row of its own.
-- The two changes below exclude each other: one of them finds the hold.
WITH kept AS (
    UPDATE tq_reservation
       SET state = 'COMMITTED',
           charged = CASE WHEN :capAtHeld = 1 AND :actual > held THEN held ELSE :actual END,
           actual = :actual,
           overage = CASE WHEN :actual > held THEN :actual - held ELSE 0 END,
           finished_at = :now
     -- by its key: state = 'HELD' does not imply the open-holds index's predicate (finished_at IS NULL)
     WHERE id = :id AND state = 'HELD'
       AND NOT (idempotency_key IS NULL AND strpos(id, '-') = 0)
       AND plan_month = :month AND NOT superseded
       -- a team hold settles its team's account too, on the store's locked path
       AND team_subject IS NULL
       -- OFFSET 0: a probe of the account key, never an anti-join against a scan of the accounts
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later
                        WHERE later.subject = tq_reservation.subject AND later.plan_month > tq_reservation.plan_month
                       OFFSET 0)
    RETURNING id, subject, plan_month, held, state, charged, actual, overage, idempotency_key, endpoint, is_consume,
              created_at, expires_at, finished_at, team_subject
), dropped AS (
    DELETE FROM tq_reservation
     WHERE id = :id AND state = 'HELD'
       AND idempotency_key IS NULL AND strpos(id, '-') = 0
       AND plan_month = :month AND NOT superseded
       AND team_subject IS NULL
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later
                        WHERE later.subject = tq_reservation.subject AND later.plan_month > tq_reservation.plan_month
                       OFFSET 0)
    -- the row as the update above would have left it
    RETURNING id, subject, plan_month, held, CAST('COMMITTED' AS VARCHAR(9)) AS state,
              CASE WHEN :capAtHeld = 1 AND :actual > held THEN held ELSE CAST(:actual AS BIGINT) END AS charged,
              CAST(:actual AS BIGINT) AS actual,
              CASE WHEN :actual > held THEN :actual - held ELSE 0 END AS overage, idempotency_key, endpoint,
              is_consume, created_at, expires_at, CAST(:now AS TIMESTAMPTZ) AS finished_at, team_subject
), hold AS (
    SELECT * FROM kept UNION ALL SELECT * FROM dropped
), account AS (
    UPDATE tq_account AS a SET used = a.used + hold.charged, reserved = a.reserved - hold.held, updated_at = :now
      FROM hold
     WHERE a.subject = hold.subject AND a.plan_month = hold.plan_month
    RETURNING a.allocated AS account_allocated, a.granted AS account_granted, a.carried AS account_carried,
              a.used AS account_used, a.reserved AS account_reserved, a.created_at AS account_created_at,
              a.updated_at AS account_updated_at
), event AS (
    -- the hold's first finishing event records its reserve (held_tokens, held_at, held_until: both instants
    -- in the database's clock, as the hold's row keeps them since round 326) under the
    -- hold's number as its id, and is itself listed under logged_id, drawn now, so that the log reads in
    -- the order things happened; a hold from before version 4 logs a plain event (its RESERVED row exists)
    INSERT INTO tq_event (id, logged_id, subject, plan_month, kind, tokens, overage, reservation_id, transaction_id,
                          detail, is_consume, occurred_at, model, input_tokens, cached_input_tokens, output_tokens,
                          reasoning_tokens, held_tokens, held_at, held_until)
    SELECT CASE WHEN strpos(hold.id, '-') = 0 THEN CAST(hold.id AS BIGINT) ELSE nextval('tq_event_id_seq') END,
           CASE WHEN strpos(hold.id, '-') = 0 THEN nextval('tq_event_id_seq') END,
           hold.subject, hold.plan_month, 'COMMITTED', hold.charged, hold.overage, hold.id, NULL, hold.endpoint,
           FALSE, :now, CAST(:model AS VARCHAR), CAST(:inputTokens AS BIGINT), CAST(:cachedTokens AS BIGINT),
           CAST(:outputTokens AS BIGINT), CAST(:reasoningTokens AS BIGINT),
           CASE WHEN strpos(hold.id, '-') = 0 THEN hold.held END,
           CASE WHEN strpos(hold.id, '-') = 0 THEN hold.created_at END,
           CASE WHEN strpos(hold.id, '-') = 0 THEN hold.expires_at END
      FROM hold JOIN account ON TRUE
    RETURNING COALESCE(logged_id, id) AS id
)
SELECT hold.*, account.*, event.id AS event_id
  FROM hold, account, event

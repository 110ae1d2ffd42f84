-- A consume with an idempotency key, in autocommit: as a key-less consume, but it also keeps a
-- COMMITTED reservation row under its key, so that a retry with the key finds it (the unique
-- (subject, idempotency_key) index makes a concurrent second insert fail, and the store answers it as
-- the replay).
WITH account AS (
    UPDATE tq_account SET used = used + :tokens, updated_at = :now
     WHERE subject = :subject AND plan_month = :month
       AND allocated + granted + carried - used - reserved >= :tokens
       -- a subject with a hold past its TTL changes nothing: the store sweeps it, then tries again
       AND NOT EXISTS (SELECT 1 FROM tq_reservation AS stale
                        WHERE stale.subject = :subject AND stale.finished_at IS NULL AND stale.expires_at <= :dbNow)
       -- a month that is no longer the subject's latest changes nothing: the store writes in the latest
       AND NOT superseded
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later WHERE later.subject = :subject AND later.plan_month > :month)
       -- a team member's holds are held against its team's account too, on the store's team path; the
       -- account row carries its owner's team (membership sync writes it under this row's lock), so the
       -- check is on the row as locked, like the month's
       AND team_subject IS NULL
    RETURNING subject, plan_month, allocated, granted, carried, used, reserved, created_at, updated_at
), hold AS (
    -- created_at in the database's clock, as expires_at (see reserve.sql, round 326)
    INSERT INTO tq_reservation (id, subject, plan_month, held, state, charged, actual, overage, idempotency_key,
                                endpoint, is_consume, created_at, expires_at, finished_at)
    SELECT :id, :subject, :month, :tokens, 'COMMITTED', :tokens, :tokens, 0, CAST(:key AS VARCHAR),
           CAST(:endpoint AS VARCHAR), TRUE, :dbNow, :expiresAt, :now
      FROM account
), event AS (
    INSERT INTO tq_event (subject, plan_month, kind, tokens, overage, reservation_id, transaction_id, detail,
                          is_consume, occurred_at, model, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens)
    SELECT :subject, :month, 'COMMITTED', :tokens, 0, :id, NULL, CAST(:endpoint AS VARCHAR), TRUE, :now, CAST(:model AS VARCHAR), CAST(:inputTokens AS BIGINT), CAST(:cachedTokens AS BIGINT),
           CAST(:outputTokens AS BIGINT), CAST(:reasoningTokens AS BIGINT)
      FROM account
    RETURNING id
)
SELECT subject, plan_month, allocated, granted, carried, used, reserved, created_at, updated_at,
       event.id AS event_id
  FROM account, event

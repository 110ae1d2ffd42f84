-- A consume without an idempotency key, in autocommit: the account's conditional update, then its
-- COMMITTED event, appended only from the row that update returns (a refusal writes nothing). No
-- reservation row: nothing can retry a key-less consume, so the event is its record and the event's
-- id the id it is handed out under. The account's row lock is held from the update to the
-- statement's own commit.
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
), event AS (
    INSERT INTO tq_event (subject, plan_month, kind, tokens, overage, reservation_id, transaction_id, detail,
                          is_consume, occurred_at, model, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens)
    SELECT :subject, :month, 'COMMITTED', :tokens, 0, NULL, NULL, CAST(:endpoint AS VARCHAR), TRUE, :now, CAST(:model AS VARCHAR), CAST(:inputTokens AS BIGINT), CAST(:cachedTokens AS BIGINT),
           CAST(:outputTokens AS BIGINT), CAST(:reasoningTokens AS BIGINT)
      FROM account
    RETURNING id
)
SELECT subject, plan_month, allocated, granted, carried, used, reserved, created_at, updated_at,
       event.id AS event_id
  FROM account, event

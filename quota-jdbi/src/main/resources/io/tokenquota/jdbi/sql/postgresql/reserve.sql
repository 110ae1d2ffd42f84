-- A reserve, in autocommit: the account's conditional update, then the hold, inserted only from the row
-- that update returns (a refusal writes nothing). The account's row lock is held from the update to the
-- statement's own commit. No event row: the hold's number, drawn here from the event log's sequence,
-- is its id and the id its RESERVED event is listed under; the event that finishes the hold records the
-- reserve (schema version 4), and until then the hold's row is its record.
WITH account AS (
    UPDATE tq_account SET reserved = reserved + :tokens, updated_at = :now
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
), numbered AS (
    -- one number per granted hold; a refusal draws none
    SELECT nextval('tq_event_id_seq') AS number FROM account
), hold AS (
    -- created_at and expires_at are both in the database's clock (:dbNow, :expiresAt), so the hold's life is
    -- their difference whichever instance reads it (round 326: created_at was the creating instance's
    -- clock, and an instance whose clock lags 90 s saw a 5-minute hold live 3.5 minutes)
    INSERT INTO tq_reservation (id, subject, plan_month, held, state, charged, actual, overage, idempotency_key,
                                endpoint, is_consume, created_at, expires_at, finished_at)
    SELECT CAST(numbered.number AS VARCHAR), :subject, :month, :tokens, 'HELD', 0, CAST(NULL AS BIGINT), 0,
           CAST(:key AS VARCHAR), CAST(:endpoint AS VARCHAR), FALSE, :dbNow, :expiresAt, CAST(NULL AS TIMESTAMPTZ)
      FROM numbered
)
SELECT subject, plan_month, allocated, granted, carried, used, reserved, created_at, updated_at,
       numbered.number AS event_id
  FROM account, numbered

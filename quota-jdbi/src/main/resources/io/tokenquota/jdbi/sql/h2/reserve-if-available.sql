-- A reserve's last statement, in the transaction that inserted the hold and its event before it: the
-- account's conditional update, so its row lock is held for one statement and the commit. No row:
-- nothing granted, and the store rolls the transaction back.
SELECT subject, plan_month, allocated, granted, carried, used, reserved, created_at, updated_at
  FROM FINAL TABLE (
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
  )

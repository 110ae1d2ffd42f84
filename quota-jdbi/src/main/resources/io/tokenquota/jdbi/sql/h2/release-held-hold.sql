-- A release's first statement: the conditional update of a held hold of the subject's latest month,
-- handing back the row (then the event and the account's return of the hold follow in the same
-- transaction). Any other hold gets no row and changes nothing (see commit-held-hold.sql).
SELECT id, subject, plan_month, held, state, charged, actual, overage, idempotency_key, endpoint, is_consume,
       created_at, expires_at, finished_at, team_subject
  FROM FINAL TABLE (
    UPDATE tq_reservation SET state = 'RELEASED', finished_at = :now
     WHERE id = :id AND state = 'HELD'
       AND plan_month = :month AND NOT superseded
       -- a team hold settles its team's account too, on the store's locked path
       AND team_subject IS NULL
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later
                        WHERE later.subject = tq_reservation.subject AND later.plan_month > tq_reservation.plan_month)
  )

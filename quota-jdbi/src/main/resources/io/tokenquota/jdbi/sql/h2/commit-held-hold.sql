-- A commit's first statement: the conditional update of a held hold of the subject's latest month,
-- handing back the row (then the event and charge-hold.sql follow in the same transaction). Any other
-- hold gets no row and changes nothing: the store then reads it and finishes it in a transaction that
-- locks its months. :capAtHeld is the overrun policy (1: charge at most the hold, 0: the actual tokens).
SELECT id, subject, plan_month, held, state, charged, actual, overage, idempotency_key, endpoint, is_consume,
       created_at, expires_at, finished_at, team_subject
  FROM FINAL TABLE (
    UPDATE tq_reservation
       SET state = 'COMMITTED',
           charged = CASE WHEN :capAtHeld = 1 AND :actual > held THEN held ELSE :actual END,
           actual = :actual,
           overage = CASE WHEN :actual > held THEN :actual - held ELSE 0 END,
           finished_at = :now
     WHERE id = :id AND state = 'HELD'
       AND plan_month = :month AND NOT superseded
       -- a team hold settles its team's account too, on the store's locked path
       AND team_subject IS NULL
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later
                        WHERE later.subject = tq_reservation.subject AND later.plan_month > tq_reservation.plan_month)
  )

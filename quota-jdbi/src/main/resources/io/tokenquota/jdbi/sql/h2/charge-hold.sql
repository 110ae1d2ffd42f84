-- A commit's last statement: the committed hold's charge moves from reserved to used on its month's
-- account, unless that month was superseded meanwhile (no row: the store rolls back and finishes the
-- hold in the transaction that locks both months).
SELECT subject, plan_month, allocated, granted, carried, used, reserved, created_at, updated_at
  FROM FINAL TABLE (
    UPDATE tq_account SET used = used + :charged, reserved = reserved - :held, updated_at = :now
     WHERE subject = :subject AND plan_month = :month AND NOT superseded
  )

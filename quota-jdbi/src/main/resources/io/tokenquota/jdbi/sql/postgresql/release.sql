-- A release of a held hold of the subject's latest month, in autocommit: the hold's conditional
-- update, then the account and the RELEASED event, only from the row that update returns. Any other
-- hold gets no row and changes nothing (see commit.sql).
WITH hold AS (
    UPDATE tq_reservation SET state = 'RELEASED', finished_at = :now
     -- by its key: state = 'HELD' does not imply the open-holds index's predicate (finished_at IS NULL)
     WHERE id = :id AND state = 'HELD'
       AND plan_month = :month AND NOT superseded
       -- a team hold settles its team's account too, on the store's locked path
       AND team_subject IS NULL
       -- OFFSET 0: a probe of the account key, never an anti-join against a scan of the accounts
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later
                        WHERE later.subject = tq_reservation.subject AND later.plan_month > tq_reservation.plan_month
                       OFFSET 0)
    RETURNING id, subject, plan_month, held, state, charged, actual, overage, idempotency_key, endpoint, is_consume,
              created_at, expires_at, finished_at, team_subject
), account AS (
    UPDATE tq_account AS a SET reserved = a.reserved - hold.held, updated_at = :now
      FROM hold
     WHERE a.subject = hold.subject AND a.plan_month = hold.plan_month
    RETURNING a.allocated AS account_allocated, a.granted AS account_granted, a.carried AS account_carried,
              a.used AS account_used, a.reserved AS account_reserved, a.created_at AS account_created_at,
              a.updated_at AS account_updated_at
), event AS (
    INSERT INTO tq_event (subject, plan_month, kind, tokens, overage, reservation_id, transaction_id, detail,
                          is_consume, occurred_at)
    SELECT hold.subject, hold.plan_month, 'RELEASED', hold.held, hold.overage, hold.id, NULL, hold.endpoint,
           FALSE, :now
      FROM hold JOIN account ON TRUE
    RETURNING id
)
SELECT hold.*, account.*, event.id AS event_id
  FROM hold, account, event

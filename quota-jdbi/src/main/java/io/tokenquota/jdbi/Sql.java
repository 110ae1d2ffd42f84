package io.tokenquota.jdbi;

import static io.tokenquota.jdbi.Rows.ACCOUNT_COLUMNS;
import static io.tokenquota.jdbi.Rows.EVENT_COLUMNS;
import static io.tokenquota.jdbi.Rows.PURCHASE_COLUMNS;
import static io.tokenquota.jdbi.Rows.RESERVATION_COLUMNS;

/**
 * Every SQL statement the store runs, for one dialect, named after what it does. The two dialects
 * differ only in how an {@code UPDATE} hands back the row it changed ({@code RETURNING} on
 * PostgreSQL, {@code FINAL TABLE} on H2), how a row is inserted if absent, and collation.
 *
 * <p>Lock discipline: on the hot path every statement that changes a balance is one conditional
 * {@code UPDATE} of one {@code tq_account} row, and it is the last statement of its transaction, so
 * the row lock is held from that statement to the commit and never across a round trip to the
 * application. The {@code lock...} statements serve the rare changes that span months (a first touch,
 * a hold finished after its month, a refund), which lock a hold or purchase, then accounts by month
 * ascending (see {@code SqlQuotaStore}).
 * Not API. Immutable.
 */
final class Sql {
    private static final String ACCOUNT_KEY = " WHERE subject = :subject AND plan_month = :month";
    private static final String HAS_AVAILABLE = " AND allocated + granted + carried - used - reserved >= :tokens";
    /**
     * A reserve or consume goes ahead only when the subject has no hold past its TTL; otherwise it
     * changes nothing, and the store sweeps those holds (returning their tokens) and tries again.
     */
    private static final String NO_STALE_HOLD = " AND NOT EXISTS (SELECT 1 FROM tq_reservation AS stale"
            + " WHERE stale.subject = :subject AND stale.finished_at IS NULL AND stale.expires_at <= :dbNow)";
    /**
     * The fast way to finish a hold applies only to a hold of the current month that is its subject's
     * latest account: finishing any other hold moves purchased tokens to the latest account, which
     * {@code Holds.finishLocked} does in a transaction that locks both months.
     */
    private static final String OF_LATEST_MONTH = " AND plan_month = :month AND NOT superseded"
            + " AND NOT EXISTS (SELECT 1 FROM tq_account"
            + " AS later WHERE later.subject = tq_reservation.subject AND later.plan_month > tq_reservation.plan_month)";
    /**
     * A subject's months never go backwards: a reserve or consume of a month that is no longer the
     * subject's latest (an instance whose clock lags behind the one that opened the next month)
     * changes nothing, and the store retries it in the latest month.
     */
    private static final String NO_LATER_MONTH = " AND NOT superseded AND NOT EXISTS (SELECT 1 FROM tq_account AS later"
            + " WHERE later.subject = :subject AND later.plan_month > :month)";
    private static final String FOR_UPDATE = " FOR UPDATE";
    /**
     * The month's account is still the subject's latest. Opening the next month sets {@code superseded}
     * on the earlier accounts and open holds while it holds their row locks, so a write that waited for
     * one of those locks re-checks this condition on the row as it is now and matches nothing; the
     * store then writes in the newer month (or, for a hold, moves its purchased tokens there).
     */
    private static final String CURRENT = " AND NOT superseded";

    /*
     * Open holds are found by "finished_at IS NULL", the predicate of the partial index of open holds,
     * and a hold is finished by id with "state = 'HELD'", which does not imply it: a commit or release
     * must reach its hold through the key, never through that index, whose dead entries (every
     * finished hold's, until a vacuum) it would otherwise scan. A hold is HELD exactly while
     * finished_at is NULL.
     */
    final Dialect dialect;

    // ---- accounts
    final String selectAccount = "SELECT " + ACCOUNT_COLUMNS + " FROM tq_account" + ACCOUNT_KEY;
    final String selectSuperseded = "SELECT superseded FROM tq_account" + ACCOUNT_KEY;
    /** A month's first touch marks the subject's open holds of earlier months first (holds before accounts). */
    final String supersedeHolds = "UPDATE tq_reservation SET superseded = TRUE WHERE subject = :subject"
            + " AND plan_month < :month AND finished_at IS NULL AND NOT superseded";
    final String supersedeAccounts = "UPDATE tq_account SET superseded = TRUE WHERE subject = :subject"
            + " AND plan_month < :month AND NOT superseded";
    /** The subject's account of {@code :month} or of a later month, the latest: where its writes land. */
    final String selectLatestAccountFrom = "SELECT " + ACCOUNT_COLUMNS + " FROM tq_account"
            + " WHERE subject = :subject AND plan_month >= :month ORDER BY plan_month DESC FETCH FIRST 1 ROWS ONLY";
    /** A month's first touch locks the account it carries from, so a late finish cannot change it meanwhile. */
    final String lockLatestAccountBefore = "SELECT " + ACCOUNT_COLUMNS + " FROM tq_account"
            + " WHERE subject = :subject AND plan_month < :month ORDER BY plan_month DESC FETCH FIRST 1 ROWS ONLY"
            + FOR_UPDATE;
    /** The account a late finish of a hold of {@code :month} moves purchased tokens to, locked; none if it is the latest. */
    final String lockLatestAccountAfter = "SELECT " + ACCOUNT_COLUMNS + " FROM tq_account"
            + " WHERE subject = :subject AND plan_month > :month ORDER BY plan_month DESC FETCH FIRST 1 ROWS ONLY"
            + FOR_UPDATE;
    final String lockAccount = "SELECT " + ACCOUNT_COLUMNS + " FROM tq_account" + ACCOUNT_KEY + FOR_UPDATE;
    /** A refund's accounts, locked in month order: the current month and the closed months that still hold tokens. */
    final String lockRefundableAccounts = "SELECT " + ACCOUNT_COLUMNS + " FROM tq_account WHERE subject = :subject"
            + " AND (plan_month = :month OR (plan_month < :month AND reserved > 0)) ORDER BY plan_month" + FOR_UPDATE;
    /** Writes a locked account's balance as computed by {@code LedgerRules}. */
    final String setAccountBalance;
    /** Moves purchased tokens to or from a locked account's {@code carried}. */
    final String addCarried;
    final String selectHistory = "SELECT " + ACCOUNT_COLUMNS + " FROM tq_account"
            + " WHERE subject = :subject AND plan_month >= :oldest AND plan_month <= :month ORDER BY plan_month DESC";
    final String insertAccountIfAbsent;
    /** Grants a hold only if that many tokens are available at this instant. */
    final String reserveIfAvailable;
    /** Charges a one-step consume only if that many tokens are available at this instant. */
    final String consumeIfAvailable;
    /** Charges a committed hold of the latest month to it and frees the hold. */
    final String chargeHold;
    /** Frees a released or expired hold. */
    final String returnHold;
    /** Credits granted tokens unless the month's limit would pass the max quota. */
    final String creditIfUnderMaxQuota;
    /** Sets the month's allocation; compare-and-set on the values the new allocation was computed from. */
    final String allocateIfUnchanged;
    final String selectTopConsumers;

    // ---- plans
    final String selectPlan = "SELECT allocated FROM tq_plan WHERE subject = :subject";
    final String upsertPlan;

    // ---- reservations
    final String insertReservation = "INSERT INTO tq_reservation (id, subject, plan_month, held, state, charged,"
            + " actual, overage, idempotency_key, endpoint, is_consume, created_at, expires_at, finished_at)"
            + " VALUES (:id, :subject, :month, :held, :state, :charged, :actual, 0, :key, :endpoint, :consume,"
            + " :now, :expiresAt, :finishedAt)";
    final String selectReservation = "SELECT " + RESERVATION_COLUMNS + " FROM tq_reservation WHERE id = :id";
    /**
     * A consume without an idempotency key keeps no reservation row: its COMMITTED event is its
     * record, and the event's id the id it was handed out under.
     */
    final String selectKeylessConsume = "SELECT id, subject, plan_month, tokens, detail, occurred_at FROM tq_event"
            + " WHERE id = :id AND kind = 'COMMITTED' AND is_consume AND reservation_id IS NULL";
    final String selectReservationByKey = "SELECT " + RESERVATION_COLUMNS + " FROM tq_reservation"
            + " WHERE subject = :subject AND idempotency_key = :key";
    final String lockReservation = "SELECT " + RESERVATION_COLUMNS + " FROM tq_reservation WHERE id = :id" + FOR_UPDATE;
    final String selectStaleHoldsOfSubject = "SELECT " + RESERVATION_COLUMNS + " FROM tq_reservation"
            + " WHERE subject = :subject AND finished_at IS NULL AND expires_at <= :dbNow";
    /** Served by the partial index of open holds. */
    final String countOpenHolds = "SELECT COUNT(*) FROM tq_reservation WHERE finished_at IS NULL";
    final String selectStaleHolds = "SELECT " + RESERVATION_COLUMNS + " FROM tq_reservation"
            + " WHERE finished_at IS NULL AND expires_at <= :dbNow";
    /**
     * Why a reserve/consume changed nothing, in one round trip: the account's available tokens
     * (NULL when the month's account does not exist yet), and how many stale holds the subject has.
     */
    final String probeSubject = "SELECT"
            + " (SELECT allocated + granted + carried - used - reserved FROM tq_account" + ACCOUNT_KEY + ") AS available,"
            + " (SELECT MAX(plan_month) FROM tq_account WHERE subject = :subject AND plan_month > :month) AS later_month,"
            + " (SELECT COUNT(*) FROM tq_reservation"
            + " WHERE subject = :subject AND finished_at IS NULL AND expires_at <= :dbNow) AS stale";
    /** Commits a held hold of the latest month and hands back the row; no row for any other hold. */
    final String commitLiveHold;
    /** Releases a held hold of the latest month and hands back the row; no row for any other hold. */
    final String releaseLiveHold;
    /**
     * PostgreSQL only ({@code null} on H2, whose {@code WITH} cannot change data): a whole reserve,
     * consume, commit or release as one statement in autocommit, so the common case is one round
     * trip. A reserve/consume starts with the account's conditional update and inserts the hold and
     * its event from the row it returns, so nothing is written when it is refused; a commit/release
     * starts with the hold's conditional update and moves the account and logs the event from the row
     * it returns. Either way the account row lock is held to the end of the statement, which is its
     * own commit.
     */
    final String reserveInOneStatement;
    final String consumeInOneStatement;
    /** A consume without an idempotency key: the account's update and the event, no reservation row. */
    final String consumeWithoutHoldInOneStatement;
    /**
     * PostgreSQL only: reserves and consumes without idempotency keys, combined ({@code TakeCombiner}),
     * as one statement. It locks the accounts of the month in subject order, walks each subject's calls
     * in queue order granting each one that still fits what the earlier ones left (the check each would
     * make alone), adds each subject's granted consumes to {@code used} and its granted holds to
     * {@code reserved}, inserts the holds, and appends one event per grant; one row back per granted
     * call ({@code ord}, 1-based, and its {@code event_id}) with its account as the statement left it.
     * A call without a row changed nothing. A call is a
     * hold when it has an id ({@code :idList}), a consume when its id is NULL; {@code :expiryList} holds
     * each hold's expiry in the database's clock, as microseconds since the epoch.
     */
    final String takeTogetherInOneStatement;
    final String commitInOneStatement;
    final String releaseInOneStatement;
    /** Expires a stale hold of the latest month; no row for any other hold (see {@code OF_LATEST_MONTH}). */
    final String expireHoldOfLatestMonth = "UPDATE tq_reservation SET state = 'EXPIRED', finished_at = :now"
            + " WHERE id = :id AND state = 'HELD' AND expires_at <= :dbNow" + OF_LATEST_MONTH;
    /** Finishes a hold locked by {@link #lockReservation} as {@code Holds.finishLocked} computed. */
    final String finishLockedHold = "UPDATE tq_reservation SET state = :state, charged = :charged,"
            + " actual = CAST(:actual AS BIGINT), overage = :overage, finished_at = :now WHERE id = :id";

    // ---- event log (append-only)
    final String insertEvent;
    final String selectEvents = "SELECT " + EVENT_COLUMNS + " FROM tq_event"
            + " WHERE subject = :subject AND plan_month = :month ORDER BY id";
    /** Events of the days asked for, and those of their months that happened on other days (late commits). */
    final String selectRequestEvents = "SELECT kind, tokens, is_consume, occurred_at, plan_month FROM tq_event"
            + " WHERE ((occurred_at >= :from AND occurred_at < :to) OR (plan_month >= :fromMonth AND plan_month <= :toMonth))"
            + " AND kind IN ('RESERVED', 'COMMITTED', 'LATE_COMMITTED', 'REJECTED')";
    final String selectRequestEventsOfSubject = selectRequestEvents + " AND subject = :subject";
    final String countBlocks = "SELECT"
            + " COALESCE(SUM(CASE WHEN kind = 'RESERVED' OR (kind = 'COMMITTED' AND is_consume) THEN 1 ELSE 0 END), 0)"
            + " AS granted_holds,"
            + " COALESCE(SUM(CASE WHEN kind = 'REJECTED' THEN 1 ELSE 0 END), 0) AS rejected_holds"
            + " FROM tq_event WHERE plan_month = :month";
    final String countBlocksOfSubject = countBlocks + " AND subject = :subject";

    // ---- purchases
    final String insertPurchase = "INSERT INTO tq_purchase (transaction_id, subject, tokens, purchase_type, status,"
            + " payment_method, amount, currency, reason, plan_month, unrecovered, created_at, processed_at)"
            + " VALUES (:tx, :subject, :tokens, :type, :status, :paymentMethod, :amount, :currency, :reason, :month, 0,"
            + " :now, :processedAt)";
    final String selectPurchase = "SELECT " + PURCHASE_COLUMNS + " FROM tq_purchase WHERE transaction_id = :tx";
    final String selectPurchasesCreatedBetween = "SELECT " + PURCHASE_COLUMNS + " FROM tq_purchase"
            + " WHERE subject = :subject AND created_at >= :from AND created_at < :to ORDER BY created_at DESC, seq DESC";
    final String completePendingPurchase = "UPDATE tq_purchase SET status = 'completed', plan_month = :month,"
            + " processed_at = :now WHERE transaction_id = :tx AND status = 'pending'";
    final String failPendingPurchase = "UPDATE tq_purchase SET status = 'failed', processed_at = :now"
            + " WHERE transaction_id = :tx AND status = 'pending'";
    final String lockCompletedPurchase = "SELECT transaction_id FROM tq_purchase"
            + " WHERE transaction_id = :tx AND status = 'completed'" + FOR_UPDATE;
    final String refundCompletedPurchase = "UPDATE tq_purchase SET status = 'refunded', unrecovered = :unrecovered,"
            + " processed_at = :now WHERE transaction_id = :tx AND status = 'completed'";
    final String sumPurchasesOfMonth = "SELECT purchase_type, currency, COUNT(*) AS purchases,"
            + " SUM(tokens) AS tokens, SUM(COALESCE(amount, 0)) AS amount FROM tq_purchase"
            + " WHERE plan_month = :month AND status IN ('completed', 'refunded') GROUP BY purchase_type, currency";

    Sql(Dialect dialect) {
        this.dialect = dialect;
        String insertAccount = "INSERT INTO tq_account (subject, plan_month, allocated, granted, carried, used,"
                + " reserved, created_at, updated_at) VALUES (:subject, :month, :allocated, 0, :carried, 0, 0, :now, :now)";
        String insertEventRow = "INSERT INTO tq_event (subject, plan_month, kind, tokens, overage, reservation_id,"
                + " transaction_id, detail, is_consume, occurred_at) VALUES (:subject, :month, :kind, :tokens, :overage,"
                + " :reservationId, :tx, :detail, :consume, :now)";
        String touched = ", updated_at = :now";
        String reserveUpdate = "UPDATE tq_account SET reserved = reserved + :tokens" + touched
                + ACCOUNT_KEY + HAS_AVAILABLE + NO_STALE_HOLD + NO_LATER_MONTH;
        String consumeUpdate = "UPDATE tq_account SET used = used + :tokens" + touched
                + ACCOUNT_KEY + HAS_AVAILABLE + NO_STALE_HOLD + NO_LATER_MONTH;
        reserveIfAvailable = returning(reserveUpdate);
        consumeIfAvailable = returning(consumeUpdate);
        chargeHold = returning("UPDATE tq_account SET used = used + :charged, reserved = reserved - :held" + touched
                + ACCOUNT_KEY + CURRENT);
        returnHold = returning("UPDATE tq_account SET reserved = reserved - :held" + touched + ACCOUNT_KEY + CURRENT);
        creditIfUnderMaxQuota = returning("UPDATE tq_account SET granted = granted + :tokens" + touched
                + ACCOUNT_KEY + CURRENT + " AND allocated + granted + carried + :tokens <= :maxQuota");
        allocateIfUnchanged = returning("UPDATE tq_account SET allocated = :allocated" + touched + ACCOUNT_KEY + CURRENT
                + " AND allocated = :oldAllocated AND used = :used AND reserved = :reserved"
                + " AND granted + carried = :credit");
        setAccountBalance = returning("UPDATE tq_account SET granted = :granted, used = :used, reserved = :reserved"
                + touched + ACCOUNT_KEY);
        addCarried = returning("UPDATE tq_account SET carried = carried + :transfer" + touched + ACCOUNT_KEY);
        // a held hold commits or releases whatever its TTL says until a sweep has expired it
        String live = " WHERE id = :id AND state = 'HELD'" + OF_LATEST_MONTH;
        // :capAtHeld is the overrun policy (1: charge at most the hold, 0: charge the actual tokens)
        String commitHold = "UPDATE tq_reservation SET state = 'COMMITTED',"
                + " charged = CASE WHEN :capAtHeld = 1 AND :actual > held THEN held ELSE :actual END,"
                + " actual = :actual, overage = CASE WHEN :actual > held THEN :actual - held ELSE 0 END,"
                + " finished_at = :now" + live;
        String releaseHold = "UPDATE tq_reservation SET state = 'RELEASED', finished_at = :now" + live;
        commitLiveHold = returningReservation(commitHold);
        releaseLiveHold = returningReservation(releaseHold);
        switch (dialect) {
            case POSTGRESQL:
                reserveInOneStatement = takeInOneStatement(reserveUpdate);
                consumeInOneStatement = takeInOneStatement(consumeUpdate);
                takeTogetherInOneStatement = "WITH RECURSIVE calls AS (SELECT t.ord, t.subject, t.tokens, t.endpoint,"
                        + " t.id, TIMESTAMPTZ 'epoch' + t.expiry * INTERVAL '1 microsecond' AS expires_at,"
                        + " row_number() OVER (PARTITION BY t.subject ORDER BY t.ord) AS k"
                        + " FROM unnest(CAST(:subjectList AS VARCHAR[]), CAST(:tokenList AS BIGINT[]),"
                        + " CAST(:endpointList AS VARCHAR[]), CAST(:idList AS VARCHAR[]), CAST(:expiryList AS BIGINT[]))"
                        + " WITH ORDINALITY AS t(subject, tokens, endpoint, id, expiry, ord)),"
                        // the accounts locked in subject order, so two combined statements never deadlock
                        + " locked AS (SELECT a.subject, a.allocated + a.granted + a.carried - a.used - a.reserved"
                        + " AS available FROM tq_account AS a WHERE a.subject IN (SELECT subject FROM calls)"
                        + " AND a.plan_month = :month AND NOT a.superseded"
                        + " AND NOT EXISTS (SELECT 1 FROM tq_reservation AS stale WHERE stale.subject = a.subject"
                        + " AND stale.finished_at IS NULL AND stale.expires_at <= :dbNow)"
                        + " AND NOT EXISTS (SELECT 1 FROM tq_account AS later WHERE later.subject = a.subject"
                        + " AND later.plan_month > :month) ORDER BY a.subject FOR UPDATE OF a),"
                        + " walk (subject, k, available, fits) AS (SELECT CAST(subject AS VARCHAR), CAST(0 AS BIGINT), available, FALSE"
                        + " FROM locked UNION ALL SELECT c.subject, c.k, CASE WHEN w.available >= c.tokens"
                        + " THEN w.available - c.tokens ELSE w.available END, w.available >= c.tokens"
                        + " FROM walk AS w JOIN calls AS c ON c.subject = w.subject AND c.k = w.k + 1),"
                        + " accepted AS (SELECT c.ord, c.subject, c.tokens, c.endpoint, c.id, c.expires_at,"
                        + " nextval('tq_event_id_seq') AS event_id"
                        + " FROM walk AS w JOIN calls AS c ON c.subject = w.subject AND c.k = w.k WHERE w.fits),"
                        + " sums AS (SELECT subject, SUM(CASE WHEN id IS NULL THEN tokens ELSE 0 END) AS consumed,"
                        + " SUM(CASE WHEN id IS NULL THEN 0 ELSE tokens END) AS held, SUM(tokens) AS total"
                        + " FROM accepted GROUP BY subject),"
                        // each walk's sum is re-checked against its row as locked: no grant beyond it, ever
                        + " account AS (UPDATE tq_account AS a SET used = a.used + s.consumed,"
                        + " reserved = a.reserved + s.held, updated_at = :now FROM sums AS s"
                        + " WHERE a.subject = s.subject AND a.plan_month = :month"
                        + " AND a.allocated + a.granted + a.carried - a.used - a.reserved >= s.total"
                        + " RETURNING a.subject, a.plan_month, a.allocated, a.granted, a.carried, a.used, a.reserved,"
                        + " a.created_at, a.updated_at),"
                        + " hold AS (INSERT INTO tq_reservation (" + RESERVATION_COLUMNS + ")"
                        + " SELECT x.id, x.subject, :month, x.tokens, 'HELD', 0, CAST(NULL AS BIGINT), 0,"
                        + " CAST(NULL AS VARCHAR), x.endpoint, FALSE, :now, x.expires_at, CAST(NULL AS TIMESTAMPTZ)"
                        + " FROM accepted AS x JOIN account AS a ON a.subject = x.subject WHERE x.id IS NOT NULL),"
                        + " event AS (INSERT INTO tq_event (id, subject, plan_month, kind, tokens, overage,"
                        + " reservation_id, transaction_id, detail, is_consume, occurred_at)"
                        + " SELECT x.event_id, x.subject, :month, CASE WHEN x.id IS NULL THEN 'COMMITTED' ELSE 'RESERVED'"
                        + " END, x.tokens, 0, x.id, NULL, x.endpoint, x.id IS NULL, :now"
                        + " FROM accepted AS x JOIN account AS a ON a.subject = x.subject ORDER BY x.ord)"
                        + " SELECT a.subject, a.plan_month, a.allocated, a.granted, a.carried, a.used, a.reserved,"
                        + " a.created_at, a.updated_at, x.ord, x.event_id"
                        + " FROM account AS a JOIN accepted AS x ON x.subject = a.subject ORDER BY x.ord";
                consumeWithoutHoldInOneStatement = "WITH account AS (" + consumeUpdate + " RETURNING "
                        + ACCOUNT_COLUMNS + "), event AS (INSERT INTO tq_event (subject, plan_month, kind, tokens,"
                        + " overage, reservation_id, transaction_id, detail, is_consume, occurred_at)"
                        + " SELECT :subject, :month, 'COMMITTED', :tokens, 0, NULL, NULL, CAST(:endpoint AS VARCHAR),"
                        + " TRUE, :now FROM account RETURNING id)"
                        + " SELECT " + ACCOUNT_COLUMNS + ", event.id AS event_id FROM account, event";
                commitInOneStatement = finishInOneStatement(commitHold, "COMMITTED", "hold.charged",
                        "used = a.used + hold.charged, reserved = a.reserved - hold.held");
                releaseInOneStatement = finishInOneStatement(releaseHold, "RELEASED", "hold.held",
                        "reserved = a.reserved - hold.held");
                insertAccountIfAbsent = insertAccount + " ON CONFLICT (subject, plan_month) DO NOTHING";
                upsertPlan = "INSERT INTO tq_plan (subject, allocated, updated_at) VALUES (:subject, :allocated, :now)"
                        + " ON CONFLICT (subject) DO UPDATE SET allocated = EXCLUDED.allocated,"
                        + " updated_at = EXCLUDED.updated_at";
                insertEvent = insertEventRow + " RETURNING id";
                // byte order of UTF-8 is code point order, close to Java's String order whatever the database locale
                selectTopConsumers = "SELECT subject, used, allocated + granted + carried AS month_limit FROM tq_account"
                        + " WHERE plan_month = :month ORDER BY used DESC, subject COLLATE \"C\" ASC"
                        + " FETCH FIRST :limit ROWS ONLY";
                break;
            case H2:
                reserveInOneStatement = null;
                consumeInOneStatement = null;
                consumeWithoutHoldInOneStatement = null;
                takeTogetherInOneStatement = null;
                commitInOneStatement = null;
                releaseInOneStatement = null;
                // a duplicate key from a concurrent first touch is caught and ignored by the caller
                insertAccountIfAbsent = insertAccount;
                upsertPlan = "MERGE INTO tq_plan (subject, allocated, updated_at) KEY (subject)"
                        + " VALUES (:subject, :allocated, :now)";
                insertEvent = "SELECT id FROM FINAL TABLE (" + insertEventRow + ")";
                selectTopConsumers = "SELECT subject, used, allocated + granted + carried AS month_limit FROM tq_account"
                        + " WHERE plan_month = :month ORDER BY used DESC, subject ASC FETCH FIRST :limit ROWS ONLY";
                break;
            default:
                throw new IllegalArgumentException("unsupported dialect " + dialect);
        }
    }

    /** The hot path's statements, parsed into JDBC's positional form (the one-statement ones null on H2). */
    record Hot(Positional reserveInOneStatement, Positional consumeInOneStatement,
               Positional consumeWithoutHoldInOneStatement, Positional takeTogetherInOneStatement,
               Positional commitInOneStatement,
               Positional releaseInOneStatement, Positional insertReservation, Positional insertEvent,
               Positional reserveIfAvailable, Positional consumeIfAvailable, Positional commitLiveHold,
               Positional releaseLiveHold, Positional chargeHold, Positional returnHold) {
    }

    Hot hot() {
        return new Hot(Positional.of(reserveInOneStatement), Positional.of(consumeInOneStatement),
                Positional.of(consumeWithoutHoldInOneStatement), Positional.of(takeTogetherInOneStatement),
                Positional.of(commitInOneStatement), Positional.of(releaseInOneStatement),
                Positional.of(insertReservation), Positional.of(insertEvent), Positional.of(reserveIfAvailable),
                Positional.of(consumeIfAvailable), Positional.of(commitLiveHold), Positional.of(releaseLiveHold),
                Positional.of(chargeHold), Positional.of(returnHold));
    }

    /** Whether reserve, consume, commit and release each run as one statement (else as a transaction). */
    boolean oneStatementPerChange() {
        return reserveInOneStatement != null;
    }

    /** The hold and its event are inserted only from the row the account's conditional update returns. */
    private static String takeInOneStatement(String accountUpdate) {
        return "WITH account AS (" + accountUpdate + " RETURNING " + ACCOUNT_COLUMNS + "),"
                + " hold AS (INSERT INTO tq_reservation (" + RESERVATION_COLUMNS + ")"
                + " SELECT :id, :subject, :month, :tokens, :state, :charged, CAST(:actual AS BIGINT), 0,"
                + " CAST(:key AS VARCHAR), CAST(:endpoint AS VARCHAR), :consume, :now, :expiresAt,"
                + " CAST(:finishedAt AS TIMESTAMPTZ) FROM account),"
                + " event AS (INSERT INTO tq_event (subject, plan_month, kind, tokens, overage, reservation_id,"
                + " transaction_id, detail, is_consume, occurred_at) SELECT :subject, :month, :kind, :tokens, 0, :id,"
                + " NULL, CAST(:endpoint AS VARCHAR), :consume, :now FROM account RETURNING id)"
                + " SELECT " + ACCOUNT_COLUMNS + ", event.id AS event_id FROM account, event";
    }

    /**
     * The account is moved and the event logged only from the row the hold's conditional update
     * returns; the account's columns come back prefixed {@code account_} next to the hold's.
     */
    private static String finishInOneStatement(String holdUpdate, String kind, String tokens, String accountChange) {
        return "WITH hold AS (" + holdUpdate + " RETURNING " + RESERVATION_COLUMNS + "),"
                + " account AS (UPDATE tq_account AS a SET " + accountChange + ", updated_at = :now FROM hold"
                + " WHERE a.subject = hold.subject AND a.plan_month = hold.plan_month RETURNING"
                + " a.allocated AS account_allocated, a.granted AS account_granted, a.carried AS account_carried,"
                + " a.used AS account_used, a.reserved AS account_reserved, a.created_at AS account_created_at,"
                + " a.updated_at AS account_updated_at),"
                + " event AS (INSERT INTO tq_event (subject, plan_month, kind, tokens, overage, reservation_id,"
                + " transaction_id, detail, is_consume, occurred_at) SELECT hold.subject, hold.plan_month, '" + kind
                + "', " + tokens + ", hold.overage, hold.id, NULL, hold.endpoint, FALSE, :now FROM hold JOIN account"
                + " ON TRUE RETURNING id)"
                + " SELECT hold.*, account.*, event.id AS event_id FROM hold, account, event";
    }

    /** Whether an account insert can race into a duplicate-key error the caller must swallow. */
    boolean insertAccountMayCollide() {
        return dialect == Dialect.H2;
    }

    private String returningReservation(String update) {
        return dialect == Dialect.POSTGRESQL
                ? update + " RETURNING " + RESERVATION_COLUMNS
                : "SELECT " + RESERVATION_COLUMNS + " FROM FINAL TABLE (" + update + ")";
    }

    private String returning(String update) {
        return dialect == Dialect.POSTGRESQL
                ? update + " RETURNING " + ACCOUNT_COLUMNS
                : "SELECT " + ACCOUNT_COLUMNS + " FROM FINAL TABLE (" + update + ")";
    }
}

package io.tokenquota.jdbi;

import static io.tokenquota.jdbi.Rows.ACCOUNT_COLUMNS;
import static io.tokenquota.jdbi.Rows.EVENT_COLUMNS;
import static io.tokenquota.jdbi.Rows.PURCHASE_COLUMNS;
import static io.tokenquota.jdbi.Rows.RESERVATION_COLUMNS;

import org.jdbi.v3.core.locator.ClasspathSqlLocator;

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
    /**
     * The fast way to finish a hold (as the hot path's commit and release, in sql/) applies only to a
     * hold of the current month that is its subject's latest account: finishing any other hold moves
     * purchased tokens to the latest account, which {@code Holds.finishLocked} does in a transaction
     * that locks both months.
     */
    private static final String OF_LATEST_MONTH = " AND plan_month = :month AND NOT superseded"
            + " AND NOT EXISTS (SELECT 1 FROM tq_account"
            + " AS later WHERE later.subject = tq_reservation.subject AND later.plan_month > tq_reservation.plan_month)";
    private static final String FOR_UPDATE = " FOR UPDATE";
    /** The usage of a charge, bound by {@code Holds.usageBindings}; cast, since each may be NULL. */
    static final String USAGE_VALUES = "CAST(:model AS VARCHAR(512)), CAST(:inputTokens AS BIGINT),"
            + " CAST(:cachedTokens AS BIGINT), CAST(:outputTokens AS BIGINT), CAST(:reasoningTokens AS BIGINT)";
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
    private static final ClasspathSqlLocator LOCATOR = ClasspathSqlLocator.removingComments();

    final Dialect dialect;

    // ---- accounts
    final String selectAccount = "SELECT " + ACCOUNT_COLUMNS + " FROM tq_account" + ACCOUNT_KEY;
    final String selectSuperseded = "SELECT superseded FROM tq_account" + ACCOUNT_KEY;
    /** A closed month's tokens lapsed refunds left in its {@code granted}, which a late charge may reach (round 431). */
    final String selectRefundLapsed = "SELECT refund_lapsed FROM tq_account" + ACCOUNT_KEY;
    /**
     * A month's first touch marks the subject's open holds of earlier months first (holds before
     * accounts): their ids, ascending, then each one by {@link #supersedeHold} in that order.
     */
    final String selectHoldsToSupersede = "SELECT id FROM tq_reservation WHERE subject = :subject"
            + " AND plan_month < :month AND finished_at IS NULL AND NOT superseded ORDER BY id";
    /**
     * A team's first touch of a month marks the open holds its members held against it, as a user's
     * marks its own; a member's hold is in both sets, so both are locked in the one order, by id.
     */
    final String selectTeamHoldsToSupersede = "SELECT id FROM tq_reservation"
            + " WHERE (subject = :subject OR team_subject = :subject)"
            + " AND plan_month < :month AND finished_at IS NULL AND NOT superseded ORDER BY id";
    final String supersedeHold = "UPDATE tq_reservation SET superseded = TRUE WHERE id = :id"
            + " AND finished_at IS NULL AND NOT superseded";
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
    final String lockAccountsAfter = "SELECT " + ACCOUNT_COLUMNS + " FROM tq_account"
            + " WHERE subject = :subject AND plan_month > :month ORDER BY plan_month" + FOR_UPDATE;
    final String lockAccount = "SELECT " + ACCOUNT_COLUMNS + " FROM tq_account" + ACCOUNT_KEY + FOR_UPDATE;
    /**
     * A refund's or a plan change's accounts, locked in month order, with what {@code Accounts.MONTH} reads
     * of the refunds' takes: the current month, the closed months that still hold tokens (a refund may take
     * them) and those with refunds' takes on record (a plan change may move them, round 318). A closed month
     * never gets a hold again, and only a refund that locked it records a take, so every month either may
     * write is in the set. {@code :purchaseMonth} adds a lapsed purchase's own month and those after it, which
     * tell whether its tokens lapsed and the month a refund is split on ({@code LedgerRules.lapsedMonth}, rounds
     * 422, 425 and 427; others bind {@code :month}).
     */
    final String lockMonthsOfRefunds = "SELECT " + ACCOUNT_COLUMNS + ", refund_absorbed, refund_absorbed_behind,"
            + " refund_taken, refund_lapsed, superseded FROM tq_account WHERE subject = :subject"
            + " AND (plan_month = :month OR (plan_month >= :purchaseMonth AND plan_month < :month)"
            + " OR (plan_month < :month AND (reserved > 0 OR refund_taken > 0)))"
            + " ORDER BY plan_month" + FOR_UPDATE;
    /**
     * What a plan change reads besides the balances: the month's refunds' spent parts, and how many closed
     * months have open holds or refunds' takes on record (none: the change touches only this month).
     */
    final String selectPlanInputs = "SELECT refund_absorbed, refund_absorbed_behind, (SELECT COUNT(*) FROM tq_account"
            + " AS closed WHERE closed.subject = :subject AND closed.plan_month < :month"
            + " AND (closed.reserved > 0 OR closed.refund_taken > 0)) AS closed_to_touch FROM tq_account" + ACCOUNT_KEY;
    /** Sets the month's allocation; compare-and-set on the values the new allocation was computed from. */
    final String allocateIfUnchanged;
    /** A refund's take from a locked closed month: its {@code granted} lowered, and the lowering recorded. */
    final String takeForRefund;
    /** A plan change of a locked current month, as {@code LedgerRules.planChange} computed it. */
    final String changePlanOfLocked;
    /** A locked closed month's purchased tokens and takes after a plan change moved them. */
    final String setTakeOfLocked;
    /** A locked closed month's purchased tokens and {@code refund_lapsed} after a lapsed refund split on it. */
    final String setLapsedOfLocked;
    /** Writes a locked account's balance as computed by {@code LedgerRules}. */
    final String setAccountBalance;
    /** {@link #setAccountBalance} with the closed month's {@code refund_lapsed} too (a late finish, round 431). */
    final String setAccountBalanceAndLapsed;
    /**
     * Writes a locked account's purchased tokens as a refund computed them, what its allowance absorbed, and
     * of that what came behind an earlier refund's take (round 318).
     */
    final String setAccountCredit;
    /** Moves purchased tokens to or from a locked account's {@code carried}. */
    final String addCarried;
    final String selectHistory = "SELECT " + ACCOUNT_COLUMNS + " FROM tq_account"
            + " WHERE subject = :subject AND plan_month >= :oldest AND plan_month <= :month ORDER BY plan_month DESC";
    final String insertAccountIfAbsent;
    /** Frees a released or expired hold. */
    final String returnHold;
    /** Credits granted tokens unless the month's limit would pass the max quota. */
    final String creditIfUnderMaxQuota;
    /** Users only ({@code :teams} excludes teams) or teams only ({@code :teams} selects them): {@code :like}. */
    final String selectTopConsumers;
    final String selectTopTeams;

    // ---- plans
    final String selectPlan = "SELECT allocated FROM tq_plan WHERE subject = :subject";
    final String upsertPlan;

    // ---- reservations
    /**
     * A hold's {@code created_at} and {@code expires_at} are both in the database's clock ({@code :dbNow},
     * {@code :expiresAt}), so its life is their difference whichever instance reads it (round 326: created_at
     * was the creating instance's clock; {@link Rows#reservations} reads both back through the reader's offset).
     */
    final String insertReservation = "INSERT INTO tq_reservation (id, subject, plan_month, held, state, charged,"
            + " actual, overage, idempotency_key, endpoint, is_consume, created_at, expires_at, finished_at)"
            + " VALUES (:id, :subject, :month, :held, :state, :charged, :actual, 0, :key, :endpoint, :consume,"
            + " :dbNow, :expiresAt, :finishedAt)";
    final String selectReservation = "SELECT " + RESERVATION_COLUMNS + " FROM tq_reservation WHERE id = :id";
    /**
     * A consume without an idempotency key keeps no reservation row: its COMMITTED event is its
     * record, and the event's id the id it was handed out under. A key-less hold's row is deleted on
     * PostgreSQL when it is committed or released: its finishing event, whose id is the hold's number
     * (schema version 4), is its record from then on. Both are found by the event log's id index.
     */
    final String selectFinishedByEventId = "SELECT id, subject, plan_month, kind, tokens, overage, reservation_id,"
            + " detail, occurred_at, held_tokens, held_at, held_until, CAST(NULL AS VARCHAR(128)) AS team_subject"
            + " FROM tq_event WHERE id = :id"
            + " AND ((kind = 'COMMITTED' AND is_consume AND reservation_id IS NULL)"
            + " OR (held_tokens IS NOT NULL AND reservation_id = :holdId))";
    /**
     * The same for a key-less team member's hold ({@code "<n>t<m>"}): the member's finishing event,
     * under the member's number, and the team's, under the team's number, which says the team the hold
     * was held against (the member may have moved since). Both by the id index.
     */
    final String selectFinishedTeamHoldByEventIds = "SELECT m.id, m.subject, m.plan_month, m.kind, m.tokens,"
            + " m.overage, m.reservation_id, m.detail, m.occurred_at, m.held_tokens, m.held_at, m.held_until,"
            + " t.subject AS team_subject FROM tq_event AS m"
            + " JOIN tq_event AS t ON t.id = :teamNumber AND t.held_tokens IS NOT NULL AND t.reservation_id = :holdId"
            + " WHERE m.id = :number AND m.held_tokens IS NOT NULL AND m.reservation_id = :holdId";
    /**
     * The open holds of a month whose RESERVED event is not a row (reserved since schema version 4:
     * their ids are numbers, a UUID's have dashes), by the open-holds index: a subject's own, or the
     * ones its members held against a team.
     */
    final String selectOpenHoldsOfMonth = "SELECT " + RESERVATION_COLUMNS + " FROM tq_reservation"
            + " WHERE subject = :subject AND finished_at IS NULL AND plan_month = :month AND id NOT LIKE '%-%'";
    final String selectOpenTeamHoldsOfMonth = "SELECT " + RESERVATION_COLUMNS + " FROM tq_reservation"
            + " WHERE team_subject = :subject AND finished_at IS NULL AND plan_month = :month AND id NOT LIKE '%-%'";
    /**
     * A key-less hold (a plain one or a team member's) committed or released on the locked path: its
     * finishing event (a member's: its two) is its record.
     */
    final String deleteHold = "DELETE FROM tq_reservation WHERE id = :id";
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
     * (NULL when the month's account does not exist yet), a later month another instance opened, how
     * many stale holds the subject has, and the team its latest account says (round 323: read from
     * {@code :month}'s account, a membership changed on the later month a faster instance had opened
     * was never seen, or a former one was seen, and the hold went round between the two paths).
     */
    final String probeSubject = "SELECT"
            + " (SELECT team_subject FROM tq_account WHERE subject = :subject AND plan_month >= :month"
            + " ORDER BY plan_month DESC FETCH FIRST 1 ROWS ONLY) AS team_subject,"
            + " (SELECT allocated + granted + carried - used - reserved FROM tq_account" + ACCOUNT_KEY + ") AS available,"
            + " (SELECT MAX(plan_month) FROM tq_account WHERE subject = :subject AND plan_month > :month) AS later_month,"
            + " (SELECT COUNT(*) FROM tq_reservation"
            + " WHERE subject = :subject AND finished_at IS NULL AND expires_at <= :dbNow) AS stale";
    // ---- the hot path: reserve, consume, commit, release, each one whole text per dialect in
    // sql/postgresql/ and sql/h2/ beside this class (null in the dialect that does not use it)
    /**
     * PostgreSQL (whose {@code WITH} can change data): each change as one statement in autocommit,
     * one round trip. A reserve/consume starts with the account's conditional update and inserts the
     * hold and its event from the row it returns, so nothing is written when it is refused; a
     * commit/release starts with the hold's conditional update and moves the account and logs the
     * event from the row it returns. Either way the account's row lock is held to the statement's end,
     * which is its own commit.
     */
    final String reserveInOneStatement;
    final String consumeInOneStatement;
    final String consumeWithoutHoldInOneStatement;
    /** Reserves and consumes without idempotency keys of several callers, combined ({@code Combiner}). */
    final String takeTogetherInOneStatement;
    final String commitInOneStatement;
    final String releaseInOneStatement;
    /** Commits and releases of several callers, combined ({@code Combiner}). */
    final String finishTogetherInOneStatement;
    /** A team member's reserve or consume, held against its own and its team's account in one statement. */
    final String teamTakeInOneStatement;
    /** A commit or release of a team member's held hold, settling both accounts in one statement. */
    final String teamFinishInOneStatement;
    /** Keyless reserves and consumes of several team members, combined ({@code Combiner}). */
    final String teamTakeTogetherInOneStatement;
    /** Commits and releases of several team members' holds, combined ({@code Combiner}). */
    final String teamFinishTogetherInOneStatement;
    /**
     * H2: each change as a short transaction whose statement on the account comes last (reserve,
     * consume) or whose first statement is the hold's conditional update (commit, release).
     */
    final String reserveIfAvailable;
    final String consumeIfAvailable;
    final String commitLiveHold;
    final String releaseLiveHold;
    final String chargeHold;
    /** Expires a stale hold of the latest month; no row for any other hold (see {@code OF_LATEST_MONTH}). */
    final String expireHoldOfLatestMonth = "UPDATE tq_reservation SET state = 'EXPIRED', finished_at = :now"
            + " WHERE id = :id AND state = 'HELD' AND expires_at <= :dbNow AND team_subject IS NULL" + OF_LATEST_MONTH;
    /**
     * Keeps a held hold alive ({@code Holds.extend}): its expiry, in the database's clock, becomes
     * {@code :expiresAt} unless it is later already. Reaches the hold by its key, as a commit does, and
     * changes no account: a team member's hold is one row, which both accounts' sweeps read. No row for
     * a finished hold, or for a key-less one whose row its finish deleted (PostgreSQL).
     */
    final String extendHeldHold;
    /** Finishes a hold locked by {@link #lockReservation} as {@code Holds.finishLocked} computed. */
    final String finishLockedHold = "UPDATE tq_reservation SET state = :state, charged = :charged,"
            + " actual = CAST(:actual AS BIGINT), overage = :overage, finished_at = :now WHERE id = :id";

    // ---- teams: membership, and the team path of holds (Holds.takeForTeam), one short transaction
    final String selectTeamOf = "SELECT team_subject FROM tq_team_member WHERE subject = :subject";
    /**
     * The team the subject's latest account from {@code :month} on says it is in, and that account's
     * month (the team path reads it before any lock; the plain path checks the column on the row it
     * locks). The latest, not {@code :month}'s: membership sync writes the latest account, which an
     * instance whose clock is ahead may have opened (round 323).
     */
    final String selectTeamOfLatestAccount = "SELECT plan_month, team_subject FROM tq_account"
            + " WHERE subject = :subject AND plan_month >= :month ORDER BY plan_month DESC FETCH FIRST 1 ROWS ONLY";
    /** Membership sync locks the subject's account of its latest month before it changes the membership. */
    final String lockAccountForTeam = "SELECT superseded FROM tq_account" + ACCOUNT_KEY + FOR_UPDATE;
    final String setTeamOfAccount = "UPDATE tq_account SET team_subject = :team" + ACCOUNT_KEY;
    final String upsertTeamMember;
    final String deleteTeamMember = "DELETE FROM tq_team_member WHERE subject = :subject";
    /** Locks one account of a member's hold, team first, then the member's (the order every team path keeps). */
    final String lockAccountIfCurrent = "SELECT " + ACCOUNT_COLUMNS + ", superseded, team_subject FROM tq_account"
            + ACCOUNT_KEY
            + FOR_UPDATE;
    final String selectLaterMonth = "SELECT MAX(plan_month) FROM tq_account WHERE subject = :subject"
            + " AND plan_month > :month";
    /** Stale holds that would keep a member's hold from being decided: the member's own and its team's. */
    final String countStaleOfMember = "SELECT"
            + " (SELECT COUNT(*) FROM tq_reservation WHERE subject = :subject AND finished_at IS NULL"
            + " AND expires_at <= :dbNow)"
            + " + (SELECT COUNT(*) FROM tq_reservation WHERE team_subject = :team AND finished_at IS NULL"
            + " AND expires_at <= :dbNow)";
    final String selectStaleHoldsOfTeam = "SELECT " + RESERVATION_COLUMNS + " FROM tq_reservation"
            + " WHERE team_subject = :team AND finished_at IS NULL AND expires_at <= :dbNow";
    final String insertTeamReservation = "INSERT INTO tq_reservation (id, subject, plan_month, held, state, charged,"
            + " actual, overage, idempotency_key, endpoint, is_consume, created_at, expires_at, finished_at,"
            + " team_subject) VALUES (:id, :subject, :month, :held, :state, :charged, :actual, 0, :key, :endpoint,"
            + " :consume, :dbNow, :expiresAt, :finishedAt, :team)";
    /** Reports over all users leave team accounts out ({@code :teams} is the team subjects' LIKE pattern). */
    private static final String USERS_ONLY = " AND subject NOT LIKE :teams";
    private static final String OF_SUBJECT = " AND subject = :subject";
    /** A hold counts for its subject, and for the team it was held against. */
    private static final String HELD_FOR_SUBJECT = " AND (subject = :subject OR team_subject = :subject)";

    // ---- event log (append-only)
    final String insertEvent;
    /**
     * The event of a charge (a commit, a late commit, a consume), with the usage it was weighed from
     * (all NULL for a charge recorded without one): the schema's version 2 columns.
     */
    final String insertChargeEvent;
    /**
     * The first finishing event of a hold reserved since schema version 4 (COMMITTED, RELEASED or
     * EXPIRED), on the locked and expiry paths and H2's: its id is the hold's number for the account
     * ({@code :number}, the id its RESERVED event is listed under), it is listed under {@code :loggedId}
     * (drawn by {@link #selectNextEventId} as it is written), and it records the reserve.
     */
    final String insertFinishEvent = "INSERT INTO tq_event (id, logged_id, subject, plan_month, kind, tokens, overage,"
            + " reservation_id, transaction_id, detail, is_consume, occurred_at, " + Rows.USAGE_COLUMNS
            + ", held_tokens, held_at, held_until) VALUES (:number, :loggedId, :subject, :month, :kind, :tokens,"
            + " :overage, :reservationId, NULL, :detail, FALSE, :now, " + USAGE_VALUES + ", :heldTokens, :heldAt,"
            + " :heldUntil)";
    /** Draws an id from the event log's sequence. */
    final String selectNextEventId;
    /** Charges of a month by model, for {@code modelUsage}; a NULL model sums the charges without one. */
    final String selectModelUsage = "SELECT model, COUNT(*) AS calls, SUM(input_tokens) AS input_tokens,"
            + " SUM(cached_input_tokens) AS cached_input_tokens, SUM(output_tokens) AS output_tokens,"
            + " SUM(reasoning_tokens) AS reasoning_tokens, SUM(tokens) AS charged FROM tq_event"
            + " WHERE plan_month = :month AND kind IN ('COMMITTED', 'LATE_COMMITTED')";
    final String selectModelUsageOfUsers = selectModelUsage + USERS_ONLY;
    final String groupModelUsage = " GROUP BY model";
    /**
     * A month's event rows, each listed under its {@code logged_id} when it has one (a hold's finishing
     * event since schema version 4, whose own id is the hold's number): the store adds the RESERVED
     * events they and the open holds record, and lists all by id.
     */
    final String selectEvents = "SELECT COALESCE(logged_id, id) AS listed_id, " + EVENT_COLUMNS
            + ", held_tokens, held_at FROM tq_event WHERE subject = :subject AND plan_month = :month";
    /**
     * Events of the days asked for, and those of their months that happened on other days (late
     * commits): the rows, the RESERVED events that finishing events record (at the reserve's instant),
     * and those of open holds. {@code %s} is the filter on subjects of the event log, then of the holds.
     * An event row's {@code occurred_at} is in the policy's clock, a reserve's instant ({@code held_at},
     * a hold's {@code created_at}) in the database's (round 326): those are compared with the days' bounds
     * in the database's clock ({@code :dbFrom}, {@code :dbTo}) and flagged {@code db_clock}, and the store
     * reads them back through its offset.
     */
    private static final String REQUEST_EVENTS = "SELECT kind, tokens, is_consume, occurred_at, plan_month,"
            + " FALSE AS db_clock FROM tq_event"
            + " WHERE ((occurred_at >= :from AND occurred_at < :to) OR (plan_month >= :fromMonth AND plan_month <= :toMonth))"
            + " AND kind IN ('RESERVED', 'COMMITTED', 'LATE_COMMITTED', 'REJECTED')%1$s"
            + " UNION ALL SELECT 'RESERVED', held_tokens, FALSE, held_at, plan_month, TRUE FROM tq_event"
            + " WHERE held_tokens IS NOT NULL"
            + " AND ((held_at >= :dbFrom AND held_at < :dbTo) OR (plan_month >= :fromMonth AND plan_month <= :toMonth))%1$s"
            + " UNION ALL SELECT 'RESERVED', held, FALSE, created_at, plan_month, TRUE FROM tq_reservation"
            + " WHERE finished_at IS NULL AND id NOT LIKE '%%-%%'"
            + " AND ((created_at >= :dbFrom AND created_at < :dbTo) OR (plan_month >= :fromMonth AND plan_month <= :toMonth))%2$s";
    final String selectRequestEventsOfUsers = String.format(REQUEST_EVENTS, USERS_ONLY, USERS_ONLY);
    final String selectRequestEventsOfSubject = String.format(REQUEST_EVENTS, OF_SUBJECT, HELD_FOR_SUBJECT);
    /** Granted holds and consumes of a month, RESERVED rows, finishing events that record a reserve and open holds. */
    private static final String COUNT_BLOCKS = "SELECT"
            + " COALESCE(SUM(CASE WHEN kind = 'RESERVED' OR (kind = 'COMMITTED' AND is_consume) THEN 1 ELSE 0 END), 0)"
            + " + COALESCE(SUM(CASE WHEN held_tokens IS NOT NULL THEN 1 ELSE 0 END), 0)"
            + " + (SELECT COUNT(*) FROM tq_reservation WHERE finished_at IS NULL AND plan_month = :month"
            + " AND id NOT LIKE '%%-%%'%2$s) AS granted_holds,"
            + " COALESCE(SUM(CASE WHEN kind = 'REJECTED' THEN 1 ELSE 0 END), 0) AS rejected_holds"
            + " FROM tq_event WHERE plan_month = :month%1$s";
    final String countBlocksOfUsers = String.format(COUNT_BLOCKS, USERS_ONLY, USERS_ONLY);
    final String countBlocksOfSubject = String.format(COUNT_BLOCKS, OF_SUBJECT, HELD_FOR_SUBJECT);

    // ---- purchases
    final String insertPurchase = "INSERT INTO tq_purchase (transaction_id, subject, tokens, purchase_type, status,"
            + " payment_method, amount, currency, reason, plan_month, unrecovered, created_at, processed_at)"
            + " VALUES (:tx, :subject, :tokens, :type, :status, :paymentMethod, :amount, :currency, :reason, :month, 0,"
            + " :now, :processedAt)";
    final String selectPurchase = "SELECT " + PURCHASE_COLUMNS + " FROM tq_purchase WHERE transaction_id = :tx";
    final String selectPurchasesCreatedBetween = "SELECT " + PURCHASE_COLUMNS + " FROM tq_purchase"
            + " WHERE subject = :subject AND created_at >= :from AND created_at < :to ORDER BY created_at DESC, seq DESC";
    final String completeOpenPurchase = "UPDATE tq_purchase SET status = 'completed', plan_month = :month,"
            + " processed_at = :now, amount = :amount, currency = :currency"
            + " WHERE transaction_id = :tx AND status IN ('pending', 'failed')";
    final String failPendingPurchase = "UPDATE tq_purchase SET status = 'failed', processed_at = :now"
            + " WHERE transaction_id = :tx AND status = 'pending'";
    final String lockCompletedPurchase = "SELECT transaction_id FROM tq_purchase"
            + " WHERE transaction_id = :tx AND status = 'completed'" + FOR_UPDATE;
    final String refundUncreditedPurchase = "UPDATE tq_purchase SET status = 'refunded', processed_at = :now"
            + " WHERE transaction_id = :tx AND status IN ('pending', 'failed')";
    final String refundCompletedPurchase = "UPDATE tq_purchase SET status = 'refunded', unrecovered = :unrecovered,"
            + " processed_at = :now WHERE transaction_id = :tx AND status = 'completed'";
    final String sumPurchasesOfMonth = "SELECT purchase_type, currency, COUNT(*) AS purchases,"
            + " SUM(tokens) AS tokens, SUM(COALESCE(amount, 0)) AS amount FROM tq_purchase"
            + " WHERE plan_month = :month AND status IN ('completed', 'refunded') GROUP BY purchase_type, currency";

    Sql(Dialect dialect) {
        this.dialect = dialect;
        String insertAccount = "INSERT INTO tq_account (subject, plan_month, allocated, granted, carried, used,"
                + " reserved, created_at, updated_at, team_subject)"
                + " VALUES (:subject, :month, :allocated, 0, :carried, 0, 0, :now, :now, :team)";
        String insertEventRow = "INSERT INTO tq_event (subject, plan_month, kind, tokens, overage, reservation_id,"
                + " transaction_id, detail, is_consume, occurred_at) VALUES (:subject, :month, :kind, :tokens, :overage,"
                + " :reservationId, :tx, :detail, :consume, :now)";
        String insertChargeEventRow = "INSERT INTO tq_event (subject, plan_month, kind, tokens, overage, reservation_id,"
                + " transaction_id, detail, is_consume, occurred_at, " + Rows.USAGE_COLUMNS + ") VALUES (:subject, :month,"
                + " :kind, :tokens, :overage, :reservationId, :tx, :detail, :consume, :now, " + USAGE_VALUES + ")";
        String touched = ", updated_at = :now";
        returnHold = returning("UPDATE tq_account SET reserved = reserved - :held" + touched + ACCOUNT_KEY + CURRENT);
        creditIfUnderMaxQuota = returning("UPDATE tq_account SET granted = granted + :tokens" + touched
                + ACCOUNT_KEY + CURRENT + " AND allocated + granted + carried + :tokens <= :maxQuota");
        allocateIfUnchanged = returning("UPDATE tq_account SET allocated = :allocated, refund_absorbed = :absorbed,"
                + " refund_absorbed_behind = :behind, granted = granted + :grantedChange" + touched + ACCOUNT_KEY
                + CURRENT + " AND allocated = :oldAllocated AND refund_absorbed = :oldAbsorbed"
                + " AND refund_absorbed_behind = :oldBehind AND used = :used AND reserved = :reserved"
                + " AND granted + carried = :credit");
        changePlanOfLocked = returning("UPDATE tq_account SET allocated = :allocated, refund_absorbed = :absorbed,"
                + " refund_absorbed_behind = :behind, granted = :granted" + touched + ACCOUNT_KEY);
        setTakeOfLocked = returning("UPDATE tq_account SET granted = :granted, refund_taken = :taken" + touched
                + ACCOUNT_KEY);
        setLapsedOfLocked = returning("UPDATE tq_account SET granted = :granted, refund_lapsed = :lapsed" + touched
                + ACCOUNT_KEY);
        takeForRefund = returning("UPDATE tq_account SET granted = granted - :lowering,"
                + " refund_taken = refund_taken + :lowering" + touched + ACCOUNT_KEY);
        setAccountBalance = returning("UPDATE tq_account SET granted = :granted, used = :used, reserved = :reserved"
                + touched + ACCOUNT_KEY);
        setAccountBalanceAndLapsed = returning("UPDATE tq_account SET granted = :granted, used = :used,"
                + " reserved = :reserved, refund_lapsed = :lapsed" + touched + ACCOUNT_KEY);
        setAccountCredit = returning("UPDATE tq_account SET allocated = allocated + :absorbed,"
                + " refund_absorbed = refund_absorbed + :absorbed,"
                + " refund_absorbed_behind = refund_absorbed_behind + :behind, granted = :granted" + touched
                + ACCOUNT_KEY);
        addCarried = returning("UPDATE tq_account SET carried = carried + :transfer" + touched + ACCOUNT_KEY);
        extendHeldHold = returning("UPDATE tq_reservation"
                + " SET expires_at = GREATEST(expires_at, CAST(:expiresAt AS TIMESTAMP WITH TIME ZONE))"
                + " WHERE id = :id AND state = 'HELD' AND finished_at IS NULL", RESERVATION_COLUMNS);
        switch (dialect) {
            case POSTGRESQL:
                reserveInOneStatement = hot(dialect, "reserve");
                consumeInOneStatement = hot(dialect, "consume-with-key");
                consumeWithoutHoldInOneStatement = hot(dialect, "consume");
                takeTogetherInOneStatement = hot(dialect, "take-together");
                commitInOneStatement = hot(dialect, "commit");
                releaseInOneStatement = hot(dialect, "release");
                finishTogetherInOneStatement = hot(dialect, "finish-together");
                teamTakeInOneStatement = hot(dialect, "team-take");
                teamFinishInOneStatement = hot(dialect, "team-finish");
                teamTakeTogetherInOneStatement = hot(dialect, "team-take-together");
                teamFinishTogetherInOneStatement = hot(dialect, "team-finish-together");
                reserveIfAvailable = null;
                consumeIfAvailable = null;
                commitLiveHold = null;
                releaseLiveHold = null;
                chargeHold = null;
                insertAccountIfAbsent = insertAccount + " ON CONFLICT (subject, plan_month) DO NOTHING";
                upsertPlan = "INSERT INTO tq_plan (subject, allocated, updated_at) VALUES (:subject, :allocated, :now)"
                        + " ON CONFLICT (subject) DO UPDATE SET allocated = EXCLUDED.allocated,"
                        + " updated_at = EXCLUDED.updated_at";
                insertEvent = insertEventRow + " RETURNING id";
                selectNextEventId = "SELECT nextval('tq_event_id_seq')";
                insertChargeEvent = insertChargeEventRow + " RETURNING id";
                // byte order of UTF-8 is code point order (LedgerRules.CODE_POINT_ORDER), whatever the database locale
                selectTopConsumers = "SELECT subject, used, allocated + granted + carried AS month_limit FROM tq_account"
                        + " WHERE plan_month = :month" + USERS_ONLY + " ORDER BY used DESC, subject COLLATE \"C\" ASC"
                        + " FETCH FIRST :limit ROWS ONLY";
                selectTopTeams = "SELECT subject, used, allocated + granted + carried AS month_limit FROM tq_account"
                        + " WHERE plan_month = :month AND subject LIKE :teams ORDER BY used DESC, subject COLLATE \"C\" ASC"
                        + " FETCH FIRST :limit ROWS ONLY";
                upsertTeamMember = "INSERT INTO tq_team_member (subject, team_subject, updated_at)"
                        + " VALUES (:subject, :team, :now) ON CONFLICT (subject) DO UPDATE"
                        + " SET team_subject = EXCLUDED.team_subject, updated_at = EXCLUDED.updated_at";
                break;
            case H2:
                reserveInOneStatement = null;
                consumeInOneStatement = null;
                consumeWithoutHoldInOneStatement = null;
                takeTogetherInOneStatement = null;
                commitInOneStatement = null;
                releaseInOneStatement = null;
                finishTogetherInOneStatement = null;
                // H2 has no data-modifying WITH: a member's holds run as one short transaction
                teamTakeInOneStatement = null;
                teamFinishInOneStatement = null;
                teamTakeTogetherInOneStatement = null;
                teamFinishTogetherInOneStatement = null;
                reserveIfAvailable = hot(dialect, "reserve-if-available");
                consumeIfAvailable = hot(dialect, "consume-if-available");
                commitLiveHold = hot(dialect, "commit-held-hold");
                releaseLiveHold = hot(dialect, "release-held-hold");
                chargeHold = hot(dialect, "charge-hold");
                // a duplicate key from a concurrent first touch is caught and ignored by the caller
                insertAccountIfAbsent = insertAccount;
                upsertPlan = "MERGE INTO tq_plan (subject, allocated, updated_at) KEY (subject)"
                        + " VALUES (:subject, :allocated, :now)";
                insertEvent = "SELECT id FROM FINAL TABLE (" + insertEventRow + ")";
                selectNextEventId = "SELECT NEXT VALUE FOR tq_event_id_seq";
                insertChargeEvent = "SELECT id FROM FINAL TABLE (" + insertChargeEventRow + ")";
                // ties in code point order (the unsigned order of UTF-8 bytes), as PostgreSQL's COLLATE "C"
                // and the in-memory store's LedgerRules.CODE_POINT_ORDER give (round 349)
                selectTopConsumers = "SELECT subject, used, allocated + granted + carried AS month_limit FROM tq_account"
                        + " WHERE plan_month = :month" + USERS_ONLY
                        + " ORDER BY used DESC, STRINGTOUTF8(subject) ASC FETCH FIRST :limit ROWS ONLY";
                selectTopTeams = "SELECT subject, used, allocated + granted + carried AS month_limit FROM tq_account"
                        + " WHERE plan_month = :month AND subject LIKE :teams"
                        + " ORDER BY used DESC, STRINGTOUTF8(subject) ASC FETCH FIRST :limit ROWS ONLY";
                upsertTeamMember = "MERGE INTO tq_team_member (subject, team_subject, updated_at) KEY (subject)"
                        + " VALUES (:subject, :team, :now)";
                break;
            default:
                throw new IllegalArgumentException("unsupported dialect " + dialect);
        }
    }

    /** The hot path's statements, parsed into JDBC's positional form (the one-statement ones null on H2). */
    record Hot(Positional reserveInOneStatement, Positional consumeInOneStatement,
               Positional consumeWithoutHoldInOneStatement, Positional takeTogetherInOneStatement,
               Positional commitInOneStatement, Positional releaseInOneStatement,
               Positional finishTogetherInOneStatement, Positional insertReservation, Positional insertEvent,
               Positional reserveIfAvailable, Positional consumeIfAvailable, Positional commitLiveHold,
               Positional releaseLiveHold, Positional chargeHold, Positional returnHold,
               Positional teamTakeInOneStatement, Positional teamFinishInOneStatement, Positional insertChargeEvent,
               Positional teamTakeTogetherInOneStatement, Positional teamFinishTogetherInOneStatement) {
    }

    Hot hot() {
        return new Hot(Positional.of(reserveInOneStatement), Positional.of(consumeInOneStatement),
                Positional.of(consumeWithoutHoldInOneStatement), Positional.of(takeTogetherInOneStatement),
                Positional.of(commitInOneStatement), Positional.of(releaseInOneStatement),
                Positional.of(finishTogetherInOneStatement),
                Positional.of(insertReservation), Positional.of(insertEvent), Positional.of(reserveIfAvailable),
                Positional.of(consumeIfAvailable), Positional.of(commitLiveHold), Positional.of(releaseLiveHold),
                Positional.of(chargeHold), Positional.of(returnHold), Positional.of(teamTakeInOneStatement),
                Positional.of(teamFinishInOneStatement), Positional.of(insertChargeEvent),
                Positional.of(teamTakeTogetherInOneStatement), Positional.of(teamFinishTogetherInOneStatement));
    }

    /** Whether reserve, consume, commit and release each run as one statement (else as a transaction). */
    boolean oneStatementPerChange() {
        return reserveInOneStatement != null;
    }

    /**
     * A statement of the hot path, whole, from {@code sql/<dialect>/<name>.sql} beside this class (its
     * comments say why each condition is there), loaded by JDBI's classpath locator without comments and
     * sent on one line, as the store's other statements are (logs and statement statistics show it so).
     */
    private static String hot(Dialect dialect, String name) {
        String text = LOCATOR.getResource(Sql.class.getClassLoader(),
                "io/tokenquota/jdbi/sql/" + dialect.name().toLowerCase(java.util.Locale.ROOT) + "/" + name + ".sql");
        return text.strip().replaceAll("\\s+", " ").replace("( ", "(").replace(" )", ")");
    }

    /**
     * Whether a key-less hold's row is deleted when it is committed or released (PostgreSQL), its
     * finishing event being its record; H2 keeps the row, updated, and reads the same.
     */
    boolean deletesKeylessHolds() {
        return dialect == Dialect.POSTGRESQL;
    }

    /** Whether an account insert can race into a duplicate-key error the caller must swallow. */
    boolean insertAccountMayCollide() {
        return dialect == Dialect.H2;
    }

    private String returning(String update) {
        return returning(update, ACCOUNT_COLUMNS);
    }

    /** {@code update}, handing back {@code columns} of the rows it changed, as they are after it. */
    private String returning(String update, String columns) {
        return dialect == Dialect.POSTGRESQL
                ? update + " RETURNING " + columns
                : "SELECT " + columns + " FROM FINAL TABLE (" + update + ")";
    }
}

package io.tokenquota;

import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.Optional;

/**
 * The token ledger: hold before an AI call, charge what it really used after, or release.
 *
 * <p>Typical use around any AI call:
 * <pre>{@code
 * Reservation hold = ledger.reserve("user-42", 1_500, requestId);   // QuotaExceededException -> 429
 * try {
 *     long used = callModel();
 *     ledger.commit(hold.id(), used);
 * } catch (RuntimeException e) {
 *     ledger.release(hold.id());
 *     throw e;
 * }
 * }</pre>
 *
 * <p>Every mutating call is idempotent: {@code reserve}/{@code consume} on their idempotency key
 * (per subject), {@code commit}/{@code release} on the reservation id. Repeating a call with the
 * same parameters returns the first result and changes nothing; the same key with different
 * parameters fails with {@link ErrorCode#IDEMPOTENCY_CONFLICT} (or
 * {@link ErrorCode#RESERVATION_STATE_CONFLICT} for a reservation that finished differently).
 *
 * <p>All failures are {@link QuotaException}s with an {@link ErrorCode}; invalid input is rejected
 * before storage is touched. Implementations are thread-safe.
 */
public interface QuotaLedger {

    /**
     * Holds {@code request.tokens()} of the subject's current month, granted only if that many are
     * available, and returns the hold with the subject's account as the hold left it: for callers
     * that show the balance with every call (the servlet filter's {@code X-Quota-*} headers). It also
     * says whether the call was a replay of an earlier one with the same idempotency key: of
     * concurrent calls sharing a key, exactly one is not a replay (the servlet filter lets only that
     * one reach the model). The JDBI store takes the account from the hold's own statement, so the
     * account costs no extra round trip.
     *
     * @throws QuotaExceededException when fewer than {@code request.tokens()} are available
     * @throws NullPointerException   when {@code request} is {@code null}
     */
    Reserved reserve(HoldRequest request);

    /**
     * A hold of {@code tokens} with the policy's TTL and no endpoint label.
     *
     * @param idempotencyKey optional (may be {@code null}); unique per subject
     * @throws QuotaExceededException when fewer than {@code tokens} are available
     */
    default Reservation reserve(String subject, long tokens, String idempotencyKey) {
        return reserve(HoldRequest.of(subject, tokens).idempotencyKey(idempotencyKey).build()).reservation();
    }

    /**
     * Charges the actual amount and frees the hold. When {@code actualTokens} exceeds the hold, the
     * policy's {@link OverrunPolicy} decides what is charged.
     *
     * @throws QuotaException {@code RESERVATION_NOT_FOUND}, {@code RESERVATION_EXPIRED}, or
     *                        {@code RESERVATION_STATE_CONFLICT} when it finished another way
     */
    Reservation commit(String reservationId, long actualTokens);

    /**
     * {@link #commit(String, long)} that also records what the call used: the event log keeps
     * {@code usage} (its model and raw counts) beside the charge, for per-model reports
     * ({@link QuotaStatistics#modelUsage}). {@code actualTokens} is the charge as the caller weighed it
     * ({@link ModelWeights#charge}); the store does not weigh. A repeat of a finished commit with the
     * same {@code actualTokens} returns the first result whatever its usage: the first usage stays.
     * The default drops {@code usage}, for stores that keep none; the library's stores keep it.
     *
     * @param usage may be {@code null} (then it is {@link #commit(String, long)})
     */
    default Reservation commit(String reservationId, long actualTokens, TokenUsage usage) {
        return commit(reservationId, actualTokens);
    }

    default Reservation commit(Reservation reservation, long actualTokens) {
        return commit(reservation.id(), actualTokens);
    }

    /** Frees the hold without charge (the upstream call failed). Releasing an expired hold returns it as is. */
    Reservation release(String reservationId);

    default Reservation release(Reservation reservation) {
        return release(reservation.id());
    }

    /**
     * Reserve and commit in one step: granted only if {@code request.tokens()} are available, then
     * charged. A consume holds nothing, so a request with a {@link HoldRequest#ttl() TTL} is refused with
     * {@link ErrorCode#INVALID_ARGUMENT}.
     *
     * @throws QuotaExceededException when fewer than {@code request.tokens()} are available
     * @throws NullPointerException   when {@code request} is {@code null}
     */
    Reservation consume(HoldRequest request);

    /** {@link #consume(HoldRequest)} without an endpoint label; {@code idempotencyKey} may be {@code null}. */
    default Reservation consume(String subject, long tokens, String idempotencyKey) {
        return consume(HoldRequest.of(subject, tokens).idempotencyKey(idempotencyKey).build());
    }

    /**
     * Keeps a held hold alive: its expiry becomes {@code ttl} from now, never earlier than it was, so a call
     * still running past its first TTL keeps its tokens held, and no sweep or later reserve returns them early.
     * A hold past its expiry that no sweep or reserve has expired yet is still held, and is extended. A hold no
     * longer held (committed, released, expired) is returned unchanged. Changes no account and logs no event.
     *
     * @param ttl how long from now the hold lives, {@link Limits#MIN_TTL}..{@link Limits#MAX_TTL}, as
     *            {@link HoldRequest.Builder#ttl} takes it
     * @throws QuotaException {@code RESERVATION_NOT_FOUND} for an unknown id, {@code INVALID_KEY} for a malformed
     *                        one; {@code INVALID_ARGUMENT} for a TTL outside the limits a hold request takes
     */
    Reservation extend(String reservationId, Duration ttl);

    /** Returns every hold past its TTL as {@code EXPIRED}; run it from a scheduler. Returns how many. */
    int expireStale();

    Optional<Reservation> reservation(String reservationId);

    /** The subject's current-month account, created from the policy on first touch. */
    QuotaAccount account(String subject);

    /**
     * A stored account of an earlier (or the current) month, without creating one.
     *
     * @throws QuotaException {@code MONTH_OUT_OF_RANGE} for a future month or one beyond the history window
     */
    Optional<QuotaAccount> account(String subject, YearMonth month);

    /**
     * The last {@code months} months (current month first, which is created on first touch); months
     * without an account are left out.
     *
     * @param months 1..{@link QuotaPolicy#historyMonths()}
     */
    List<QuotaAccount> history(String subject, int months);

    /**
     * Sets the subject's monthly plan allocation (the host's user sync). Accounts created from now
     * on start from it; the current month's account takes it at once, except that it is never
     * lowered below what the month has already spent or holds of its allocation.
     */
    QuotaAccount setPlan(String subject, long monthlyAllocation);

    /**
     * Puts a user in a team, or takes it out ({@code teamId == null}): the host's membership sync. From
     * then on each of the user's holds and consumes is granted only if both the user's account and the
     * team's ({@link Team#subject}) allow it, and is held against both; a hold already open keeps the
     * team it was held against, and its commit, release or expiry settles that team. Like a plan change,
     * it opens the user's account of the month if it has none. Idempotent.
     *
     * @throws QuotaException {@code INVALID_SUBJECT} for a team's subject, {@code INVALID_KEY} for a bad team id
     */
    void setTeam(String subject, String teamId);

    /** The user's team, if it belongs to one. */
    Optional<String> team(String subject);

    QuotaPolicy policy();

    /**
     * The ledger whose accounts this one changes: itself, unless it is a view that only adds behaviour around
     * another ledger's calls (the servlet module's timing wrapper, {@code QuotaMetrics.timed}), which answers its
     * delegate's. Code that must tell two ledgers apart by the accounts they change compares these: two quota
     * filters, one on a store and one on a timed view of it, hold one request's call once (round 398: a Spring Boot
     * application's auto-configured filter, built on a timed view, and the host's own filter on the store charged one
     * call twice, 3,000 for 1,500). A wrapper of your own should answer its delegate's too.
     */
    default QuotaLedger underlying() {
        return this;
    }
}

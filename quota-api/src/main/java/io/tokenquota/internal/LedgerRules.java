package io.tokenquota.internal;

import io.tokenquota.ErrorCode;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.UsageForecast;
import io.tokenquota.Reservation;
import java.time.Duration;
import java.time.Instant;

/**
 * The ledger's arithmetic and answers, written once: every store (in memory, SQL) calls these and
 * keeps only its own storage mechanics. Not API: the {@code internal} package may change in any
 * release. Stateless, thread-safe.
 *
 * <h2>The month model</h2>
 * A month's account spends its allowance ({@code allocated}) first, then purchased tokens
 * ({@code granted + carried}). Tokens held by a reservation count as consumed for that order, so
 * the purchased tokens a month has consumed are
 * {@code clamp(used + reserved - allocated, 0, granted + carried)} ({@link #purchasedConsumed}).
 * The rest of the purchased tokens ({@link QuotaAccount#unusedGranted()}) is what the next month
 * carries. When a hold of a closed month finishes later (commit, release, expiry, late commit), the
 * change of that month's purchased consumption moves to the subject's latest account
 * ({@link #lateTransfer}), so the carried amount never depends on whether the sweep, the new month's
 * first touch or the late call came first.
 */
public final class LedgerRules {
    /**
     * Subjects in code point order (the order of their UTF-8 bytes), the order ties are listed in by
     * {@code topConsumers} and {@code topTeams} on every store: PostgreSQL's {@code COLLATE "C"}, H2's
     * {@code STRINGTOUTF8}. Unlike {@link String#compareTo} (UTF-16 units), it puts U+E000..U+FFFF
     * before supplementary characters (round 349).
     */
    public static final java.util.Comparator<String> CODE_POINT_ORDER = LedgerRules::compareCodePoints;

    private static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int x = a.codePointAt(i);
            int y = b.codePointAt(j);
            if (x != y) {
                return Integer.compare(x, y);
            }
            i += Character.charCount(x);
            j += Character.charCount(y);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    private static final long MILLIS_PER_DAY = 86_400_000L;
    /** The forecast's pace is measured over at least an hour, so a month's first call does not project wildly. */
    private static final long MIN_ELAPSED_MILLIS = 3_600_000L;

    private LedgerRules() {
    }

    // ---------------------------------------------------------------- 64-bit arithmetic

    /**
     * {@code a + b}, refused with {@link ErrorCode#AMOUNT_OVERFLOW} instead of wrapping; stores call it
     * before they write anything.
     */
    public static long add(long a, long b) {
        try {
            return Math.addExact(a, b);
        } catch (ArithmeticException e) {
            throw overflow();
        }
    }

    /**
     * Refuses a balance change whose {@code used + reserved} would pass 64 bits (so {@code available}
     * is always representable): the check every store runs on the account it is about to write.
     */
    public static void checkFits(long used, long reserved) {
        if (used < 0 || reserved < 0 || used > Long.MAX_VALUE - reserved) {
            throw overflow();
        }
    }

    public static QuotaException overflow() {
        return new QuotaException(ErrorCode.AMOUNT_OVERFLOW,
                "the change would take the account's used + reserved tokens past 2^63 - 1; nothing was written");
    }

    // ---------------------------------------------------------------- commit and release

    /** What a commit charges and records as overage. */
    public record Charge(long charged, long overage) {
    }

    /**
     * The charge of a commit of a live hold: {@code CHARGE_ACTUAL} charges the actual tokens (the
     * overage is the part beyond the hold), {@code CAP_AT_HOLD} at most the hold (the overage is the
     * uncharged rest).
     */
    public static Charge charge(OverrunPolicy policy, long held, long actual) {
        long charged = policy == OverrunPolicy.CHARGE_ACTUAL ? actual : Math.min(actual, held);
        return new Charge(charged, Math.max(0, actual - held));
    }

    /**
     * The charge of a late commit (its hold expired first, so its tokens are no longer held):
     * {@code CHARGE_ACTUAL} charges the actual tokens, possibly overdrawing the month;
     * {@code CAP_AT_HOLD} at most the hold and at most what the hold's month still has available, so
     * under that policy {@code used} never passes the month's limit. The overage is what the actual
     * tokens exceed the charge by (under {@code CHARGE_ACTUAL}: beyond the hold).
     *
     * @param available the hold's month's available tokens right now
     */
    public static Charge lateCharge(OverrunPolicy policy, long held, long actual, long available) {
        if (policy == OverrunPolicy.CHARGE_ACTUAL) {
            return new Charge(actual, Math.max(0, actual - held));
        }
        long charged = Math.min(Math.min(actual, held), Math.max(0, available));
        return new Charge(charged, actual - charged);
    }

    /**
     * What a commit of a hold that is no longer {@code HELD} answers: the hold itself when it was
     * committed with the same actual tokens (an idempotent retry), {@code null} when it expired (the
     * caller then charges it as a late commit), else a {@code RESERVATION_STATE_CONFLICT}.
     */
    public static Reservation commitOfFinished(Reservation hold, long actual) {
        switch (hold.state()) {
            case EXPIRED:
                return null;
            case COMMITTED:
                if (hold.actual() != null && hold.actual() == actual) {
                    return hold;
                }
                throw new QuotaException(ErrorCode.RESERVATION_STATE_CONFLICT,
                        "reservation " + hold.id() + " was already committed with " + hold.actual() + " tokens");
            case RELEASED:
                throw new QuotaException(ErrorCode.RESERVATION_STATE_CONFLICT,
                        "reservation " + hold.id() + " was released");
            default:
                throw new IllegalStateException("reservation " + hold.id() + " is still held");
        }
    }

    /**
     * What a release of a hold that is no longer {@code HELD} answers: the hold itself when it was
     * released or expired (nothing more to return), a {@code RESERVATION_STATE_CONFLICT} when it was
     * committed.
     */
    public static Reservation releaseOfFinished(Reservation hold) {
        switch (hold.state()) {
            case RELEASED:
            case EXPIRED:
                return hold;
            case COMMITTED:
                throw new QuotaException(ErrorCode.RESERVATION_STATE_CONFLICT,
                        "reservation " + hold.id() + " was already committed");
            default:
                throw new IllegalStateException("reservation " + hold.id() + " is still held");
        }
    }

    /**
     * Whether a replayed reserve/consume (same subject and idempotency key) asks for what the first
     * call's hold gives: same kind (hold or consume), tokens and endpoint label, and a TTL no longer
     * than the hold has (to the millisecond). A replay that differs is an {@code IDEMPOTENCY_CONFLICT}:
     * a retry must not quietly get a hold it did not ask for.
     *
     * @param ttl the TTL asked for (the policy's when the caller gave none); {@code null} for a consume
     */
    public static void checkReplay(Reservation first, boolean firstWasConsume, boolean consume, long tokens,
                                   Duration ttl, String endpoint) {
        boolean same = firstWasConsume == consume && first.held() == tokens
                && java.util.Objects.equals(first.endpoint(), endpoint)
                && (consume || sameTtl(Duration.between(first.createdAt(), first.expiresAt()), ttl));
        if (!same) {
            throw new QuotaException(ErrorCode.IDEMPOTENCY_CONFLICT, "idempotency key " + first.idempotencyKey()
                    + " was already used with different parameters");
        }
    }

    /**
     * TTLs are compared to the millisecond: stores keep instants to the microsecond at best, and a
     * retry that computes its TTL at run time must still be a replay. A hold given a longer life
     * ({@code extend}, which keeps a running call's hold held) no longer shows the TTL it was taken
     * with; a replay asking no more than the life it has is answered by it.
     */
    private static boolean sameTtl(Duration stored, Duration asked) {
        return asked != null && stored.minus(asked).toNanos() > -1_000_000L;
    }

    // ---------------------------------------------------------------- teams

    /**
     * Which account refuses a hold or consume of {@code tokens} by a member ({@code team} is its team's
     * account of the same month, {@code null} for a subject without a team), or {@code null} when both
     * allow it. The stricter limit wins: the account with fewer tokens available is the one the
     * subject hits first, and on a tie the subject's own.
     */
    public static QuotaExceededException.Scope refusal(QuotaAccount user, QuotaAccount team, long tokens) {
        if (available(user, team) >= tokens) {
            return null;
        }
        return team != null && team.available() < user.available()
                ? QuotaExceededException.Scope.TEAM : QuotaExceededException.Scope.USER;
    }

    /**
     * What a member can still hold: its own account's {@code available}, or the smaller of its own and
     * its team's (the stricter limit). A late commit under {@code CAP_AT_HOLD} charges at most this.
     */
    public static long available(QuotaAccount user, QuotaAccount team) {
        return team == null ? user.available() : Math.min(user.available(), team.available());
    }

    /** The refusal of a hold by {@code scope}'s account: that account's limit, available tokens and reset. */
    public static QuotaExceededException refused(String subject, long tokens, QuotaAccount user, QuotaAccount team,
                                                 QuotaExceededException.Scope scope, QuotaPolicy policy) {
        QuotaAccount by = scope == QuotaExceededException.Scope.TEAM ? team : user;
        return new QuotaExceededException(subject, tokens, by.limit(), by.available(), policy.resetOf(by.month()),
                scope, team == null ? null : io.tokenquota.Team.id(team.subject()));
    }

    // ---------------------------------------------------------------- months and purchased tokens

    /**
     * Purchased tokens the month has consumed, spent or held: {@code clamp(used + reserved - allocated,
     * 0, granted + carried)}, the allowance being spent first.
     */
    public static long purchasedConsumed(QuotaAccount a) {
        long purchased = Math.max(0, a.granted() + a.carried());
        long consumed = saturatedSum(a.used(), a.reserved());
        return clamp(consumed - a.allocated(), purchased);
    }

    /** Purchased tokens the month has spent (charged), not counting those only on hold. */
    public static long purchasedSpent(QuotaAccount a) {
        return clamp(a.used() - a.allocated(), Math.max(0, a.granted() + a.carried()));
    }

    /** Purchased tokens the month holds for its open reservations. */
    public static long purchasedHeld(QuotaAccount a) {
        return purchasedConsumed(a) - purchasedSpent(a);
    }

    /** What a new month starts with as {@code carried}, from the subject's latest earlier account. */
    public static long carriedInto(QuotaAccount previous, QuotaPolicy policy) {
        return previous == null || !policy.rolloverPurchased() ? 0 : previous.unusedGranted();
    }

    /**
     * How many tokens a change to a closed month's account moves to the subject's latest account's
     * {@code carried}: the purchased tokens the change gave back (positive: a hold released, expired or
     * committed for less), or took (negative: a late charge beyond the hold). What a late charge takes
     * is at most what the latest account still has ({@code granted + carried} stays non-negative);
     * beyond that it stays the closed month's overdraft, as an overdraft in a month ends with it.
     * Zero with rollover off: a closed month's purchased tokens lapsed with it.
     */
    public static long lateTransfer(QuotaAccount closedBefore, QuotaAccount closedAfter, QuotaAccount latest,
                                    QuotaPolicy policy) {
        if (!policy.rolloverPurchased()) {
            return 0;
        }
        long delta = purchasedConsumed(closedBefore) - purchasedConsumed(closedAfter);
        return delta >= 0 ? delta : Math.max(delta, -Math.max(0, latest.granted() + latest.carried()));
    }

    /**
     * What a late change of a closed month needed from the latest month and did not get: the part of a
     * late charge's take beyond the latest month's {@code granted + carried} ({@link #lateTransfer}).
     * Zero for a change that gives tokens back, and with rollover off.
     */
    public static long lateShortfall(QuotaAccount closedBefore, QuotaAccount closedAfter, long transfer,
                                     QuotaPolicy policy) {
        long delta = purchasedConsumed(closedBefore) - purchasedConsumed(closedAfter);
        return !policy.rolloverPurchased() || delta >= 0 ? 0 : transfer - delta;
    }

    /**
     * How many of a closed month's lapsed tokens ({@code refund_lapsed}: purchased tokens of refunded purchases that
     * lapsed refunds found neither spent nor held there and left in its {@code granted}, {@link #lapsedRefund}) a
     * late change of the month drops from its {@code granted}, with rollover off: all of them once the month
     * consumes (spends or holds) more purchased tokens than it has besides them, none before. A late charge that
     * reaches into them spends refunded tokens: with them gone from the limit it shows as the month's overdraft, and
     * the next lapsed refund there finds nothing of them, as when the refund's take lowers the month
     * ({@link #lapsedRefund}). Round 431: January's agent call held the last 5,000 of the allowance, pack A lapsed
     * unheld on its February refund (0 unrecovered), and the call's 8,000 committed on February 6 spent 3,000 of A
     * inside January's limit of 15,000, recorded nowhere; now January's limit drops to 10,000, 3,000 overdrawn,
     * as the commit before the refund records 3,000 unrecovered. The same for a hold that expired before the refund
     * and is committed late after it. Zero with rollover on: a late charge takes from the latest month
     * ({@link #lateTransfer}).
     *
     * @param closedAfter the closed month with the change applied
     * @param lapsed      that month's {@code refund_lapsed}
     */
    public static long lateLapsed(QuotaAccount closedAfter, long lapsed, QuotaPolicy policy) {
        long besides = closedAfter.granted() + closedAfter.carried() - lapsed;
        return policy.rolloverPurchased() || lapsed <= 0 || purchasedConsumed(closedAfter) <= besides ? 0 : lapsed;
    }

    /**
     * How much of a late charge's shortfall ({@link #lateShortfall}) a closed month between the
     * charged month and the latest one gives: its purchased tokens on hold, at most the shortfall. The
     * charged month's unspent purchased tokens were carried through those months: a later month's hold
     * may hold them, and then they are not in the latest month (round 316: January's late charge found
     * March empty while February held January's 10,000; February's release then carried them all to
     * March, and January's 6,000 were paid by no one). The month between lowers its {@code granted} as a
     * refund's take does ({@link #refundTakeLowering}: its unspent purchased tokens, which live in a later
     * month already, and the take), so finishing its holds gives back only the rest. Lowered by the take
     * alone, its purchased tokens would still count the unspent ones, and a release of the hold after the
     * charge gave back the take a second time (found by {@code OrderIndependenceProperties}: 1,000 more
     * left than with the release before the charge).
     */
    public static long heldTake(QuotaAccount between, long shortfall) {
        return Math.min(shortfall, purchasedHeld(between));
    }

    /**
     * A closed month's {@code granted} after a late charge that needed {@code shortfall} purchased tokens
     * no later month had ({@link #lateShortfall} less every {@link #heldTake}). Its unspent purchased
     * tokens live in the later months, so none left there means a refund took them: the month keeps as
     * purchased only what it consumed, this charge's takes included. Left as they were, the tokens the
     * charge could not get would count as consumed, and a later release of another of its holds would
     * hand them to the latest month again: a refunded purchase come back (round 313). Unchanged when
     * nothing is short.
     *
     * @param closedAfter the closed month with the charge applied and its {@code granted} as it was
     */
    public static long closedGranted(QuotaAccount closedAfter, long shortfall) {
        return shortfall <= 0 ? closedAfter.granted()
                : purchasedConsumed(closedAfter) - shortfall - closedAfter.carried();
    }

    /**
     * How much of a refunded purchase the latest account can take back: its purchased tokens not yet
     * spent, tokens on hold included (held tokens are not spent: once the hold is released the user
     * keeps none of them). What this leaves of the refund is taken from the purchased tokens closed
     * months still hold ({@link #purchasedHeld}), then recorded as already spent ({@code unrecovered}).
     */
    public static long refundable(QuotaAccount latest, long tokens) {
        long unspent = Math.max(0, latest.granted() + latest.carried()) - purchasedSpent(latest);
        return Math.min(tokens, Math.max(0, unspent));
    }

    /**
     * Whether the refund of a purchase credited in {@code purchaseMonth} may find none of its tokens in the
     * {@code current} month: with rollover off a closed month's purchased tokens lapsed with it, so the current
     * month's purchased tokens are other purchases', paid for and not refunded. Such a refund takes nothing from
     * the current month ({@link #refundable} and {@link #refundAbsorbed} are not asked) and is split on the month
     * its tokens lapsed in ({@link #lapsedMonth}, {@link #lapsedRefund}), unless the months after the purchase's
     * carried its tokens on to the current one, which opened while rollover was on (round 427); the current month
     * logs its {@code DEBITED} event of 0 tokens with the {@code unrecovered} part as overage (round 422: January's
     * unused 5,000-token pack lapsed, February's pack bought, January's refunded in February took February's 5,000
     * and left the user none of the pack paid for).
     */
    public static boolean refundLapsed(java.time.YearMonth purchaseMonth, java.time.YearMonth current,
                                       QuotaPolicy policy) {
        return !policy.rolloverPurchased() && purchaseMonth != null && purchaseMonth.isBefore(current);
    }

    /**
     * The month a lapsed purchase's tokens lapsed in ({@link #refundLapsed}): of the subject's months from the one
     * the purchase was credited in to the current one, in month order, that one, or the last of those after it that
     * each carried purchased tokens from the one before. With rollover off throughout no month carries, and it is the
     * purchase's own; tokens carried while rollover was on lapsed where the carrying stopped (round 425: A bought
     * in January, carried into February with rollover on and spent there, refunded in March after rollover was
     * turned off, was split on January, where A was unspent: 0 unrecovered for 5,000 spent). None when the carrying
     * reaches the current month: it still carries the tokens, which did not lapse, and the refund is an ordinary one
     * ({@link #refundable}, then {@link #refundAbsorbed}), as with rollover on (round 427: February opened by an
     * instance with rollover on, carrying January's unused pack A; A refunded on February 20 by an instance with
     * rollover off was split on January: 0 unrecovered for the 5,000 February spent of it, or, unspent, its 5,000
     * left usable in February).
     *
     * @param fromPurchaseMonth the subject's accounts from the purchase's month to the current one, the last
     * @return the index of that month in {@code fromPurchaseMonth}, or -1 when the carrying reaches the last
     */
    public static int lapsedMonth(java.util.List<QuotaAccount> fromPurchaseMonth) {
        int i = 0;
        while (i + 1 < fromPurchaseMonth.size() && fromPurchaseMonth.get(i + 1).carried() > 0) {
            i++;
        }
        return i + 1 < fromPurchaseMonth.size() ? i : -1;
    }

    /**
     * What a lapsed refund does to the month its purchase's tokens lapsed in ({@link #lapsedRefund}): that
     * month's new {@code granted} and {@code refund_lapsed}, the tokens it takes from that month's holds (its
     * {@code DEBITED} event there) and the refund's {@code unrecovered}.
     */
    public record LapsedRefund(long granted, long lapsed, long taken, long unrecovered) {
    }

    /**
     * A lapsed refund ({@link #refundLapsed}), split on the month its tokens lapsed in ({@link #lapsedMonth}) as a
     * refund in that month would split it ({@link #refundable}): what that month spent of the purchase is
     * {@code unrecovered}; what it left unspent is found there. Of that, first the purchased tokens no hold
     * consumes: they lapsed with the month and stay in its {@code granted}, counted in its {@code refund_lapsed} so
     * that the next refund there does not find them again (round 422; round 425: picked out of the refunded
     * purchases by their instant, A's refund through a clock 2 s behind, landed in February, was left out, and B's
     * refund found January's 8,000 unspent tokens again: 0 unrecovered for 2,000 spent). Then those its holds
     * still hold, which a late commit can spend: the refund takes them, and the month's purchased tokens drop to
     * what it consumes (spends or holds) less the take, its lapsed ones gone with them ({@code refund_lapsed} back
     * to 0), as {@link #refundTakeLowering} lowers a closed month with rollover on: a late commit overdraws the
     * month by what it spends of the take, and a release gives nothing back (round 425: January's agent call held
     * A's 5,000 at the turn, A was refunded in February with 0 unrecovered, and the call's late commit spent them
     * inside January's untouched limit).
     *
     * @param month        the account of the month the purchase's tokens lapsed in
     * @param lapsedBefore that month's {@code refund_lapsed}
     */
    public static LapsedRefund lapsedRefund(QuotaAccount month, long lapsedBefore, long tokens) {
        long before = Math.max(0, lapsedBefore);
        QuotaAccount left = withCredit(month, month.allocated(), month.granted() - before);
        long found = refundable(left, tokens);
        long taken = Math.max(0, found - (unspentPurchased(left) - purchasedHeld(left)));
        return taken == 0 ? new LapsedRefund(month.granted(), before + found, 0, tokens - found)
                : new LapsedRefund(left.granted() - found, 0, taken, tokens - found);
    }

    /**
     * How much of a refund's unrecovered part the current month turns from purchased tokens into
     * allowance: the refunded purchase's tokens that month has spent ({@code used} beyond
     * {@code allocated}), at most the unrecovered part. Left in {@code granted}, they would count as
     * purchased tokens the money for which went back: a plan raise later in the month, which moves what
     * the month used onto the larger allowance, would make them unspent again, available and carried
     * (round 299: 10,000 left on a 30,000 plan with 25,000 used, where the raise before the refund
     * leaves 5,000). As allowance, {@code available} is unchanged, no purchased token stands for them, and
     * the refund and a raise end the same in either order.
     *
     * @param debit what the refund takes from the month's unspent purchased tokens ({@link #refundable})
     */
    public static long refundAbsorbed(QuotaAccount current, long debit, long unrecovered) {
        long purchasedLeft = Math.max(0, current.granted() + current.carried() - debit);
        return Math.min(unrecovered, clamp(current.used() - current.allocated(), purchasedLeft));
    }

    /**
     * How much a refund's take from a closed month's hold lowers that month's {@code granted}: its
     * purchased tokens it did not consume (they already live in a later month's {@code carried}) and the
     * take itself, so that its purchased tokens are what it consumed less the take, and finishing its holds
     * later gives back nothing of the refund ({@link #lateTransfer}). The closed month records it
     * ({@code refund_taken}) so that a plan change can give it back ({@link #planChange}, round 318).
     *
     * @param take what the refund takes from the month, at most {@link #purchasedHeld}
     */
    public static long refundTakeLowering(QuotaAccount closed, long take) {
        return closed.granted() + closed.carried() - purchasedConsumed(closed) + take;
    }

    /**
     * What of refunds' takes from a closed month still stands: what the month consumes (spends or holds)
     * beyond its allowance and its purchased tokens, at most what the takes lowered its {@code granted} by
     * ({@code taken}, its {@code refund_taken}). A hold released, expired or committed for less since the
     * take has kept the refunded tokens out of the later months already (what it gave back was smaller by
     * them): that part of the take is settled, and nothing of it is left to move (round 318).
     */
    public static long standingTake(QuotaAccount closed, long taken) {
        return Math.min(Math.max(0, taken), purchasedOverdraft(closed));
    }

    /**
     * Whether a refund that turns part of the current month's spent purchased tokens into allowance
     * ({@link #refundAbsorbed}) does so behind an earlier refund's take from a closed month that still
     * stands ({@link #standingTake}): that part is then the current month's {@code refund_absorbed_behind},
     * and a plan raise frees tokens for the earlier take before it ({@link #planChange}, round 318).
     */
    public static boolean absorbsBehindTakes(java.util.List<ClosedMonth> closed) {
        for (ClosedMonth m : closed) {
            if (standingTake(m.account(), m.taken()) > 0) {
                return true;
            }
        }
        return false;
    }

    /**
     * A closed month a plan change may touch: one with refunds' takes on record ({@code taken}, its
     * {@code refund_taken}: how much they lowered its {@code granted} and no plan change gave back yet),
     * or one whose holds still hold purchased tokens (a refund's spent part a raise sets free may take
     * them, as the refund would have after the raise).
     */
    public record ClosedMonth(QuotaAccount account, long taken) {
    }

    /**
     * What a plan change does to one closed month ({@link #planChange}): its new {@code granted} and
     * {@code refund_taken}, and how many purchased tokens it gets from the current month ({@code moved}, a
     * take moved onto the tokens the change freed: its {@code CREDITED} event, paired with the current
     * month's {@code DEBITED} one) or, when negative, gives it (a refund's spent part taking the month's
     * held tokens instead of the current month's allowance: the month's {@code DEBITED} event, paired with
     * the current month's {@code CREDITED} one).
     */
    public record TakeReturn(QuotaAccount account, long granted, long taken, long moved) {
    }

    /**
     * What a plan change gives the current month: its allocation, how much of that is refunds' spent part
     * ({@link #refundAbsorbed}, {@code refund_absorbed}) and how much of that part came behind takes of
     * closed months ({@code refund_absorbed_behind}), its new {@code granted}, what the closed months get
     * back or give (oldest first), and how many tokens of a spent part the current month gets back as
     * purchased tokens because the tokens the change freed went to earlier takes ({@code creditedBack}: a
     * {@code CREDITED} event).
     */
    public record PlanChange(long allocated, long refundAbsorbed, long absorbedBehind, long granted,
                             java.util.List<TakeReturn> returns, long creditedBack) {
        PlanChange(long allocated, long refundAbsorbed, long granted) {
            this(allocated, refundAbsorbed, 0, granted, java.util.List.of(), 0);
        }
    }

    /**
     * A plan change of the current month ({@code planAllocation}) and what it does to refunds' takes of
     * closed months (round 318). A refund takes the current month's unspent purchased tokens first, then
     * those closed months' holds still hold ({@link #refundable}, then {@link #purchasedHeld}, newest
     * first), and turns what the current month spent of the rest into allowance ({@link #refundAbsorbed}).
     * A plan raise can make purchased tokens the current month had spent unspent again (its allowance now
     * covers that use); had the raise come first, the refund would have taken those instead. So the change
     * gives the tokens it frees, in the order the refunds would have taken them:
     * <ol>
     *   <li>to the spent parts that became allowance with no earlier take standing ({@code refund_absorbed}
     *   less the part behind), as before ({@code planAllocation}: the allowance keeps of them only what the
     *   use needs);</li>
     *   <li>to the takes still standing ({@link #standingTake}), oldest month first (a refund takes newest
     *   first, so the oldest takes are the ones the freed tokens would have spared): the current month's
     *   {@code granted} drops by what it pays, the closed month's rises by as much;</li>
     *   <li>to the spent parts that became allowance behind those takes ({@code refund_absorbed_behind}): a
     *   refund made after an earlier one's take, which the raise would have reached only after that take.
     *   They take what the freed tokens still leave, then held tokens of closed months (those a move just
     *   gave back to a month whose hold is still open, as the refund would have taken them), newest first,
     *   then the allowance the month's spent purchased tokens give ({@link #refundAbsorbed}); what is still
     *   left stays unrecovered, and the current month gets it back as purchased tokens
     *   ({@code creditedBack}).</li>
     * </ol>
     * Left as they were, refund then raise ended otherwise than raise then refund (round 318: January's job
     * holding 1,000 bought tokens, February's all spent, a 1,000-token pack refunded, the plan raised from
     * 20,000 to 25,000: 5,000 left in February where the raise first leaves 4,000, and January's job spent
     * 1,000 refunded tokens nobody paid for).
     *
     * <p>A closed month whose consumption no longer passes its purchased tokens, after the move or before
     * it, gets the rest of what the takes lowered its {@code granted} by back as well (the purchased tokens
     * it did not consume, which live in later months): it reads as if the refund had never taken from it, as
     * when the raise came first. That part moves no token: its consumed purchased tokens are what they were.
     *
     * <p>A lowering never makes spent purchased tokens of unspent ones (the allocation never drops below
     * what the month spent or holds of it), so it moves nothing. With rollover off a closed month's purchased
     * tokens lapsed with it and no refund takes from it.
     *
     * @param absorbedBehind of {@code refundAbsorbed}, the part behind takes ({@code refund_absorbed_behind})
     * @param closed the closed months with takes on record or open holds, any order
     * @throws QuotaException {@code MAX_QUOTA_EXCEEDED} when the month's limit would pass the max quota
     */
    public static PlanChange planChange(QuotaAccount current, long refundAbsorbed, long absorbedBehind, long plan,
                                        java.util.List<ClosedMonth> closed, QuotaPolicy policy) {
        long behind = Math.max(0, Math.min(absorbedBehind, refundAbsorbed));
        if (!policy.rolloverPurchased()) {
            behind = 0;
        }
        // 1. the behind part set apart (as purchased tokens the month spent), the rest as before
        QuotaAccount apart = withCredit(current, current.allocated() - behind, current.granted() + behind);
        PlanChange front = planAllocation(apart, refundAbsorbed - behind, plan);
        QuotaAccount changed = withCredit(apart, front.allocated(), apart.granted());
        long freed = Math.max(0, unspentPurchased(changed) - unspentPurchased(apart));
        java.util.List<ClosedMonth> oldestFirst = new java.util.ArrayList<>(closed);
        oldestFirst.sort(java.util.Comparator.comparing(m -> m.account().month()));
        oldestFirst.removeIf(m -> !m.account().month().isBefore(current.month()));
        int n = oldestFirst.size();
        QuotaAccount[] after = new QuotaAccount[n];
        long[] taken = new long[n];
        long[] moved = new long[n];
        boolean[] touched = new boolean[n];
        long granted = apart.granted();
        // 2. the takes still standing, oldest month first
        for (int i = 0; i < n; i++) {
            ClosedMonth m = oldestFirst.get(i);
            QuotaAccount a = m.account();
            after[i] = a;
            taken[i] = Math.max(0, m.taken());
            if (taken[i] == 0 || !policy.rolloverPurchased()) {
                continue;
            }
            long overdraft = purchasedOverdraft(a);
            long move = Math.min(freed, Math.min(taken[i], overdraft));
            freed -= move;
            granted -= move;
            moved[i] = move;
            if (overdraft - move <= 0) {
                // nothing of the take stands any more: the month reads as before the refund took from it
                after[i] = withCredit(a, a.allocated(), a.granted() + taken[i]);
                taken[i] = 0;
                touched[i] = true;
            } else if (move > 0) {
                after[i] = withCredit(a, a.allocated(), a.granted() + move);
                taken[i] -= move;
                touched[i] = true;
            }
        }
        // whether an earlier refund's take still stands once the freed tokens moved: only then is what step 3
        // turns into allowance behind a take. Step 3's own takes are its refund's, as a refund's own takes never
        // put its spent part behind (round 332: counted behind them, a later raise left 2,000 refunded tokens as
        // allowance beside a purchase standing unspent, carried into the next month)
        boolean earlierTakeStands = false;
        for (long t : taken) {
            earlierTakeStands |= t > 0;
        }
        // 3. the spent parts behind them, as a refund made after the raise would split them
        long rest = behind;
        long debit = Math.min(rest, freed);
        rest -= debit;
        granted -= debit;
        for (int i = n - 1; i >= 0 && rest > 0; i--) {
            long take = Math.min(rest, purchasedHeld(after[i]));
            if (take > 0) {
                long lowering = refundTakeLowering(after[i], take);
                after[i] = withCredit(after[i], after[i].allocated(), after[i].granted() - lowering);
                taken[i] += lowering;
                moved[i] -= take;
                touched[i] = true;
                rest -= take;
            }
        }
        long absorbedBack = refundAbsorbed(withCredit(changed, changed.allocated(), granted), 0, rest);
        granted -= absorbedBack;
        long creditedBack = rest - absorbedBack;
        long allocated = front.allocated() + absorbedBack;
        long credit = granted + current.carried();
        if (allocated > current.allocated() && allocated > policy.maxQuota() - credit) {
            throw new QuotaException(ErrorCode.MAX_QUOTA_EXCEEDED, "a plan of " + plan + " tokens would take "
                    + current.subject() + "'s " + current.month() + " limit past the max quota " + policy.maxQuota());
        }
        java.util.List<TakeReturn> returns = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (touched[i]) {
                returns.add(new TakeReturn(oldestFirst.get(i).account(), after[i].granted(), taken[i], moved[i]));
            }
        }
        return new PlanChange(allocated, front.refundAbsorbed() + absorbedBack, earlierTakeStands ? absorbedBack : 0, granted,
                java.util.List.copyOf(returns), creditedBack);
    }

    /** The detail of the current month's event of a take moved from or to {@code closed} ({@link #planChange}). */
    public static String takeMovedFrom(java.time.YearMonth closed) {
        return "refund take of " + closed + " moved by a plan change";
    }

    /** The detail of a closed month's event of its take moved to or from {@code current} ({@link #planChange}). */
    public static String takeMovedTo(java.time.YearMonth current) {
        return "refund take moved to " + current + " by a plan change";
    }

    /** The detail of the current month's {@code CREDITED} event of a spent part given back ({@link #planChange}). */
    public static final String SPENT_PART_BACK = "refund's spent part given back by a plan change";

    /** {@code a} with another {@code allocated} and {@code granted}. */
    private static QuotaAccount withCredit(QuotaAccount a, long allocated, long granted) {
        return new QuotaAccount(a.subject(), a.month(), allocated, granted, a.carried(), a.used(), a.reserved(),
                a.createdAt(), a.updatedAt());
    }

    /** The month's purchased tokens not spent (held ones included): what a refund could take back of them. */
    private static long unspentPurchased(QuotaAccount a) {
        return Math.max(0, a.granted() + a.carried()) - purchasedSpent(a);
    }

    /**
     * What a month consumes (spends or holds) beyond its allowance and its purchased tokens: in a closed
     * month a refund took from, at least what the take left uncovered.
     */
    private static long purchasedOverdraft(QuotaAccount a) {
        long consumed = saturatedSum(a.used(), a.reserved());
        return Math.max(0, consumed - a.allocated() - Math.max(0, a.granted() + a.carried()));
    }

    /**
     * The allocation a plan change gives the current month: the new plan, except that it is never
     * lowered below what the month has spent or holds of its allocation ({@code used + reserved}, at
     * most the old allocation). A month spends its allocation before its purchased tokens
     * ({@link #purchasedConsumed}), so a floor any lower would turn purchased tokens the month never
     * spent into spent ones and lose them (round 295); and the holds open at the change were granted
     * under the old plan: charging them against the new one would spend purchased tokens too (round
     * 299). The price: what those holds leave unused stays allowance until the month ends, never more
     * than the old plan gave (round 297, docs/decisions.md). An account already overdrawn keeps its
     * allocation unless the plan is higher.
     *
     * <p>The refunds' spent part the allocation took ({@code refundAbsorbed}) is set apart first: the
     * plan replaces only the rest, and of that part the month keeps what its use still needs beyond the
     * new allocation and the purchased tokens still standing (round 316: with a second purchase standing,
     * a raise after the refund left its spent part as allowance beside that purchase). A raise that covers the use leaves none of it (the refund, made after the raise,
     * would have found those tokens unspent and taken them back); one that does not keeps what it must,
     * so a refund then a raise ends as the raise then the refund, also in an overdrawn month (round 313:
     * a raise after the refund of an overdrawn month's purchase gave the user nothing). {@link #planChange}
     * calls it with the spent parts behind refunds' takes set apart, and checks the max quota on the result.
     */
    private static PlanChange planAllocation(QuotaAccount a, long refundAbsorbed, long plan) {
        long floor = saturatedSum(a.used(), a.reserved());
        long base = Math.max(plan, Math.min(a.allocated() - refundAbsorbed, floor));
        long absorbed = Math.min(refundAbsorbed, Math.max(0, a.used() - base - Math.max(0, a.granted() + a.carried())));
        return new PlanChange(base + absorbed, absorbed, a.granted());
    }

    /**
     * Refuses a credit that would take the month's {@code allocated + granted + carried} past the
     * policy's max quota.
     */
    public static void checkCredit(QuotaAccount a, long tokens, QuotaPolicy policy) {
        if (tokens > policy.maxQuota() - a.limit()) {
            throw new QuotaException(ErrorCode.MAX_QUOTA_EXCEEDED, "crediting " + tokens + " tokens would take "
                    + a.subject() + "'s " + a.month() + " limit past the max quota " + policy.maxQuota());
        }
    }

    /**
     * Refuses a credit larger than the max quota itself before any account is opened for it: no month's
     * limit could take it, and a refused credit must leave nothing behind (round 324: a refused credit to a
     * subject never seen opened its account of the month, which the dashboard then counted as a user). A
     * credit that only the month's own allowance takes past the max quota is refused by
     * {@link #checkCredit} after the month's first touch, which opens the account as any call naming the
     * subject does.
     */
    public static void checkCreditSize(String subject, long tokens, QuotaPolicy policy) {
        if (tokens > policy.maxQuota()) {
            throw new QuotaException(ErrorCode.MAX_QUOTA_EXCEEDED, "crediting " + tokens + " tokens to " + subject
                    + " would pass the max quota " + policy.maxQuota());
        }
    }

    // ---------------------------------------------------------------- purchase states

    /**
     * The answer to {@code recordPending} or {@code grant} repeated under a recorded transaction id: the record,
     * if the request is the one it was recorded with, else {@code IDEMPOTENCY_CONFLICT}. Once the purchase was
     * credited (its {@code month} set: completed, or refunded after that) its amount and currency are the money
     * its completion captured (round 414), which the request that recorded it may not name, so they are not
     * compared: the rest (subject, tokens, type, payment method, reason) no completion changes (round 417: a
     * pending 33.00 without a currency, taken as KRW, completed as 33.00 USD or captured in part as 30.00 USD,
     * then the pending request repeated exactly, a provider's redelivery, was {@code IDEMPOTENCY_CONFLICT}).
     * Money still tells a purchase never credited (pending, failed, refunded before its completion) from
     * another request. A request repeated after the credit that leaves out the payment method or the reason is
     * compared on the fields it carries: a pending event redelivered after its completion, which the payment
     * callback recorded and credited in one step with the completion's payment method and reason (round 422:
     * without them it was {@code IDEMPOTENCY_CONFLICT}, where docs/servlet.md's table says "unchanged"); one that
     * names other ones is still a conflict.
     */
    public static Purchase replayPurchase(Purchase existing, PurchaseRequest request) {
        boolean captured = existing.month() != null;
        PurchaseRequest recorded = new PurchaseRequest(existing.transactionId(), existing.subject(), existing.tokens(),
                existing.type(), captured && request.paymentMethod() == null ? null : existing.paymentMethod(),
                captured ? request.amount() : existing.amount(), captured ? request.currency() : existing.currency(),
                captured && request.reason() == null ? null : existing.reason());
        if (!recorded.equals(request)) {
            throw new QuotaException(ErrorCode.IDEMPOTENCY_CONFLICT,
                    "transaction " + request.transactionId() + " was already recorded with different parameters");
        }
        return existing;
    }

    /** What a refund does to a purchase, by the purchase's status ({@link #refundOf}). */
    public enum RefundOf {
        /** Already refunded: the replay answers the purchase as it is, changes nothing and logs nothing. */
        REPLAY,
        /**
         * Never credited (pending or failed): marked refunded, nothing debited ({@code unrecovered} 0, no
         * {@code month}), one {@code DEBITED} event of 0 tokens and 0 overage logged in the month of the
         * refund's instant (as {@code fail} logs its event), no account opened or changed. A later
         * {@code complete} is then {@code PURCHASE_STATE_CONFLICT} like that of any refunded purchase, so a
         * completion delivered after its refund credits nothing (round 340).
         */
        UNCREDITED,
        /** Completed: the unspent tokens are debited back ({@link LedgerRules#refundable} and what follows it). */
        CREDITED
    }

    /**
     * What a refund does to a purchase in {@code status}. Payment providers deliver events out of order
     * (Stripe: "doesn't guarantee the delivery of events in the order that they're generated", and retries
     * for days), so a refund may come before the completion it reverses. Refused, it left the completion to
     * credit tokens whose money went back (round 340). A refund names money that was captured and returned,
     * so it is final whatever came before: a pending purchase's, and a failed one's too (a payment declined
     * once and then paid under the same id, refunded before that completion arrived; {@code complete}
     * accepts a failed purchase, so the failed state must not let the completion through either).
     */
    public static RefundOf refundOf(PurchaseStatus status) {
        return switch (status) {
            case REFUNDED -> RefundOf.REPLAY;
            case PENDING, FAILED -> RefundOf.UNCREDITED;
            case COMPLETED -> RefundOf.CREDITED;
        };
    }

    // ---------------------------------------------------------------- statistics

    /**
     * The day an event counts on in daily usage: the day it happened, kept inside the month it belongs
     * to. A late commit of January's hold on February 1st counts on January 31st, so a month's daily
     * usage always adds up to its {@code used}.
     */
    public static java.time.LocalDate reportDay(java.time.YearMonth month, Instant at, QuotaPolicy policy) {
        java.time.LocalDate day = policy.dayOf(at);
        if (day.isAfter(month.atEndOfMonth())) {
            return month.atEndOfMonth();
        }
        return day.isBefore(month.atDay(1)) ? month.atDay(1) : day;
    }

    /**
     * The month's pace and when it runs out at that pace: tokens per day since the month began
     * (measured over at least an hour), and the instant {@code available} reaches 0, {@code now} when
     * it already has, {@code null} when it will not before the month resets.
     */
    public static UsageForecast forecast(QuotaAccount account, Instant now, QuotaPolicy policy) {
        Instant resetAt = policy.resetOf(account.month());
        long elapsedMillis = Math.max(MIN_ELAPSED_MILLIS,
                Duration.between(policy.startOf(account.month()), now).toMillis());
        double tokensPerDay = account.used() / ((double) elapsedMillis / MILLIS_PER_DAY);
        long available = account.available();
        Instant exhaustion;
        if (available <= 0) {
            exhaustion = now;
        } else if (tokensPerDay == 0) {
            exhaustion = null;
        } else {
            double millis = available / tokensPerDay * MILLIS_PER_DAY;
            long untilReset = Duration.between(now, resetAt).toMillis();
            exhaustion = millis >= untilReset ? null : now.plusMillis((long) millis);
        }
        return new UsageForecast(account.subject(), account.month(), account.used(), available, tokensPerDay,
                exhaustion, resetAt);
    }

    private static long clamp(long value, long max) {
        return Math.max(0, Math.min(value, max));
    }

    private static long saturatedSum(long a, long b) {
        long sum = a + b;
        return ((a ^ sum) & (b ^ sum)) < 0 ? Long.MAX_VALUE : sum;
    }
}

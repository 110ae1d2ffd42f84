package io.tokenquota.jdbi.testing;

import io.tokenquota.Currency;
import io.tokenquota.HoldRequest;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.testkit.MutableClock;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;

/**
 * The set-up the ledger rounds on purchases and their refunds (422, 425, 427 and 431) run their scenarios on: the
 * store (the in-memory reference, H2 or PostgreSQL, from the round's subclass), a second instance over the same
 * database, a clock standing on January 10, 2031 that the scenarios move, a policy with rollover on or off, packs of
 * 5,000 tokens bought for 33.00, model calls that spend them and an agent call held across the month turn (rounds
 * 427 and 431). One copy, so that the rounds' scenarios stand on the same figures.
 */
public abstract class PurchaseRefundRound {
    protected static final long PACK = 5_000;
    protected static final YearMonth JAN = YearMonth.of(2031, 1);
    protected static final YearMonth FEB = YearMonth.of(2031, 2);

    /** What this test's subjects and transactions start with: "r", the round's number, 8 random characters, "-". */
    protected String p;
    protected MutableClock clock;

    protected abstract QuotaStore store(QuotaPolicy policy);

    /** Another instance over the same database (the in-memory reference: the same store). */
    protected abstract QuotaStore secondInstance(QuotaStore first, QuotaPolicy policy);

    @BeforeEach
    protected void start() {
        // the round's number from its package (breakitNNN), so that a subject in a failure names its round
        String pkg = getClass().getPackageName();
        p = "r" + pkg.substring(pkg.lastIndexOf("breakit") + "breakit".length())
                + UUID.randomUUID().toString().substring(0, 8) + "-";
        clock = new MutableClock(Instant.parse("2031-01-10T12:00:00Z"));
    }

    protected QuotaPolicy policy(boolean rollover) {
        return QuotaPolicy.builder().clock(clock).zone(ZoneOffset.UTC).defaultAllocation(10_000)
                .rolloverPurchased(rollover).holdTtl(Duration.ofMinutes(10)).historyMonths(24).build();
    }

    protected static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    /**
     * payment_intent.processing as recorded: a pack for 33.00 by card in {@code currency} (null: PurchaseRequest's
     * default, KRW).
     */
    protected static PurchaseRequest pending(String tx, String s, Currency currency) {
        return new PurchaseRequest(tx, s, PACK, PurchaseType.PURCHASE, "card", new BigDecimal("33.00"), currency,
                null);
    }

    /** A pack bought: recorded pending, then completed, at 33.00 USD. */
    protected void buy(QuotaStore store, String tx, String s) {
        store.recordPending(pending(tx, s, Currency.USD));
        store.complete(tx, new BigDecimal("33.00"), Currency.USD);
    }

    /** One model call that used {@code tokens}: held, then committed at once. */
    protected void spend(QuotaStore store, String s, long tokens, String key) {
        Reservation r = store.reserve(s, tokens, p + key);
        store.commit(r.id(), tokens);
    }

    /**
     * On January 31 an agent call holds {@code tokens} for 31 days (a 31-day job, {@code Limits.MAX_TTL}), its
     * idempotency key {@code p + "agent"}: its hold, which outlives January (rounds 427 and 431).
     */
    protected Reservation agentHoldOnJanuary31(QuotaStore store, String s, long tokens) {
        clock.set(Instant.parse("2031-01-31T12:00:00Z"));
        return store.reserve(HoldRequest.of(s, tokens).idempotencyKey(p + "agent").ttl(Duration.ofDays(31)).build())
                .reservation();
    }

    /**
     * January: packs A and B bought ({@code p + "pi-a"}, {@code p + "pi-b"}: 10,000), the 10,000 allowance spent, and
     * the agent call of {@link #agentHoldOnJanuary31} holding a pack's 5,000 of the bought tokens at the turn (rounds
     * 427 and 431). The agent's hold.
     */
    protected Reservation twoPacksSpentAndAnAgentHold(QuotaStore store, String s) {
        buy(store, p + "pi-a", s);
        buy(store, p + "pi-b", s);
        spend(store, s, 10_000, "call-jan");
        return agentHoldOnJanuary31(store, s, PACK);
    }

    /** What a month overdrew (used beyond its limit): a refunded pack's tokens spent after the refund took them. */
    protected static long overdraft(QuotaAccount a) {
        return Math.max(0, a.used() - a.limit());
    }
}

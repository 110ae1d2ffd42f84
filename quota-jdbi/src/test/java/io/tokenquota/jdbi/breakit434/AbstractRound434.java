package io.tokenquota.jdbi.breakit434;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.Currency;
import io.tokenquota.HoldRequest;
import io.tokenquota.Purchase;
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
import org.junit.jupiter.api.Test;

/**
 * Round 434 (a ledger round), control: rollover off for the ledger's life; the payment events are those a host's
 * Stripe handler maps ({@code payment_intent.succeeded} as {@code grant}, {@code charge.refunded} as
 * {@code refund}, docs.stripe.com/api/events/types); the model call is a hold and its commit with the usage, as the
 * filter settles it (README, "Settlement": usage seen is charged, also after a month turn). Rules: docs/semantics.md,
 * "Credits and refunds" (round 431's {@code lateLapsed}: a late charge reaching into lapsed refunded tokens drops
 * them, so what it spends of them is the month's overdraft).
 */
abstract class AbstractRound434 {
    protected abstract QuotaStore store(QuotaPolicy policy);

    static final YearMonth JAN = YearMonth.of(2031, 1);

    /**
     * January: packs A, B, C (5,000 each), the 10,000 allowance spent, and on January 31 an agent call holding 2,000
     * of the bought tokens (31-day TTL). February 5: A refunded, unspent and unheld: it lapses (0 unrecovered).
     * February 6: the call answers with 12,000 tokens of usage: January spent 12,000 bought tokens, 10,000 of B and
     * C and 2,000 of A, so A's lapsed 5,000 leave January's limit (20,000, 2,000 overdrawn). February 7: B and C
     * refunded, all spent: 5,000 unrecovered each. Recorded 12,000 for 12,000 spent; February keeps its allowance.
     */
    @Test
    void controlThreePacksLapsedRefundLateChargeIntoItThenTwoRefunds() {
        MutableClock clock = new MutableClock(Instant.parse("2031-01-10T12:00:00Z"));
        QuotaStore store = store(QuotaPolicy.builder().clock(clock).zone(ZoneOffset.UTC).defaultAllocation(10_000)
                .rolloverPurchased(false).holdTtl(Duration.ofMinutes(10)).historyMonths(24).build());
        String p = "r434" + UUID.randomUUID().toString().substring(0, 8) + "-";
        String s = p + "buyer";
        for (String pack : List.of("a", "b", "c")) {
            store.grant(new PurchaseRequest(p + "pi-" + pack, s, 5_000, PurchaseType.PURCHASE, "card",
                    new BigDecimal("33.00"), Currency.USD, null));
        }
        store.consume(HoldRequest.of(s, 10_000).idempotencyKey(p + "jan").build());
        clock.set(Instant.parse("2031-01-31T12:00:00Z"));
        Reservation agent = store.reserve(HoldRequest.of(s, 2_000).idempotencyKey(p + "agent")
                .ttl(Duration.ofDays(31)).build()).reservation();
        clock.set(Instant.parse("2031-02-05T12:00:00Z"));
        Purchase a = store.refund(p + "pi-a");
        clock.set(Instant.parse("2031-02-06T12:00:00Z"));
        store.commit(agent.id(), 12_000);
        clock.set(Instant.parse("2031-02-07T12:00:00Z"));
        Purchase b = store.refund(p + "pi-b");
        Purchase c = store.refund(p + "pi-c");
        QuotaAccount jan = store.account(s, JAN).orElseThrow();
        QuotaAccount feb = store.account(s);
        assertAll(() -> assertEquals(0L, a.unrecovered(), a.toString()),
                () -> assertEquals(5_000L, b.unrecovered(), b.toString()),
                () -> assertEquals(5_000L, c.unrecovered(), c.toString()),
                () -> assertEquals(List.of(10_000L, 10_000L, 0L, 22_000L, 0L),
                        List.of(jan.allocated(), jan.granted(), jan.carried(), jan.used(), jan.reserved()),
                        jan.toString()),
                () -> assertEquals(10_000L, feb.available(), feb.toString()));
    }
}

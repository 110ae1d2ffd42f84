package io.tokenquota.servlet.breakit422;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.Purchase;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.testing.QuotaApiRound;
import io.tokenquota.testkit.MutableClock;
import java.math.BigDecimal;
import java.net.http.HttpResponse;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 422 of issue 11: the payment callback (issue item 11) over a ledger with {@code rolloverPurchased(false)}
 * (README's policy options: "{@code rolloverPurchased} (true)"; docs/semantics.md, "Month turn": with it off a
 * month's purchased tokens lapse at its end). The events are the callback's documented body (docs/servlet.md,
 * "POST /payment-callback"), as a host's Stripe handler maps {@code payment_intent.succeeded} ("completed") and
 * {@code charge.refunded} ("refunded") (docs.stripe.com/api/events/types); a charge may be refunded up to 180 days
 * after it (docs.stripe.com/refunds), so in a later month than its purchase.
 */
abstract class AbstractRound422 extends QuotaApiRound {
    static final long PACK = 5_000;

    protected final MutableClock clock = new MutableClock(Instant.parse("2031-01-10T12:00:00Z"));
    protected JdbiQuotaStore lapsing;

    /** The quota API on a second store over the round's database: rollover off, on the round's clock. */
    @Override
    protected QuotaApiServlet apiServlet() {
        QuotaPolicy p = QuotaPolicy.builder().defaultAllocation(ALLOWANCE).rolloverPurchased(false).clock(clock)
                .zone(ZoneOffset.UTC).build();
        lapsing = JdbiQuotaStore.builder().dataSource(db.dataSource()).policy(p).installSchema(true).build();
        return apiServlet(lapsing);
    }

    static String subject() {
        return "u422-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    /**
     * January: pack A bought (completed), never used; it lapses at the month's end. February: pack B bought. Then
     * A's charge is refunded. Nothing of A is in February (its tokens lapsed; Purchases.debit itself says "with
     * rollover off a closed month's purchased tokens lapsed with it: nothing there to take back"). Right: February
     * keeps B's 5,000 (allocated 20,000, granted 5,000). Found and fixed: the refund took B's 5,000; the user paid for B
     * and could spend none of it.
     */
    @Test
    void refundOfALapsedPackTakesTheNextMonthsPaidPack() {
        String s = subject();
        String a = paymentId();
        String b = paymentId();
        HttpResponse<String> boughtA = payment(a, s, PACK, "completed");
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        HttpResponse<String> boughtB = payment(b, s, PACK, "completed");
        List<Long> before = view(lapsing.account(s));
        HttpResponse<String> refundA = payment(a, s, PACK, "refunded");
        Purchase refunded = lapsing.purchase(a).orElseThrow();
        QuotaAccount feb = lapsing.account(s);
        assertAll(() -> assertEquals(200, boughtA.statusCode(), boughtA.body()),
                () -> assertEquals(200, boughtB.statusCode(), boughtB.body()),
                () -> assertEquals(List.of(ALLOWANCE, PACK, 0L, 0L, 0L), before, "February before the refund"),
                () -> assertEquals(200, refundA.statusCode(), refundA.body()),
                () -> assertEquals(PurchaseStatus.REFUNDED, refunded.status(), refunded.toString()),
                () -> assertEquals(List.of(ALLOWANCE, PACK, 0L, 0L, 0L), view(feb),
                        "February after January's lapsed pack A was refunded: " + feb));
    }

    /**
     * Control: A refunded in January (its tokens still there) takes A's 5,000; B, bought in February, is whole.
     * Its money as JSON numbers: {@code 3.3E+1} (RFC 8259 section 6 allows an exponent in a number) and {@code -0}
     * (a zero-value bonus) are stored exactly, 33.00 and 0.00.
     */
    @Test
    void controlRefundOfAPackInItsOwnMonth() {
        String s = subject();
        String a = paymentId();
        String b = paymentId();
        HttpResponse<String> boughtA = callback("{\"transaction_id\":" + q(a) + ",\"user_id\":" + q(s)
                + ",\"token_amount\":" + PACK + ",\"amount\":3.3E+1,\"currency\":\"usd\",\"status\":\"completed\"}");
        HttpResponse<String> refundA = callback("{\"transaction_id\":" + q(a) + ",\"user_id\":" + q(s)
                + ",\"token_amount\":" + PACK + ",\"amount\":\"33.00\",\"currency\":\"USD\",\"status\":\"refunded\"}");
        QuotaAccount jan = lapsing.account(s);
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        HttpResponse<String> boughtB = callback("{\"transaction_id\":" + q(b) + ",\"user_id\":" + q(s)
                + ",\"token_amount\":" + PACK + ",\"amount\":-0,\"currency\":\"USD\",\"status\":\"completed\"}");
        QuotaAccount feb = lapsing.account(s);
        Purchase pa = lapsing.purchase(a).orElseThrow();
        Purchase pb = lapsing.purchase(b).orElseThrow();
        assertAll(() -> assertEquals(200, boughtA.statusCode(), boughtA.body()),
                () -> assertEquals(200, refundA.statusCode(), refundA.body()),
                () -> assertEquals(200, boughtB.statusCode(), boughtB.body()),
                () -> assertEquals("REFUNDED 33.00 USD", pa.status() + " " + pa.amount() + " " + pa.currency()),
                () -> assertEquals(new BigDecimal("0.00"), pb.amount(), pb.toString()),
                () -> assertEquals(List.of(ALLOWANCE, 0L, 0L, 0L, 0L), view(jan), jan.toString()),
                () -> assertEquals(List.of(ALLOWANCE, PACK, 0L, 0L, 0L), view(feb), feb.toString()));
    }
}

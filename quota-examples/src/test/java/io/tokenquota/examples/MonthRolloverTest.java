package io.tokenquota.examples;

import io.tokenquota.EventKind;
import io.tokenquota.QuotaAccount;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.testkit.MutableClock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static io.tokenquota.examples.TestJson.longAt;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Time-dependent behaviour of the demo, driven by a settable clock: month rollover and the hold sweep. */
class MonthRolloverTest {
    private static final YearMonth NOVEMBER = YearMonth.of(2026, 11);
    private static final YearMonth DECEMBER = YearMonth.of(2026, 12);

    private MutableClock clock;
    private DemoApp app;
    private DemoClient client;

    @BeforeEach
    void start() throws Exception {
        clock = MutableClock.at(NOVEMBER, 20, 10);
        app = DemoApp.start(DemoConfig.builder()
                .port(0)
                .host("127.0.0.1")
                .jdbc("jdbc:h2:mem:rollover-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1", "sa", "")
                .adminToken(DemoClient.ADMIN_TOKEN)
                .paymentSecret(DemoClient.PAYMENT_SECRET)
                .holdTtl(Duration.ofMinutes(2))
                .sweepInterval(Duration.ofMillis(50))
                .clock(clock)
                .build());
        client = new DemoClient(app.baseUri());
    }

    @AfterEach
    void stop() throws Exception {
        app.close();
    }

    @Test
    void theNewMonthResetsTheAllowanceAndCarriesUnusedPurchasedTokens() throws Exception {
        String buyer = "buyer-1";
        String casual = "casual-1";
        assertEquals(200, client.setPlan(buyer, 1_000).statusCode());
        assertEquals(200, client.paymentCallback(DemoClient.PAYMENT_SECRET, buyer, "tx-rollover-1", 3_000,
                "12.50", "USD", "completed").statusCode());
        assertEquals(200, client.chat(casual, "Just one question this month.", 20).statusCode());

        // spend the whole allowance and part of the purchase (the allowance burns first)
        String longPrompt = "Please review this paragraph carefully. ".repeat(40);
        while (longAt(client.settledQuota(buyer), "used_tokens") < 1_500) {
            HttpResponse<String> r = client.chat(buyer, longPrompt, 400);
            assertEquals(200, r.statusCode(), r.body());
        }
        Map<String, Object> november = client.settledQuota(buyer);
        long used = longAt(november, "used_tokens");
        long expectedCarry = Math.min(3_000, 1_000 + 3_000 - used);
        assertTrue(expectedCarry > 0 && expectedCarry < 3_000, "part of the purchase was spent: " + expectedCarry);

        clock.set(DECEMBER.atDay(1).atStartOfDay(java.time.ZoneOffset.UTC).toInstant().plusSeconds(3_600));

        Map<String, Object> december = client.settledQuota(buyer);
        assertEquals("2026-12-01", december.get("plan_month"));
        assertEquals(1_000, longAt(december, "allocated_quota"), "the plan's allowance, afresh");
        assertEquals(0, longAt(december, "used_tokens"));
        assertEquals(0, longAt(december, "purchased_tokens"));
        assertEquals(expectedCarry, longAt(december, "carried_tokens"), "unused purchased tokens carried over");
        assertEquals(1_000 + expectedCarry, longAt(december, "remaining_tokens"));

        Map<String, Object> casualDecember = client.settledQuota(casual);
        assertEquals(10_000, longAt(casualDecember, "allocated_quota"));
        assertEquals(0, longAt(casualDecember, "carried_tokens"), "nothing purchased, nothing carried");
        assertEquals(10_000, longAt(casualDecember, "remaining_tokens"));

        HttpResponse<String> history = client.get("/api/v1/user-quota/usage-history?months=2", buyer);
        assertEquals(200, history.statusCode(), history.body());
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> months = (List<Map<String, Object>>) TestJson.object(history.body()).get("usage_history");
        assertEquals(2, months.size());
        assertEquals("2026-11-01", months.get(1).get("plan_month"));
        assertEquals(used, longAt(months.get(1), "used_tokens"), "November keeps what it used");

        assertEquals(200, client.chat(buyer, "First request of December.", 30).statusCode());
        client.settledQuota(buyer);
        QuotaAccount stored = app.store().account(buyer, DECEMBER).orElseThrow();
        assertEquals(expectedCarry, stored.carried());
        assertTrue(stored.used() > 0);
    }

    @Test
    void theBackgroundSweepReturnsExpiredHolds() throws Exception {
        String user = "crashed-client";
        CountDownLatch expired = new CountDownLatch(1);
        app.store().addListener(e -> {
            if (e.kind() == EventKind.EXPIRED && user.equals(e.subject())) {
                expired.countDown();
            }
        });
        Reservation hold = app.store().reserve(user, 400, "job-1");
        assertEquals(400, longAt(client.quota(user), "reserved_tokens"));

        // nobody commits or releases: the process that took the hold "died"; only the sweep can return it
        clock.advance(Duration.ofMinutes(3));
        assertTrue(expired.await(10, TimeUnit.SECONDS), "the background sweep expired the hold");
        assertEquals(ReservationState.EXPIRED, app.store().reservation(hold.id()).orElseThrow().state());
        Map<String, Object> q = client.settledQuota(user);
        assertEquals(0, longAt(q, "reserved_tokens"));
        assertEquals(10_000, longAt(q, "remaining_tokens"), "the expired hold was returned in full");
    }
}

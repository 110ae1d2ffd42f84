package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Round 318 under concurrency: a refund that takes a closed month's held tokens and a plan raise, each on
 * its own store instance (two JVMs' worth of connections), started together for many subjects. Both lock
 * the closed month and then the current one, so neither deadlocks, and whichever commits first, the other
 * sees it: every subject ends as the two orders end (February 4,000, January 18,000), the event log telling
 * the take and, when the raise came second, its move.
 */
class RefundPlanRaceTest {
    private static final YearMonth JANUARY = YearMonth.of(2041, 1);
    private static final int SUBJECTS = 24;

    static Stream<Supplier<TestDatabase>> databases() {
        return TestDatabases.both();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void aRefundRacingARaiseEndsAsEitherOrder(Supplier<TestDatabase> database) throws Exception {
        try (TestDatabase db = database.get()) {
            MutableClock clock = MutableClock.at(JANUARY, 10, 10);
            QuotaPolicy policy = QuotaPolicy.builder().clock(clock).defaultAllocation(20_000).maxQuota(1_000_000).build();
            JdbiQuotaStore refunds = JdbiQuotaStore.builder().dataSource(db.dataSource()).policy(policy)
                    .installSchema(true).build();
            JdbiQuotaStore plans = JdbiQuotaStore.builder().dataSource(db.dataSource()).policy(policy)
                    .installSchema(false).build();
            List<String> subjects = new ArrayList<>();
            for (int i = 0; i < SUBJECTS; i++) {
                String s = "race-" + i;
                subjects.add(s);
                refunds.grant(PurchaseRequest.grant(s + "-P", s, 1_000, PurchaseType.PURCHASE, "pack"));
                refunds.grant(PurchaseRequest.grant(s + "-Q", s, 3_000, PurchaseType.PURCHASE, "pack"));
                refunds.grant(PurchaseRequest.grant(s + "-R", s, 15_000, PurchaseType.PURCHASE, "pack"));
                refunds.consume(s, 5_000, null);
                refunds.reserve(HoldRequest.of(s, 16_000).ttl(Duration.ofDays(31)).build());
            }
            clock.set(JANUARY.plusMonths(1).atDay(1).atTime(0, 30).toInstant(ZoneOffset.UTC));
            for (String s : subjects) {
                refunds.consume(s, 38_000, null);
                assertEquals(0, refunds.account(s).available(), s);
            }
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                for (String s : subjects) {
                    CyclicBarrier start = new CyclicBarrier(2);
                    Future<?> refund = pool.submit(() -> {
                        start.await();
                        return refunds.refund(s + "-P");
                    });
                    Future<?> raise = pool.submit(() -> {
                        start.await();
                        return plans.setPlan(s, 25_000);
                    });
                    refund.get(30, TimeUnit.SECONDS);
                    raise.get(30, TimeUnit.SECONDS);
                }
            } finally {
                pool.shutdownNow();
            }
            YearMonth february = JANUARY.plusMonths(1);
            for (String s : subjects) {
                QuotaAccount feb = refunds.account(s);
                QuotaAccount jan = refunds.account(s, JANUARY).orElseThrow();
                assertEquals(List.of(25_000L, -1_000L, 18_000L, 4_000L), List.of(feb.allocated(), feb.granted(),
                        feb.carried(), feb.available()), () -> s + " February: " + feb);
                assertEquals(List.of(19_000L, 18_000L), List.of(jan.granted(), jan.available()),
                        () -> s + " January: " + jan);
                // what the refund debited, net of what a move credited back, is its 1,000 (January's CREDITED
                // events also count the three packs' 19,000)
                long net = sum(refunds.events(s, february), EventKind.DEBITED)
                        - sum(refunds.events(s, february), EventKind.CREDITED)
                        + sum(refunds.events(s, JANUARY), EventKind.DEBITED)
                        - (sum(refunds.events(s, JANUARY), EventKind.CREDITED) - 19_000);
                assertEquals(1_000, net, () -> s + " events: " + refunds.events(s, february) + " "
                        + refunds.events(s, JANUARY));
            }
        }
    }

    private static long sum(List<LedgerEvent> events, EventKind kind) {
        return events.stream().filter(e -> e.kind() == kind).mapToLong(LedgerEvent::tokens).sum();
    }
}

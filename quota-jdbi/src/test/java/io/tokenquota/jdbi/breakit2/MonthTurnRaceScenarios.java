package io.tokenquota.jdbi.breakit2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.HoldRequest;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The month turn under concurrency: two instances on one database, one whose clock still reads
 * January 31 23:59:59 (its call started a moment before midnight), one at February 1 00:00:01 (the
 * user's first request of February). For each subject, the January-side write (a credit, a release,
 * a commit, a refund, a plan change) and February's first touch start together. Whatever the
 * interleaving, the issue promises the purchased tokens end up exactly where a serial order puts them
 * ("items 1 and 2 cannot happen whatever the order of events"; "a credit that lands in the old month
 * after the new month's first touch must not be lost"; refunds leave the user none of the tokens).
 */
abstract class MonthTurnRaceScenarios {
    static final YearMonth JAN = YearMonth.of(2031, 1);
    static final YearMonth FEB = JAN.plusMonths(1);
    static final int SUBJECTS = 60;
    static final Instant SETUP = FEB.atDay(1).atStartOfDay().toInstant(ZoneOffset.UTC).minus(Duration.ofHours(1));
    static final Instant LATE_JAN = FEB.atDay(1).atStartOfDay().toInstant(ZoneOffset.UTC).minusSeconds(1);
    static final Instant EARLY_FEB = FEB.atDay(1).atStartOfDay().toInstant(ZoneOffset.UTC).plusSeconds(1);

    private TestDatabase db;
    private final List<JdbiQuotaStore> stores = new ArrayList<>();

    protected abstract TestDatabase newDatabase();

    private QuotaStore store(Instant at) {
        if (db == null) {
            db = newDatabase();
        }
        QuotaPolicy policy = QuotaPolicy.builder().clock(Clock.fixed(at, ZoneOffset.UTC)).defaultAllocation(1_000)
                .overrunPolicy(OverrunPolicy.CHARGE_ACTUAL).build();
        JdbiQuotaStore s = JdbiQuotaStore.builder().dataSource(db.dataSource()).installSchema(true).policy(policy)
                .build();
        stores.add(s);
        return s;
    }

    @AfterEach
    void tearDown() {
        stores.forEach(JdbiQuotaStore::close);
        stores.clear();
        if (db != null) {
            db.close();
            db = null;
        }
    }

    /** Runs {@code janWrite} on the lagging instance and February's first touch together, per subject. */
    private void race(QuotaStore january, QuotaStore february, List<String> subjects,
                      BiConsumer<QuotaStore, Integer> janWrite) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            CyclicBarrier barrier = new CyclicBarrier(2);
            Future<?> a = pool.submit(() -> {
                for (int i = 0; i < subjects.size(); i++) {
                    barrier.await();
                    janWrite.accept(january, i);
                }
                return null;
            });
            Future<?> b = pool.submit(() -> {
                for (String s : subjects) {
                    barrier.await();
                    february.account(s);
                }
                return null;
            });
            a.get();
            b.get();
        } finally {
            pool.shutdownNow();
        }
    }

    private static List<String> subjects(String prefix) {
        List<String> list = new ArrayList<>();
        for (int i = 0; i < SUBJECTS; i++) {
            list.add(prefix + "-" + i);
        }
        return list;
    }

    private static PurchaseRequest buy(String tx, String subject, long tokens) {
        return PurchaseRequest.grant(tx, subject, tokens, PurchaseType.PURCHASE, null);
    }

    private static long purchasedConsumed(QuotaAccount a) {
        long purchased = Math.max(0, a.granted() + a.carried());
        return Math.max(0, Math.min(a.used() + a.reserved() - a.allocated(), purchased));
    }

    private static void noneLost(List<String> bad) {
        assertTrue(bad.isEmpty(), bad.size() + " of " + SUBJECTS + " subjects lost or kept tokens at the turn: "
                + bad.subList(0, Math.min(4, bad.size())));
    }

    /** A credit started at 23:59:59 racing February's first touch: February must have all 5,000. */
    @Test
    void aCreditRacingFebruarysFirstTouchIsNotLost() throws Exception {
        QuotaStore setup = store(SETUP);
        List<String> subjects = subjects("cr");
        subjects.forEach(setup::account);
        QuotaStore jan = store(LATE_JAN);
        QuotaStore feb = store(EARLY_FEB);
        race(jan, feb, subjects, (s, i) -> s.grant(buy("cr-tx-" + i, subjects.get(i), 5_000)));
        List<String> bad = new ArrayList<>();
        for (String s : subjects) {
            QuotaAccount f = feb.account(s);
            if (f.available() != 6_000) {
                bad.add(f + " / jan " + feb.account(s, JAN).orElseThrow());
            }
        }
        noneLost(bad);
    }

    /** A January hold of 5,000 purchased tokens released at 23:59:59 while February opens. */
    @Test
    void aReleaseRacingFebruarysFirstTouchCarriesThePurchasedTokens() throws Exception {
        QuotaStore setup = store(SETUP);
        List<String> subjects = subjects("rel");
        List<Reservation> holds = new ArrayList<>();
        for (int i = 0; i < SUBJECTS; i++) {
            setup.grant(buy("rel-tx-" + i, subjects.get(i), 5_000));
            holds.add(setup.reserve(HoldRequest.of(subjects.get(i), 6_000).ttl(Duration.ofDays(1)).build())
                    .reservation());
        }
        QuotaStore jan = store(LATE_JAN);
        QuotaStore feb = store(EARLY_FEB);
        race(jan, feb, subjects, (s, i) -> s.release(holds.get(i)));
        List<String> bad = new ArrayList<>();
        for (String s : subjects) {
            QuotaAccount f = feb.account(s);
            if (f.granted() + f.carried() != 5_000) {
                bad.add(f + " / jan " + feb.account(s, JAN).orElseThrow());
            }
        }
        noneLost(bad);
    }

    /** The same hold committed for 2,000 (1,000 allowance + 1,000 purchased): February carries 4,000. */
    @Test
    void aCommitForLessRacingFebruarysFirstTouchCarriesTheUnusedPart() throws Exception {
        QuotaStore setup = store(SETUP);
        List<String> subjects = subjects("com");
        List<Reservation> holds = new ArrayList<>();
        for (int i = 0; i < SUBJECTS; i++) {
            setup.grant(buy("com-tx-" + i, subjects.get(i), 5_000));
            holds.add(setup.reserve(HoldRequest.of(subjects.get(i), 6_000).ttl(Duration.ofDays(1)).build())
                    .reservation());
        }
        QuotaStore jan = store(LATE_JAN);
        QuotaStore feb = store(EARLY_FEB);
        race(jan, feb, subjects, (s, i) -> s.commit(holds.get(i), 2_000));
        List<String> bad = new ArrayList<>();
        for (String s : subjects) {
            QuotaAccount f = feb.account(s);
            QuotaAccount j = feb.account(s, JAN).orElseThrow();
            if (f.granted() + f.carried() != 4_000 || j.used() != 2_000) {
                bad.add(f + " / jan " + j);
            }
        }
        noneLost(bad);
    }

    /** A refund of an unspent 5,000-token purchase at 23:59:59 while February opens: the user keeps none. */
    @Test
    void aRefundRacingFebruarysFirstTouchLeavesTheUserNoneOfTheTokens() throws Exception {
        QuotaStore setup = store(SETUP);
        List<String> subjects = subjects("ref");
        for (int i = 0; i < SUBJECTS; i++) {
            setup.grant(buy("ref-tx-" + i, subjects.get(i), 5_000));
        }
        QuotaStore jan = store(LATE_JAN);
        QuotaStore feb = store(EARLY_FEB);
        race(jan, feb, subjects, (s, i) -> s.refund("ref-tx-" + i));
        List<String> bad = new ArrayList<>();
        for (int i = 0; i < SUBJECTS; i++) {
            String s = subjects.get(i);
            QuotaAccount f = feb.account(s);
            long unrecovered = feb.purchase("ref-tx-" + i).orElseThrow().unrecovered();
            if (f.available() != 1_000 || unrecovered != 0) {
                bad.add(f + " unrecovered=" + unrecovered + " / jan " + feb.account(s, JAN).orElseThrow());
            }
        }
        noneLost(bad);
    }

    /**
     * A plan change to 0 at 23:59:59 while February opens, after January spent 3,000 (1,000 allowance,
     * 2,000 of 5,000 purchased). Serially either January is re-planned before February carries from it,
     * or February gets the plan; either way bought = January's purchased consumption + February's
     * purchased tokens, and February's allocation is the new plan.
     */
    @Test
    void aPlanChangeRacingFebruarysFirstTouchNeitherCreatesNorLosesPurchasedTokens() throws Exception {
        QuotaStore setup = store(SETUP);
        List<String> subjects = subjects("plan");
        for (int i = 0; i < SUBJECTS; i++) {
            setup.grant(buy("plan-tx-" + i, subjects.get(i), 5_000));
            setup.consume(subjects.get(i), 3_000, null);
        }
        QuotaStore jan = store(LATE_JAN);
        QuotaStore feb = store(EARLY_FEB);
        race(jan, feb, subjects, (s, i) -> s.setPlan(subjects.get(i), 0));
        List<String> bad = new ArrayList<>();
        for (String s : subjects) {
            QuotaAccount f = feb.account(s);
            QuotaAccount j = feb.account(s, JAN).orElseThrow();
            if (f.allocated() != 0 || purchasedConsumed(j) + f.granted() + f.carried() != 5_000) {
                bad.add(f + " / jan " + j);
            }
        }
        noneLost(bad);
    }
}

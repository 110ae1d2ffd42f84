package io.tokenquota.testkit;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.Team;
import io.tokenquota.internal.LedgerRules;
import java.time.Duration;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 318 (issue 11): a refund that takes purchased tokens a closed month's hold still holds, because the
 * current month has none unspent, and a plan change, in either order (docs/semantics.md, "Credits and
 * refunds"; {@code LedgerRules.planChange}). Each test runs the history on two fresh subjects of one store,
 * one per order, and asserts that every month ends the same (used, reserved, available, unused purchased
 * tokens), also once the holds finished and the next month carried what was left, and the exact figures.
 *
 * <p>The base history ({@link #januaryJob}): a 20,000-token plan; January buys packs P (1,000), Q (3,000)
 * and R (15,000), uses 5,000 and starts a 31-day job holding 16,000, of which 1,000 are bought tokens;
 * February carries 18,000 and spends all of them (38,000 used). The only unspent bought tokens are the 1,000
 * January's job holds.
 *
 * <p>Subclass it and implement {@link #newStore}; every test uses a clock in months no other test of this
 * JVM uses, so the subclasses of the SQL store share one database.
 */
public abstract class RefundTakeContract {
    private static final int MONTHS_PER_TEST = 12;
    private static final AtomicInteger SLOT = new AtomicInteger(ThreadLocalRandom.current().nextInt(2000));
    static final long PLAN = 20_000;

    protected abstract QuotaStore newStore(QuotaPolicy policy);

    protected MutableClock clock;
    protected YearMonth january;
    private String prefix;

    @BeforeEach
    void startClock() {
        january = YearMonth.of(6000, 1).plusMonths((long) SLOT.getAndIncrement() * MONTHS_PER_TEST);
        clock = MutableClock.at(january, 10, 10);
        prefix = "r" + UUID.randomUUID().toString().substring(0, 13) + "-";
    }

    protected QuotaStore store(UnaryOperator<QuotaPolicy.Builder> customize) {
        return newStore(customize.apply(QuotaPolicy.builder().clock(clock).defaultAllocation(PLAN).maxQuota(1_000_000)
                .overrunPolicy(OverrunPolicy.CHARGE_ACTUAL)).build());
    }

    protected QuotaStore store() {
        return store(b -> b);
    }

    /** One subject's run of a history: its store, its name and what it bought and held. */
    protected final class Run {
        final QuotaStore store;
        final String subject;
        /** Who spends: the subject, or for a team's account a member of it. */
        final String user;
        final List<String> holds = new ArrayList<>();

        Run(QuotaStore store, String subject, String user) {
            this.store = store;
            this.subject = subject;
            this.user = user;
        }

        String tx(String pack) {
            return user + "-" + pack;
        }

        void buy(String pack, long tokens) {
            store.grant(PurchaseRequest.grant(tx(pack), subject, tokens, PurchaseType.PURCHASE, "pack " + pack));
        }

        void use(long tokens) {
            store.consume(user, tokens, null);
        }

        Reservation hold(long tokens) {
            Reservation r = store.reserve(HoldRequest.of(user, tokens).ttl(Duration.ofDays(31)).build()).reservation();
            holds.add(r.id());
            return r;
        }

        void refund(String pack) {
            store.refund(tx(pack));
        }

        void plan(long allocation) {
            store.setPlan(subject, allocation);
        }

        QuotaAccount month(YearMonth m) {
            return store.account(subject, m).orElseThrow();
        }

        QuotaAccount current() {
            return store.account(subject);
        }
    }

    private int runs;

    private Run run(QuotaStore store, String name) {
        String subject = prefix + name + "-" + runs++;
        return new Run(store, subject, subject);
    }

    /** A team's run: the team's account buys and is refunded, its member spends (the member's own plan is ample). */
    private Run teamRun(QuotaStore store, String name) {
        String member = prefix + name + "-" + runs++;
        String team = member + "-team";
        store.setPlan(member, 900_000);
        store.setTeam(member, team);
        return new Run(store, Team.subject(team), member);
    }

    void nextMonth() {
        YearMonth next = YearMonth.from(clock.instant().atZone(ZoneOffset.UTC)).plusMonths(1);
        clock.set(next.atDay(1).atTime(0, 30).toInstant(ZoneOffset.UTC));
    }

    /** January's 31-day job holding 1,000 bought tokens; February with every bought token spent. */
    void januaryJob(Run r) {
        r.buy("P", 1_000);
        r.buy("Q", 3_000);
        r.buy("R", 15_000);
        r.use(5_000);
        r.hold(16_000);
    }

    void februarySpent(Run r) {
        assertEquals(18_000, r.current().carried(), () -> "February carries: " + r.current());
        r.use(38_000);
        assertEquals(0, r.current().available(), () -> "February spent: " + r.current());
    }

    static List<Object> view(QuotaAccount a) {
        return List.of(a.month(), "used", a.used(), "reserved", a.reserved(), "available", a.available(),
                "unusedGranted", a.unusedGranted());
    }

    /** The subject's months from January to the current one. */
    List<List<Object>> months(Run r) {
        List<List<Object>> result = new ArrayList<>();
        YearMonth now = r.current().month();
        for (YearMonth m = january; !m.isAfter(now); m = m.plusMonths(1)) {
            r.store.account(r.subject, m).ifPresent(a -> result.add(view(a)));
        }
        return result;
    }

    /** Releases what is still held, opens the next month and reads what it carries. */
    List<Object> probe(Run r) {
        for (String id : r.holds) {
            if (r.store.reservation(id).orElseThrow().state() == io.tokenquota.ReservationState.HELD) {
                r.store.release(id);
            }
        }
        nextMonth();
        return view(r.current());
    }

    /**
     * Runs {@code history} on two subjects of one store at the same instants, then {@code first} and
     * {@code second} on the one and in the other order on the other, then {@code after} on both; asserts both
     * end the same, and hands back the two runs (first first, second first) for exact figures. The probe (the
     * holds released, the next month's carry) is compared by {@link #assertSameAfterTheHolds}.
     */
    Run[] bothOrders(java.util.function.Function<QuotaStore, Run[]> subjects, Consumer<Run> history,
                     Consumer<Run> first, Consumer<Run> second, Consumer<Run> after) {
        clock.set(january.atDay(10).atTime(10, 0).toInstant(ZoneOffset.UTC));
        Run[] runs = subjects.apply(store());
        MutableClock start = new MutableClock(clock.instant());
        List<List<List<Object>>> ends = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            clock.set(start.instant());
            Run r = runs[i];
            history.accept(r);
            (i == 0 ? first : second).accept(r);
            (i == 0 ? second : first).accept(r);
            after.accept(r);
            ends.add(months(r));
        }
        assertEquals(ends.get(0), ends.get(1), "the two orders ended differently");
        return runs;
    }

    Run[] plainRuns(QuotaStore store) {
        return new Run[] {run(store, "first-first"), run(store, "second-first")};
    }

    /** The holds released and the next month opened on both runs: the same carry. */
    void assertSameAfterTheHolds(Run[] runs) {
        MutableClock start = new MutableClock(clock.instant());
        List<Object> a = probe(runs[0]);
        clock.set(start.instant());
        List<Object> b = probe(runs[1]);
        assertEquals(a, b, "after the holds, the next month");
    }

    private static void assertMonth(QuotaAccount a, long allocated, long granted, long carried, long used,
                                    long reserved) {
        assertEquals(List.of(allocated, granted, carried, used, reserved),
                List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved()),
                "allocated, granted, carried, used, reserved of " + a);
    }

    // ---------------------------------------------------------------- the case as found

    /**
     * Refund P then raise to 25,000, and the other way round: February keeps 4,000 (5,000 the raise frees,
     * 1,000 the refund takes), January reads 18,000 as if the refund never took from it, and once the job
     * ends having used all it held February still has 4,000. The move is a DEBITED and CREDITED pair.
     */
    @Test
    void refundThenRaiseEndsAsRaiseThenRefund() {
        Run[] runs = bothOrders(this::plainRuns, r -> {
            januaryJob(r);
            nextMonth();
            februarySpent(r);
        }, r -> r.refund("P"), r -> r.plan(25_000), r -> { });
        Run refundFirst = runs[0];
        YearMonth february = january.plusMonths(1);
        assertAll(() -> assertMonth(refundFirst.month(february), 25_000, -1_000, 18_000, 38_000, 0),
                () -> assertMonth(refundFirst.month(january), 20_000, 19_000, 0, 5_000, 16_000),
                () -> assertEquals(4_000, refundFirst.current().available()),
                () -> assertEquals(18_000, refundFirst.month(january).available()));
        List<LedgerEvent> feb = refundFirst.store.events(refundFirst.subject, february);
        List<LedgerEvent> jan = refundFirst.store.events(refundFirst.subject, january);
        LedgerEvent debited = feb.get(feb.size() - 1);
        LedgerEvent credited = jan.get(jan.size() - 1);
        assertAll(() -> assertEquals(List.of(EventKind.DEBITED, 1_000L, LedgerRules.takeMovedFrom(january)),
                        List.of(debited.kind(), debited.tokens(), debited.detail()), feb.toString()),
                () -> assertEquals(EventKind.PLAN_CHANGED, feb.get(feb.size() - 2).kind(), feb.toString()),
                () -> assertEquals(List.of(EventKind.CREDITED, 1_000L, LedgerRules.takeMovedTo(february)),
                        List.of(credited.kind(), credited.tokens(), credited.detail()), jan.toString()),
                () -> assertEquals(EventKind.DEBITED, jan.get(jan.size() - 2).kind(), "the refund's take: " + jan));
        // the job ends having used all it held
        for (Run r : runs) {
            r.store.commit(r.holds.get(0), 16_000);
            assertEquals(4_000, r.current().available(), r.current().toString());
            assertEquals(4_000, r.current().unusedGranted(), r.current().toString());
        }
        assertSameAfterTheHolds(runs);
        assertEquals(4_000, runs[0].current().carried());
    }

    // ---------------------------------------------------------------- the closed month's hold finishing first

    /**
     * The job commits (all it held, or 500 less) between the refund and the raise, and between the raise and
     * the refund: February 4,000 (4,500 when the job used 500 less, which the job gave back), January as if
     * never taken from. A take of tokens the job spent still stands after the commit, and the raise moves it.
     */
    @Test
    void theClosedMonthsHoldCommittedBeforeTheRaise() {
        for (long used : List.of(16_000L, 15_500L)) {
            Run[] runs = bothOrders(this::plainRuns, r -> {
                januaryJob(r);
                nextMonth();
                februarySpent(r);
            }, r -> {
                r.refund("P");
                r.store.commit(r.holds.get(0), used);
            }, r -> {
                r.plan(25_000);
                r.store.commit(r.holds.get(0), used);
            }, r -> { });
            // the refund first: refund, commit, raise; the raise first: raise, commit, refund
            long left = 4_000 + 16_000 - used;
            for (Run r : runs) {
                String label = "job used " + used + ": " + r.current();
                assertEquals(left, r.current().available(), label);
                assertEquals(19_000, r.month(january).granted(), "January as if never taken from: " + r.month(january));
                assertEquals(20_000 + 19_000 - 5_000 - used, r.month(january).available(), label);
            }
            assertSameAfterTheHolds(runs);
        }
    }

    /**
     * The job is released, or expires, between the refund and the raise: the refund's take kept the 1,000
     * bought tokens from coming back, so the raise moves nothing and February keeps the 5,000 it frees, as
     * when the raise comes first (the release gives 1,000 back, the refund takes them).
     */
    @Test
    void theClosedMonthsHoldReleasedOrExpiredBeforeTheRaise() {
        for (boolean expires : List.of(false, true)) {
            Consumer<Run> finish = r -> {
                if (expires) {
                    clock.set(january.plusMonths(1).atDay(11).atTime(12, 0).toInstant(ZoneOffset.UTC));
                    r.store.expireStale();
                } else {
                    r.store.release(r.holds.get(0));
                }
            };
            Run[] runs = bothOrders(this::plainRuns, r -> {
                januaryJob(r);
                nextMonth();
                februarySpent(r);
            }, r -> {
                r.refund("P");
                finish.accept(r);
            }, r -> {
                r.plan(25_000);
                finish.accept(r);
            }, r -> { });
            for (Run r : runs) {
                String label = (expires ? "expired: " : "released: ") + r.current();
                assertEquals(5_000, r.current().available(), label);
                assertEquals(0, r.current().reserved(), label);
                assertEquals(34_000, r.month(january).available(), "January as if never taken from: " + r.month(january));
            }
            assertSameAfterTheHolds(runs);
        }
    }

    // ---------------------------------------------------------------- how much the raise frees

    /**
     * A raise to 20,500 frees 500 of the 1,000 taken: that much moves, January keeps the rest of the take
     * (as the refund after that raise takes 500 from February, 500 from the job); a second raise to 25,000
     * moves the rest, and the month ends as with one raise to 25,000.
     */
    @Test
    void aRaiseThatFreesLessThanTheTake() {
        Run[] runs = bothOrders(this::plainRuns, r -> {
            januaryJob(r);
            nextMonth();
            februarySpent(r);
        }, r -> r.refund("P"), r -> r.plan(20_500), r -> { });
        YearMonth february = january.plusMonths(1);
        for (Run r : runs) {
            assertMonth(r.month(february), 20_500, -500, 18_000, 38_000, 0);
            assertMonth(r.month(january), 20_000, 500, 0, 5_000, 16_000);
            assertEquals(-500, r.month(january).available());
            r.plan(25_000);
            assertMonth(r.month(february), 25_000, -1_000, 18_000, 38_000, 0);
            assertMonth(r.month(january), 20_000, 19_000, 0, 5_000, 16_000);
        }
        assertSameAfterTheHolds(runs);
        // the job released: its 1,000 bought tokens come back, as when the raise came first
        assertEquals(5_000, runs[0].current().carried());
    }

    /**
     * A plan lowered after the raise takes nothing back (the allocation never drops below what February
     * spent), and a lowering alone moves nothing: both orders of refund and lowering end the same.
     */
    @Test
    void aPlanLoweredAfterwardsOrInstead() {
        Run[] runs = bothOrders(this::plainRuns, r -> {
            januaryJob(r);
            nextMonth();
            februarySpent(r);
        }, r -> r.refund("P"), r -> r.plan(25_000), r -> r.plan(10_000));
        for (Run r : runs) {
            assertEquals(25_000, r.current().allocated(), r.current().toString());
            assertEquals(4_000, r.current().available(), r.current().toString());
            assertEquals(18_000, r.month(january).available(), r.month(january).toString());
        }
        assertSameAfterTheHolds(runs);
        Run[] lowered = bothOrders(this::plainRuns, r -> {
            januaryJob(r);
            nextMonth();
            februarySpent(r);
        }, r -> r.refund("P"), r -> r.plan(10_000), r -> { });
        for (Run r : lowered) {
            assertEquals(0, r.current().available(), r.current().toString());
            assertEquals(-1_000, r.month(january).available(), "the take stands: " + r.month(january));
        }
        assertSameAfterTheHolds(lowered);
    }

    // ---------------------------------------------------------------- several months, several refunds

    /**
     * January's job holds 1,000 bought tokens, February's 2,000, March spent all of its own: refunding Q
     * (3,000) takes February's 2,000, then January's 1,000 (newest first). A raise to 21,500 frees 1,500:
     * January's take moves first (the oldest: the refund after the raise would have taken the 1,500 from
     * March, then 1,500 from February, nothing from January), then 500 of February's.
     */
    @Test
    void takesOfSeveralClosedMonthsMoveOldestFirst() {
        Run[] runs = bothOrders(this::plainRuns, r -> {
            r.buy("P", 1_000);
            r.buy("Q", 3_000);
            r.buy("R", 9_000);
            r.use(10_000);
            r.hold(11_000);
            nextMonth();
            // January's job lives on into March
            r.store.extend(r.holds.get(0), Duration.ofDays(31));
            r.use(30_000);
            r.hold(2_000);
            nextMonth();
            r.buy("S", 5_000);
            r.use(25_000);
        }, r -> r.refund("Q"), r -> r.plan(21_500), r -> { });
        YearMonth february = january.plusMonths(1);
        YearMonth march = january.plusMonths(2);
        for (Run r : runs) {
            assertAll(() -> assertMonth(r.month(march), 21_500, 3_500, 0, 25_000, 0),
                    () -> assertMonth(r.month(february), 20_000, -1_500, 12_000, 30_000, 2_000),
                    () -> assertMonth(r.month(january), 20_000, 13_000, 0, 10_000, 11_000));
        }
        assertSameAfterTheHolds(runs);
    }

    /**
     * A second refund after the first one's take: P's refund took January's 1,000; then Q (3,000) is refunded
     * and the plan raised to 22,000, in either order. The raise frees 2,000: P's take gets them first (it came
     * first), Q's gets the other 1,000 from February, then the 1,000 the moved take gave back to January's
     * still-running job, and its last 1,000 becomes February's allowance (already spent). To 25,000 the raise
     * covers both refunds from February.
     */
    @Test
    void aSecondRefundAfterATake() {
        YearMonth february = january.plusMonths(1);
        for (long plan : List.of(22_000L, 25_000L)) {
            Run[] runs = bothOrders(this::plainRuns, r -> {
                januaryJob(r);
                nextMonth();
                februarySpent(r);
                r.refund("P");
            }, r -> r.refund("Q"), r -> r.plan(plan), r -> { });
            for (Run r : runs) {
                if (plan == 22_000L) {
                    assertMonth(r.month(february), 23_000, -3_000, 18_000, 38_000, 0);
                    assertMonth(r.month(january), 20_000, 0, 0, 5_000, 16_000);
                } else {
                    assertMonth(r.month(february), 25_000, -4_000, 18_000, 38_000, 0);
                    assertMonth(r.month(january), 20_000, 19_000, 0, 5_000, 16_000);
                }
            }
            assertSameAfterTheHolds(runs);
        }
    }

    /**
     * The second refund's spent part and a committed job: P's refund took January's 1,000, the job then
     * committed all it held (the take now stands for tokens it spent), Q is refunded and the plan raised to
     * 21,000 in either order. The 1,000 the raise frees go to P's take (it came first); Q's refund, which found
     * nothing to take, keeps all of its 3,000 as February's allowance.
     */
    @Test
    void aSecondRefundAfterATakeOfSpentTokens() {
        YearMonth february = january.plusMonths(1);
        Run[] runs = bothOrders(this::plainRuns, r -> {
            januaryJob(r);
            nextMonth();
            februarySpent(r);
            r.refund("P");
            r.store.commit(r.holds.get(0), 16_000);
        }, r -> r.refund("Q"), r -> r.plan(21_000), r -> { });
        for (Run r : runs) {
            assertMonth(r.month(february), 24_000, -4_000, 18_000, 38_000, 0);
            assertMonth(r.month(january), 20_000, 19_000, 0, 21_000, 0);
        }
        assertSameAfterTheHolds(runs);
    }

    // ---------------------------------------------------------------- rollover off, teams

    /**
     * With rollover off January's bought tokens lapsed: the refund takes nothing from its job, nothing from
     * February's own pack either (round 422: it paid January's refund as allowance, and left 4,000 where the raise
     * frees the pack's 5,000), and the raise moves nothing; both orders end the same.
     */
    @Test
    void rolloverOffTakesNothingFromClosedMonths() {
        Run[] runs = new Run[2];
        QuotaStore store = store(b -> b.rolloverPurchased(false));
        runs[0] = run(store, "off-first-first");
        runs[1] = run(store, "off-second-first");
        MutableClock start = new MutableClock(clock.instant());
        List<List<List<Object>>> ends = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            clock.set(start.instant());
            Run r = runs[i];
            januaryJob(r);
            nextMonth();
            assertEquals(0, r.current().carried());
            r.buy("S", 5_000);
            r.use(25_000);
            if (i == 0) {
                r.refund("P");
                r.plan(25_000);
            } else {
                r.plan(25_000);
                r.refund("P");
            }
            ends.add(months(r));
            assertEquals(5_000, r.current().available(), r.current().toString());
            assertEquals(List.of(20_000L, 19_000L), List.of(r.month(january).allocated(), r.month(january).granted()),
                    "nothing taken from January: " + r.month(january));
        }
        assertEquals(ends.get(0), ends.get(1));
        assertSameAfterTheHolds(runs);
    }

    /** The case as found on a team's account: its packs, its member's job, its plan raised. */
    @Test
    void aTeamsAccountEndsTheSameInEitherOrder() {
        Run[] runs = bothOrders(store -> new Run[] {teamRun(store, "team-first-first"), teamRun(store, "team-second-first")},
                r -> {
                    januaryJob(r);
                    nextMonth();
                    februarySpent(r);
                }, r -> r.refund("P"), r -> r.plan(25_000), r -> { });
        for (Run r : runs) {
            assertEquals(4_000, r.current().available(), r.current().toString());
            assertEquals(18_000, r.month(january).available(), r.month(january).toString());
            r.store.commit(r.holds.get(0), 16_000);
            assertEquals(4_000, r.current().available(), r.current().toString());
        }
        assertSameAfterTheHolds(runs);
    }
}

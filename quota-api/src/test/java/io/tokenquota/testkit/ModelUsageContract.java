package io.tokenquota.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.ModelWeights;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.ModelUsage;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.TokenUsage;
import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What every store must do with the usage of a weighted charge: keep the model and raw counts on the
 * charge's event beside the weighted amount (commit, late commit, consume), tell listeners the same,
 * and sum them by model for a month ({@link io.tokenquota.QuotaStatistics#modelUsage}). Subclass it
 * and implement {@link #newStore}. Each test runs in a month of its own (far from the other suites'
 * months), so global reports only see its rows in a shared schema.
 */
public abstract class ModelUsageContract {
    private static final int MONTHS_PER_TEST = 3;
    private static final AtomicInteger SLOT = new AtomicInteger(ThreadLocalRandom.current().nextInt(1000));
    private static final ModelWeights WEIGHTS = ModelWeights.builder()
            .model("gpt-4o*", ModelWeights.Rates.of("2.5", "1.25", "10", "10"))
            .model("o3", ModelWeights.Rates.of("2", "0.5", "8", "8"))
            .defaults(ModelWeights.Rates.of("3", "3", "15", "15"))
            .build();

    protected abstract QuotaStore newStore(QuotaPolicy policy);

    protected MutableClock clock;
    protected YearMonth month;
    protected final List<LedgerEvent> heard = new CopyOnWriteArrayList<>();
    private String prefix;

    @BeforeEach
    void startClock() {
        month = YearMonth.of(7000, 1).plusMonths((long) SLOT.getAndIncrement() * MONTHS_PER_TEST);
        clock = MutableClock.at(month, 10, 12);
        prefix = "w" + UUID.randomUUID().toString().substring(0, 13) + "-";
    }

    protected QuotaStore store(UnaryOperator<QuotaPolicy.Builder> customize) {
        QuotaStore store = newStore(customize.apply(QuotaPolicy.builder().clock(clock).defaultAllocation(1_000_000))
                .build());
        store.addListener(heard::add);
        return store;
    }

    private String subject(String name) {
        return prefix + name;
    }

    private static LedgerEvent last(QuotaStore store, String subject, YearMonth month, EventKind kind) {
        List<LedgerEvent> events = store.events(subject, month).stream().filter(e -> e.kind() == kind).toList();
        return events.get(events.size() - 1);
    }

    @Test
    void aCommitKeepsTheModelAndRawCountsBesideTheWeightedCharge() {
        QuotaStore store = store(b -> b);
        String alice = subject("alice");
        TokenUsage usage = new TokenUsage("gpt-4o-2024-08-06", 1_000, 200, 300, 50);
        long charge = WEIGHTS.charge(usage);
        assertEquals(2_500 + 250 + 3_000 + 500, charge);
        Reservation hold = store.reserve(alice, WEIGHTS.hold("gpt-4o", 1_200, 400), null);
        Reservation done = store.commit(hold.id(), charge, usage);
        assertEquals(charge, done.charged());
        assertEquals(charge, store.account(alice).used());
        LedgerEvent committed = last(store, alice, month, EventKind.COMMITTED);
        assertEquals(charge, committed.tokens());
        assertEquals(usage, committed.usage());
        // listeners hear the same event the log keeps
        assertEquals(usage, heard.stream().filter(e -> e.kind() == EventKind.COMMITTED).findFirst().orElseThrow().usage());
        // the hold's own event carries none
        assertNull(last(store, alice, month, EventKind.RESERVED).usage());
    }

    @Test
    void aCommitWithoutUsageRecordsNone() {
        QuotaStore store = store(b -> b);
        String bob = subject("bob");
        Reservation hold = store.reserve(bob, 100, null);
        store.commit(hold.id(), 80, null);
        assertNull(last(store, bob, month, EventKind.COMMITTED).usage());
        Reservation other = store.reserve(bob, 100, null);
        store.commit(other.id(), 70);
        assertNull(last(store, bob, month, EventKind.COMMITTED).usage());
        assertEquals(150, store.account(bob).used());
    }

    @Test
    void aConsumeKeepsItsUsage() {
        QuotaStore store = store(b -> b);
        String carol = subject("carol");
        TokenUsage usage = TokenUsage.of("o3", 40, 10);
        long charge = WEIGHTS.charge(usage);
        store.consume(HoldRequest.of(carol, charge).usage(usage).build());
        store.consume(HoldRequest.of(carol, charge).idempotencyKey("k1").usage(usage).build());
        List<LedgerEvent> commits = store.events(carol, month).stream()
                .filter(e -> e.kind() == EventKind.COMMITTED).toList();
        assertEquals(2, commits.size());
        commits.forEach(e -> assertEquals(usage, e.usage()));
        assertEquals(2 * charge, store.account(carol).used());
    }

    @Test
    void aHoldTakesNoUsage() {
        QuotaStore store = store(b -> b);
        String dave = subject("dave");
        QuotaException e = assertThrows(QuotaException.class,
                () -> store.reserve(HoldRequest.of(dave, 10).usage(TokenUsage.of("o3", 1, 1)).build()));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertEquals(0, store.account(dave).reserved());
    }

    @Test
    void aRepeatedCommitKeepsTheFirstUsage() {
        QuotaStore store = store(b -> b);
        String erin = subject("erin");
        TokenUsage first = TokenUsage.of("o3", 10, 10);
        Reservation hold = store.reserve(erin, 500, null);
        store.commit(hold.id(), WEIGHTS.charge(first), first);
        Reservation again = store.commit(hold.id(), WEIGHTS.charge(first), TokenUsage.of("gpt-4o", 16, 8));
        assertEquals(WEIGHTS.charge(first), again.charged());
        List<LedgerEvent> commits = store.events(erin, month).stream()
                .filter(e -> e.kind() == EventKind.COMMITTED).toList();
        assertEquals(1, commits.size());
        assertEquals(first, commits.get(0).usage());
        // another amount is still a conflict, usage or not
        assertEquals(ErrorCode.RESERVATION_STATE_CONFLICT, assertThrows(QuotaException.class,
                () -> store.commit(hold.id(), 1, first)).code());
    }

    @Test
    void anOverrunIsChargedByThePolicyWithTheUsageKept() {
        QuotaStore store = store(b -> b.overrunPolicy(OverrunPolicy.CAP_AT_HOLD));
        String frank = subject("frank");
        TokenUsage usage = TokenUsage.of("gpt-4o", 1_000, 1_000);
        Reservation hold = store.reserve(frank, 100, null);
        Reservation done = store.commit(hold.id(), WEIGHTS.charge(usage), usage);
        assertEquals(100, done.charged());
        LedgerEvent e = last(store, frank, month, EventKind.COMMITTED);
        assertEquals(100, e.tokens());
        assertEquals(WEIGHTS.charge(usage) - 100, e.overage());
        assertEquals(usage, e.usage());
    }

    @Test
    void aLateCommitKeepsItsUsage() {
        QuotaStore store = store(b -> b.holdTtl(Duration.ofMinutes(1)));
        String gina = subject("gina");
        Reservation hold = store.reserve(gina, 100, null);
        clock.advance(Duration.ofMinutes(5));
        store.expireStale();
        TokenUsage usage = TokenUsage.of("o3", 20, 5);
        store.commit(hold.id(), WEIGHTS.charge(usage), usage);
        LedgerEvent late = last(store, gina, month, EventKind.LATE_COMMITTED);
        assertEquals(WEIGHTS.charge(usage), late.tokens());
        assertEquals(usage, late.usage());
    }

    @Test
    void aCommitInTheNextMonthKeepsItsUsageInTheHoldsMonth() {
        QuotaStore store = store(b -> b.holdTtl(Duration.ofDays(30)));
        String hank = subject("hank");
        Reservation hold = store.reserve(hank, 1_000, null);
        clock.set(month.plusMonths(1).atDay(2).atStartOfDay(java.time.ZoneOffset.UTC).toInstant());
        store.account(hank);
        TokenUsage usage = TokenUsage.of("gpt-4o-mini", 100, 10);
        store.commit(hold.id(), 400, usage);
        assertEquals(usage, last(store, hank, month, EventKind.COMMITTED).usage());
        assertEquals(List.of(new ModelUsage("gpt-4o-mini", 1, 100, 0, 10, 0, 400)), store.modelUsage(hank, month));
        assertEquals(List.of(), store.modelUsage(hank, month.plusMonths(1)));
    }

    @Test
    void usageByModelSumsTheMonthAndReconcilesWithUsed() {
        QuotaStore store = store(b -> b);
        String ivy = subject("ivy");
        String jim = subject("jim");
        TokenUsage a = new TokenUsage("gpt-4o", 100, 20, 30, 5);
        TokenUsage b = new TokenUsage("gpt-4o", 1, 2, 3, 4);
        TokenUsage c = new TokenUsage("o3", 7, 0, 9, 11);
        TokenUsage noModel = new TokenUsage(null, 3, 0, 3, 0);
        store.commit(store.reserve(ivy, 10_000, null).id(), WEIGHTS.charge(a), a);
        store.commit(store.reserve(jim, 10_000, null).id(), WEIGHTS.charge(b), b);
        store.consume(HoldRequest.of(ivy, WEIGHTS.charge(c)).usage(c).build());
        store.commit(store.reserve(ivy, 10_000, null).id(), WEIGHTS.charge(noModel), noModel);
        store.commit(store.reserve(jim, 10_000, null).id(), 77);
        store.release(store.reserve(jim, 10_000, null).id());

        long gpt = WEIGHTS.charge(a) + WEIGHTS.charge(b);
        List<ModelUsage> all = store.modelUsage(null, month);
        List<ModelUsage> expected = new java.util.ArrayList<>(List.of(
                new ModelUsage("gpt-4o", 2, 101, 22, 33, 9, gpt),
                new ModelUsage("o3", 1, 7, 0, 9, 11, WEIGHTS.charge(c)),
                new ModelUsage(null, 2, 3, 0, 3, 0, WEIGHTS.charge(noModel) + 77)));
        expected.sort(io.tokenquota.internal.ModelUsageTally.ORDER);
        assertEquals(expected, all);
        long used = store.account(ivy).used() + store.account(jim).used();
        assertEquals(used, all.stream().mapToLong(ModelUsage::charged).sum());

        List<ModelUsage> ivys = store.modelUsage(ivy, month);
        assertEquals(store.account(ivy).used(), ivys.stream().mapToLong(ModelUsage::charged).sum());
        assertEquals(3, ivys.stream().mapToLong(ModelUsage::calls).sum());
        assertEquals(List.of(), store.modelUsage(subject("nobody"), month));
    }

    @Test
    void usageByModelChecksItsArguments() {
        QuotaStore store = store(b -> b);
        assertEquals(ErrorCode.MONTH_OUT_OF_RANGE, assertThrows(QuotaException.class,
                () -> store.modelUsage(null, month.plusMonths(1))).code());
        assertEquals(ErrorCode.INVALID_SUBJECT, assertThrows(QuotaException.class,
                () -> store.modelUsage(" ", month)).code());
    }

    @Test
    void modelNamesAreKeptVerbatim() {
        QuotaStore store = store(b -> b);
        String kim = subject("kim");
        String odd = "models/gemini-2.5-pro:'; DROP TABLE tq_event;--é" + "x".repeat(200);
        TokenUsage usage = TokenUsage.of(odd, 1, 1);
        store.commit(store.reserve(kim, 10, null).id(), 2, usage);
        assertEquals(usage, last(store, kim, month, EventKind.COMMITTED).usage());
        assertEquals(odd, store.modelUsage(kim, month).get(0).model());
    }
}

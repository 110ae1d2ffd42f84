package io.tokenquota.jdbi.breakit395;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.HoldRequest;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 395 (a ledger round): event-log retention ({@code dropEventsPastHistory},
 * {@code archiveEventsPastHistory}) against live traffic, late commits and refunds. docs/storage.md,
 * "Retention": retention "never touches ... tq_account, tq_reservation, tq_plan or tq_purchase"; "An
 * event logged later for a removed month (a late commit of one of its holds) lands in the default
 * partition"; "Both calls are safe while the store serves traffic". The rule: every model call is
 * charged what it reported, once, whatever retention removed meanwhile.
 */
abstract class AbstractRound395 {
    protected abstract TestDatabase database();

    protected MutableClock clock;
    protected String prefix;

    @BeforeEach
    void start() {
        clock = MutableClock.at(YearMonth.of(2031, 1), 10, 12);
        prefix = "r395" + UUID.randomUUID().toString().substring(0, 8) + "-";
    }

    QuotaPolicy policy(int historyMonths) {
        return QuotaPolicy.builder().clock(clock).defaultAllocation(10_000).historyMonths(historyMonths).build();
    }

    JdbiQuotaStore store(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(database().dataSource()).policy(policy).installSchema(true).build();
    }

    /** allocated, granted, carried, used, reserved. */
    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    /** A month's account read through a store of the default 24-month history on the same database. */
    QuotaAccount monthOf(String subject, YearMonth month) {
        return store(policy(24)).account(subject, month).orElseThrow(() -> new AssertionError("no account of " + month));
    }

    /**
     * A hold of January (its TTL outlives the month: a long agent call started on the 31st), committed
     * in February after retention (one month of history) removed January's events, in drop and in
     * archive mode: charged its actual on January's account, nothing left reserved.
     */
    private void lateCommitAfterRetention(boolean archive) {
        clock.set(java.time.Instant.parse("2031-01-31T23:50:00Z"));
        JdbiQuotaStore store = store(policy(1));
        String alice = prefix + "alice";
        store.consume(alice, 100, null);
        String hold = store.reserve(HoldRequest.of(alice, 3_000).ttl(Duration.ofHours(2)).build()).reservation().id();
        clock.set(java.time.Instant.parse("2031-02-01T00:20:00Z"));
        List<YearMonth> removed = archive ? store.archiveEventsPastHistory() : store.dropEventsPastHistory();
        assertEquals(true, removed.contains(YearMonth.of(2031, 1)), "January removed: " + removed);
        assertEquals(2_500L, store.commit(hold, 2_500).charged());
        assertEquals(List.of(10_000L, 0L, 0L, 2_600L, 0L), view(monthOf(alice, YearMonth.of(2031, 1))));
        // the commit's event, logged for a removed month, goes with the next run
        List<YearMonth> again = archive ? store.archiveEventsPastHistory() : store.dropEventsPastHistory();
        assertEquals(List.of(YearMonth.of(2031, 1)), again, "the late event leaves with the next run");
        assertEquals(List.of(10_000L, 0L, 0L, 2_600L, 0L), view(monthOf(alice, YearMonth.of(2031, 1))));
    }

    @Test
    void aHoldCommittedAfterRetentionDroppedItsMonthIsCharged() {
        lateCommitAfterRetention(false);
    }

    @Test
    void aHoldCommittedAfterRetentionArchivedItsMonthIsCharged() {
        lateCommitAfterRetention(true);
    }

    /**
     * Two users with the same purchase of January (5,000), 1,000 of it used in January, refunded in April
     * (three months of history): Carol's before retention drops January, Bob's after. The refund reads
     * accounts and the purchase, never the event log, so both end the same (docs/storage.md: retention
     * "never touches ... tq_account ... or tq_purchase").
     */
    @Test
    void aPurchaseRefundedAfterRetentionDroppedItsMonthDebitsTheSame() {
        JdbiQuotaStore store = store(policy(3));
        String bob = prefix + "bob";
        String carol = prefix + "carol";
        for (String user : List.of(bob, carol)) {
            store.grant(PurchaseRequest.grant(prefix + "pi_" + user, user, 5_000, PurchaseType.PURCHASE, "card"));
            store.consume(user, 11_000, null);
        }
        clock.advanceMonths(3, 10, 12);
        for (String user : List.of(bob, carol)) {
            store.consume(user, 100, null);
        }
        assertEquals(io.tokenquota.PurchaseStatus.REFUNDED, store.refund(prefix + "pi_" + carol).status());
        List<YearMonth> removed = store.dropEventsPastHistory();
        assertEquals(true, removed.contains(YearMonth.of(2031, 1)), "January removed: " + removed);
        assertEquals(io.tokenquota.PurchaseStatus.REFUNDED, store.refund(prefix + "pi_" + bob).status());
        assertEquals(List.of(10_000L, -4_000L, 4_000L, 100L, 0L), view(store.account(carol)), "refunded before retention");
        assertEquals(view(store.account(carol)), view(store.account(bob)), "refunded after retention");
    }
}

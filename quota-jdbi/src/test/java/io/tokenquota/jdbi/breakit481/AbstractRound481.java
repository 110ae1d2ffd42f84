package io.tokenquota.jdbi.breakit481;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.jdbi.testing.PurchaseRefundRound;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Round 481 (a ledger round): finishes of one hold racing each other, the expiry sweep and a month's first touch, on
 * two store instances over one database (key-less calls, so that concurrent ones are combined into one statement on
 * PostgreSQL). Whatever the interleaving, each hold is charged at most once, and each account's {@code used} and
 * {@code reserved} add up to its events (docs/semantics.md, "Reservations").
 */
abstract class AbstractRound481 extends PurchaseRefundRound {

    /** Runs every task at once (all wait on one latch), and returns what each returned or threw. */
    static List<Object> together(List<Callable<Object>> tasks) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(tasks.size());
        try {
            CountDownLatch go = new CountDownLatch(1);
            List<Future<Object>> futures = new ArrayList<>();
            for (Callable<Object> t : tasks) {
                futures.add(pool.submit(() -> {
                    go.await();
                    try {
                        return t.call();
                    } catch (QuotaException e) {
                        return e.code();
                    }
                }));
            }
            go.countDown();
            List<Object> out = new ArrayList<>();
            for (Future<Object> f : futures) {
                out.add(f.get());
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    /** The month's account against its own events: [used, sum of charges, reserved, holds still open by events]. */
    static String balance(QuotaStore store, String s, YearMonth month) {
        QuotaAccount a = store.account(s, month).orElseThrow();
        long charged = 0;
        Map<String, Long> open = new HashMap<>();
        Map<String, Integer> charges = new HashMap<>();
        for (LedgerEvent e : store.events(s, month)) {
            if (e.kind().charges()) {
                charged += e.tokens();
                charges.merge(e.reservationId(), 1, Integer::sum);
            }
            if (e.kind() == EventKind.RESERVED) {
                open.put(e.reservationId(), e.tokens());
            } else if (e.kind() == EventKind.COMMITTED || e.kind() == EventKind.RELEASED
                    || e.kind() == EventKind.EXPIRED) {
                open.remove(e.reservationId());
            }
        }
        long twice = charges.values().stream().filter(n -> n > 1).count();
        long stillHeld = open.values().stream().mapToLong(Long::longValue).sum();
        return "used " + a.used() + " events " + charged + ", reserved " + a.reserved() + " events " + stillHeld
                + ", holds charged twice " + twice;
    }

    static String balanced(long charged, long held) {
        return "used " + charged + " events " + charged + ", reserved " + held + " events " + held
                + ", holds charged twice 0";
    }

    /**
     * Twenty key-less holds of 100, past their TTL but not swept; for each at once: a commit of 150 through one
     * instance, the same commit again (an SDK's retry) and a release through the other, and two sweeps. Each hold
     * ends committed (150, ordinary or late) or released / expired (0), charged at most once.
     */
    @Test
    void commitsRetriesReleasesAndSweepsOfTheSameHoldsAtOnceAddUp() throws Exception {
        QuotaStore a = store(policy(true));
        QuotaStore b = secondInstance(a, policy(true));
        String s = p + "user";
        a.setPlan(s, 100_000);
        List<Reservation> holds = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            holds.add(a.reserve(s, 100, null));
        }
        clock.set(clock.instant().plus(Duration.ofMinutes(11)));
        List<Callable<Object>> tasks = new ArrayList<>();
        for (Reservation r : holds) {
            tasks.add(() -> a.commit(r.id(), 150));
            tasks.add(() -> b.commit(r.id(), 150));
            tasks.add(() -> b.release(r.id()));
        }
        tasks.add(() -> {
            a.expireStale();
            return null;
        });
        tasks.add(() -> {
            b.expireStale();
            return null;
        });
        together(tasks);
        long charged = 0;
        for (Reservation r : holds) {
            Reservation end = a.reservation(r.id()).orElseThrow();
            charged += end.state() == ReservationState.COMMITTED ? end.charged() : 0;
        }
        assertEquals(balanced(charged, 0), balance(a, s, JAN));
    }

    /**
     * Thirty key-less January holds (of 300, ten minutes from January 31, 23:58) committed at 400 each on February 1,
     * 00:05 through one instance, while the other opens February for the subject with five consumes of 100 and a
     * sweep. January is charged what its commits charged and holds nothing; February its consumes, and carries the 3,000 of the 5,000 pack January did not spend (12,000 on a 10,000 allowance).
     */
    @Test
    void januaryCommitsRacingFebruarysFirstTouchAddUp() throws Exception {
        QuotaStore a = store(policy(true));
        QuotaStore b = secondInstance(a, policy(true));
        String s = p + "user";
        buy(a, p + "pi", s); // the default 10,000 allowance and a 5,000 pack
        clock.set(Instant.parse("2031-01-31T23:58:00Z"));
        List<Reservation> holds = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            holds.add(a.reserve(s, 300, null));
        }
        clock.set(Instant.parse("2031-02-01T00:05:00Z"));
        List<Callable<Object>> tasks = new ArrayList<>();
        for (Reservation r : holds) {
            tasks.add(() -> a.commit(r.id(), 400));
        }
        for (int i = 0; i < 5; i++) {
            tasks.add(() -> b.consume(s, 100, null));
        }
        tasks.add(() -> {
            b.expireStale();
            return null;
        });
        List<Object> out = together(tasks);
        long charged = 0;
        for (Reservation r : holds) {
            Reservation end = a.reservation(r.id()).orElseThrow();
            charged += end.state() == ReservationState.COMMITTED ? end.charged() : 0;
        }
        QuotaAccount feb = a.account(s);
        assertAll(() -> assertEquals(12_000L, sum(a, s, JAN), out.toString()),
                () -> assertEquals(balanced(12_000, 0), balance(a, s, JAN), out.toString()),
                () -> assertEquals(balanced(500, 0), balance(a, s, FEB), out.toString()),
                () -> assertEquals(3_000L, feb.carried(), view(feb).toString()));
    }

    static long sum(QuotaStore store, String s, YearMonth month) {
        return store.events(s, month).stream().filter(e -> e.kind().charges()).mapToLong(LedgerEvent::tokens).sum();
    }

    /**
     * An idempotency key used in January and again in February for the same call shape: the February call is a
     * replay of January's consume (one namespace per subject) and charges nothing again; January's charge stays.
     */
    @Test
    void aKeyReusedInTheNextMonthIsAReplayChargedOnce() {
        QuotaStore a = store(policy(true));
        QuotaStore b = secondInstance(a, policy(true));
        String s = p + "user";
        clock.set(Instant.parse("2031-01-31T23:59:00Z"));
        Reservation jan = a.reserve(HoldRequest.of(s, 1_000).idempotencyKey(p + "k").build()).reservation();
        a.commit(jan.id(), 800);
        clock.set(Instant.parse("2031-02-01T00:01:00Z"));
        var again = b.reserve(HoldRequest.of(s, 1_000).idempotencyKey(p + "k").build());
        assertAll(() -> assertEquals(true, again.replayed(), again.toString()),
                () -> assertEquals(balanced(800, 0), balance(a, s, JAN)),
                () -> assertEquals(0L, a.account(s).used(), view(a.account(s)).toString()));
    }
}

package io.tokenquota.jdbi.breakit532;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.testing.PurchaseRefundRound;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Round 532 (a ledger round): the group commit given many threads of one subject at once, key-less so that they are
 * combined on PostgreSQL, mixing consumes, commits and releases through two instances. The calls are sized so that
 * the one-at-a-time rules decide every call the same in any order: a combined statement that refused, lost or
 * doubled one would show in the figures.
 */
abstract class AbstractRound532 extends PurchaseRefundRound {

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

    static long chargedByEvents(QuotaStore store, String s) {
        long charged = 0;
        for (LedgerEvent e : store.events(s, JAN)) {
            if (e.kind().charges()) {
                charged += e.tokens();
            }
        }
        return charged;
    }

    /**
     * A pack bought (15,000 in all), twenty holds of 300 (6,000 held, 9,000 free); then at once, through two
     * instances: ten of the holds committed at 300, the other ten released, thirty consumes of 300 and a sweep. The
     * thirty consumes fit in the 9,000 free before any hold finishes, so each is granted in every order: January
     * ends used 12,000 (3,000 + 9,000), reserved 0, its events adding up to it.
     */
    @Test
    void consumesCommitsAndReleasesOfOneSubjectAtOnceAreEachDecidedAsAlone() throws Exception {
        QuotaStore a = store(policy(true));
        QuotaStore b = secondInstance(a, policy(true));
        String s = p + "user";
        buy(a, p + "pi-a", s);
        List<Reservation> holds = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            holds.add(a.reserve(s, 300, null));
        }
        List<Callable<Object>> tasks = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            Reservation r = holds.get(i);
            QuotaStore via = i % 2 == 0 ? a : b;
            tasks.add(i < 10 ? () -> via.commit(r.id(), 300) : () -> via.release(r.id()));
        }
        for (int i = 0; i < 30; i++) {
            QuotaStore via = i % 2 == 0 ? b : a;
            tasks.add(() -> via.consume(s, 300, null));
        }
        tasks.add(() -> {
            b.expireStale();
            return null;
        });
        List<Object> out = together(tasks);
        long refused = out.stream().filter(o -> !(o instanceof Reservation) && o != null).count();
        QuotaAccount jan = a.account(s, JAN).orElseThrow();
        assertEquals("refused 0, used 12000, reserved 0, events 12000",
                "refused " + refused + ", used " + jan.used() + ", reserved " + jan.reserved() + ", events "
                        + chargedByEvents(a, s));
    }

    /**
     * Sixty consumes of 300 at once through two instances on 15,000 (a pack bought): exactly fifty fit, whatever the
     * order; January ends used 15,000, never past its limit.
     */
    @Test
    void sixtyConsumesAtOnceGrantExactlyWhatFits() throws Exception {
        QuotaStore a = store(policy(true));
        QuotaStore b = secondInstance(a, policy(true));
        String s = p + "user";
        buy(a, p + "pi-a", s);
        List<Callable<Object>> tasks = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            QuotaStore via = i % 2 == 0 ? b : a;
            tasks.add(() -> via.consume(s, 300, null));
        }
        List<Object> out = together(tasks);
        long granted = out.stream().filter(o -> o instanceof Reservation).count();
        QuotaAccount jan = a.account(s, JAN).orElseThrow();
        assertEquals("granted 50, used 15000, reserved 0, events 15000",
                "granted " + granted + ", used " + jan.used() + ", reserved " + jan.reserved() + ", events "
                        + chargedByEvents(a, s));
    }
}

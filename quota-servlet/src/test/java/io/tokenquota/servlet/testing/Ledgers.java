package io.tokenquota.servlet.testing;

import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaStore;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** What the ledger shows after an HTTP call, for the servlet suites. Test support; thread-safe. */
public final class Ledgers {
    private Ledgers() {
    }

    /**
     * The subject's account once no hold is open: the filter settles after the client has the answer,
     * so a test polls (bounded) instead of reading at once.
     */
    public static QuotaAccount settled(QuotaStore store, String subject) {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (store.account(subject).reserved() != 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("hold of " + subject + " never settled");
            }
            try {
                TimeUnit.MILLISECONDS.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            }
        }
        return store.account(subject);
    }

    /**
     * The subject's account once nothing is held and at least {@code used} is charged, or once 15 seconds
     * have passed: a commit the filter retries off the request thread lands after the hold is gone, so a
     * test polls (bounded) for it.
     */
    public static QuotaAccount chargedAtLeast(QuotaStore store, String subject, long used) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        QuotaAccount a = settled(store, subject);
        while (a.used() < used && System.nanoTime() < deadline) {
            TimeUnit.MILLISECONDS.sleep(10);
            a = settled(store, subject);
        }
        return a;
    }

    /**
     * Until the subject holds nothing or {@code seconds} passed (a bounded poll of the ledger, no fixed sleep): whether
     * it holds nothing. For a test that lets a provider's next bytes come once the call was settled, or after a gap.
     */
    public static boolean settledWithin(QuotaStore store, String subject, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (store.account(subject).reserved() != 0) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            TimeUnit.MILLISECONDS.sleep(20);
        }
        return true;
    }

    /**
     * The subject's account of {@code month} once it holds nothing and at least {@code used} is charged, or once
     * 15 seconds have passed (empty if the month has no account): {@link #chargedAtLeast(QuotaStore, String, long)}
     * for a month other than the store's current one, as a charge to a hold's month after the month turned.
     */
    public static java.util.Optional<QuotaAccount> chargedAtLeast(QuotaStore store, String subject, YearMonth month,
            long used) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        java.util.Optional<QuotaAccount> a = store.account(subject, month);
        while ((a.isEmpty() || a.get().reserved() != 0 || a.get().used() < used) && System.nanoTime() < deadline) {
            TimeUnit.MILLISECONDS.sleep(10);
            a = store.account(subject, month);
        }
        return a;
    }

    /** The subject's events of the month as {@code KIND:tokens}, for failure messages. */
    public static List<String> events(QuotaStore store, String subject, YearMonth month) {
        List<String> out = new ArrayList<>();
        for (LedgerEvent e : store.events(subject, month)) {
            out.add(e.kind() + ":" + e.tokens());
        }
        return out;
    }
}

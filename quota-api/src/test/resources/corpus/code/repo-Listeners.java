package io.tokenquota.internal;

import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaListener;
import io.tokenquota.QuotaPolicy;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Listener plumbing shared by the stores. Not API: the {@code internal} package may change in any
 * release. Thread-safe.
 */
public final class Listeners {
    private static final Logger LOG = LoggerFactory.getLogger(Listeners.class);

    private final List<QuotaListener> listeners = new CopyOnWriteArrayList<>();

    public void add(QuotaListener listener) {
        listeners.add(java.util.Objects.requireNonNull(listener, "listener"));
    }

    /** Delivers events in order; a failing listener is logged and skipped, never propagated. */
    public void fire(List<LedgerEvent> events) {
        if (listeners.isEmpty()) {
            return;
        }
        for (LedgerEvent event : events) {
            for (QuotaListener listener : listeners) {
                try {
                    listener.onEvent(event);
                } catch (RuntimeException e) {
                    LOG.warn("quota listener {} failed on {} event", listener, event.kind(), e);
                }
            }
        }
    }

    public void fire(LedgerEvent event) {
        fire(List.of(event));
    }

    /**
     * Derived notifications for a balance change from {@code before} to {@code after}: fires
     * THRESHOLD_CROSSED when usage (used + reserved) passes the warning threshold, and EXHAUSTED when
     * {@code available} reaches zero or below. Each fires only on the change that crosses the line.
     */
    public void fireCrossings(QuotaAccount before, QuotaAccount after, QuotaPolicy policy) {
        if (listeners.isEmpty() || before == null || after == null) {
            return;
        }
        if (!pastThreshold(before, policy) && pastThreshold(after, policy)) {
            fire(derived(after, EventKind.THRESHOLD_CROSSED, policy));
        }
        if (before.available() > 0 && after.available() <= 0) {
            fire(derived(after, EventKind.EXHAUSTED, policy));
        }
    }

    /** Whether usage (charged plus held) has passed the policy's warning threshold of the limit. */
    public static boolean pastThreshold(QuotaAccount account, QuotaPolicy policy) {
        long limit = account.limit();
        long spent = account.used() + account.reserved();
        return limit <= 0 ? spent > 0 : spent >= policy.warningThreshold() * limit;
    }

    private static LedgerEvent derived(QuotaAccount a, EventKind kind, QuotaPolicy policy) {
        return new LedgerEvent(0, a.subject(), a.month(), kind, a.used() + a.reserved(), 0, null, null,
                null, policy.now());
    }
}

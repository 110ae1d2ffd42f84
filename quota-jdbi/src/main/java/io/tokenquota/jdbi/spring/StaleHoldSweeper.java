package io.tokenquota.jdbi.spring;

import io.tokenquota.QuotaLedger;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;

/**
 * Runs {@link QuotaLedger#expireStale()} every interval on one daemon thread of its own, so holds of
 * callers that crashed or forgot to settle come back without the host enabling Spring's scheduling.
 * A failed sweep is logged and the next one runs as planned. Thread-safe.
 */
public final class StaleHoldSweeper implements SmartLifecycle {
    private static final Logger LOG = LoggerFactory.getLogger(StaleHoldSweeper.class);

    private final QuotaLedger ledger;
    private final Duration interval;
    private ScheduledExecutorService executor;

    public StaleHoldSweeper(QuotaLedger ledger, Duration interval) {
        this.ledger = Objects.requireNonNull(ledger, "ledger");
        if (interval == null || interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("quota.expire-stale.interval must be positive, was " + interval);
        }
        this.interval = interval;
    }

    @Override
    public synchronized void start() {
        if (executor != null) {
            return;
        }
        executor = Executors.newSingleThreadScheduledExecutor(task -> {
            Thread thread = new Thread(task, "token-quota-sweeper");
            thread.setDaemon(true);
            return thread;
        });
        long millis = interval.toMillis();
        executor.scheduleWithFixedDelay(this::sweep, millis, millis, TimeUnit.MILLISECONDS);
    }

    /** One sweep; returns how many holds it expired (0 when it failed). */
    int sweep() {
        try {
            int expired = ledger.expireStale();
            if (expired > 0) {
                LOG.debug("expired {} stale holds", expired);
            }
            return expired;
        } catch (RuntimeException e) {
            LOG.warn("the stale-hold sweep failed; the next runs in {}", interval, e);
            return 0;
        }
    }

    @Override
    public synchronized void stop() {
        if (executor != null) {
            executor.shutdownNow();
            executor = null;
        }
    }

    @Override
    public synchronized boolean isRunning() {
        return executor != null;
    }
}

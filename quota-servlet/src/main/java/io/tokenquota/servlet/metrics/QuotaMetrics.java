package io.tokenquota.servlet.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaLedger;
import io.tokenquota.QuotaListener;
import io.tokenquota.QuotaStore;
import io.tokenquota.servlet.QuotaFilter;
import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;

/**
 * Micrometer meters of the ledger and the filter, without a subject tag (one series per meter, not
 * one per user). Bind it to a registry ({@link #bindTo}) and add it as the store's listener;
 * {@link #timed(QuotaLedger)} wraps the ledger the filter calls so each call is timed, and
 * {@link #filterMeters(QuotaFilter)} binds the filter's own counter. Meters:
 *
 * <ul>
 *   <li>{@code tokenquota.holds}, {@code .releases}, {@code .expiries}, {@code .refusals} (a refused
 *       hold: an HTTP 429 in the filter), {@code .charges} (tag {@code late}: whether the hold had
 *       expired first), {@code .tokens.charged}: counters of the store's events;</li>
 *   <li>{@code tokenquota.filter.fail.open} and {@code tokenquota.filter.settle.failures}: requests
 *       let through while the ledger was down, and charges or releases that failed after the answer
 *       ({@link #filterMeters});</li>
 *   <li>{@code tokenquota.ledger.calls} (tags {@code operation}, {@code outcome}): a timer of the ledger calls;</li>
 *   <li>{@code tokenquota.holds.open}: a gauge of the holds open now, read from the store.</li>
 * </ul>
 *
 * <p>Counters count what this instance did; the gauge reads the shared store. Thread-safe.
 */
public final class QuotaMetrics implements MeterBinder, QuotaListener {
    private final QuotaStore store;
    private final Map<EventKind, Counter> counters = new EnumMap<>(EventKind.class);
    private volatile MeterRegistry registry;
    private Counter tokensCharged;

    /**
     * @param store the store whose events are counted (register this as its listener) and whose open
     *              holds the gauge reads
     */
    public QuotaMetrics(QuotaStore store) {
        this.store = Objects.requireNonNull(store, "store");
    }

    /** The filter's own meters: {@code tokenquota.filter.fail.open} and {@code tokenquota.filter.settle.failures}. */
    public static MeterBinder filterMeters(QuotaFilter filter) {
        Objects.requireNonNull(filter, "filter");
        return registry -> {
            FunctionCounter.builder("tokenquota.filter.fail.open", filter, QuotaFilter::failOpenCount)
                    .description("requests let through uncharged while the ledger was unreachable").register(registry);
            FunctionCounter.builder("tokenquota.filter.settle.failures", filter, QuotaFilter::settleFailureCount)
                    .description("charges or releases the filter could not make after answering").register(registry);
        };
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        counter(registry, EventKind.RESERVED, "tokenquota.holds", "holds granted");
        counter(registry, EventKind.RELEASED, "tokenquota.releases", "holds released without charge");
        counter(registry, EventKind.EXPIRED, "tokenquota.expiries", "holds returned after their TTL");
        counter(registry, EventKind.REJECTED, "tokenquota.refusals", "holds refused for lack of tokens (HTTP 429)");
        counters.put(EventKind.COMMITTED, Counter.builder("tokenquota.charges").tag("late", "false")
                .description("holds and consumes charged").register(registry));
        counters.put(EventKind.LATE_COMMITTED, Counter.builder("tokenquota.charges").tag("late", "true")
                .description("holds and consumes charged").register(registry));
        tokensCharged = Counter.builder("tokenquota.tokens.charged").baseUnit("tokens")
                .description("tokens charged").register(registry);
        Gauge.builder("tokenquota.holds.open", store, QuotaMetrics::openHoldsOrNaN)
                .description("holds open now, across all subjects").register(registry);
        this.registry = registry;
    }

    @Override
    public void onEvent(LedgerEvent event) {
        Counter counter = counters.get(event.kind());
        if (counter == null) {
            return;
        }
        counter.increment();
        if (event.kind().charges()) {
            tokensCharged.increment(event.tokens());
        }
    }

    /**
     * The ledger with every call timed by {@code tokenquota.ledger.calls}; give it to the filter.
     * Calls made before {@link #bindTo} are not timed.
     */
    public QuotaLedger timed(QuotaLedger ledger) {
        return new TimedLedger(Objects.requireNonNull(ledger, "ledger"), this);
    }

    /** Times one ledger call, tagging its outcome ({@code ok} or the error code). */
    <T> T time(String operation, java.util.function.Supplier<T> call) {
        MeterRegistry bound = registry;
        if (bound == null) {
            return call.get();
        }
        long start = System.nanoTime();
        String outcome = "ok";
        try {
            return call.get();
        } catch (QuotaException e) {
            outcome = e.code().name();
            throw e;
        } finally {
            Timer.builder("tokenquota.ledger.calls").tag("operation", operation).tag("outcome", outcome)
                    .description("ledger calls").register(bound)
                    .record(System.nanoTime() - start, java.util.concurrent.TimeUnit.NANOSECONDS);
        }
    }

    private void counter(MeterRegistry registry, EventKind kind, String name, String description) {
        counters.put(kind, Counter.builder(name).description(description).register(registry));
    }

    private static double openHoldsOrNaN(QuotaStore store) {
        try {
            return store.openHolds();
        } catch (QuotaException e) {
            return Double.NaN;   // the store is down: no reading rather than a wrong one
        }
    }
}

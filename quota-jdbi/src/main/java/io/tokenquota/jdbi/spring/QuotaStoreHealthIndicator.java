package io.tokenquota.jdbi.spring;

import io.tokenquota.QuotaException;
import io.tokenquota.QuotaStore;
import java.util.Objects;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * Actuator health of the quota store: UP when a read reaches its tables, DOWN with the error code
 * when it does not (database stopped, tables missing). The read is a lookup of a reservation id
 * that cannot exist, so it writes nothing. Thread-safe.
 */
public final class QuotaStoreHealthIndicator implements HealthIndicator {
    private static final String PROBE_ID = "health-probe";

    private final QuotaStore store;

    public QuotaStoreHealthIndicator(QuotaStore store) {
        this.store = Objects.requireNonNull(store, "store");
    }

    @Override
    public Health health() {
        try {
            store.reservation(PROBE_ID);
            return Health.up().build();
        } catch (QuotaException e) {
            return Health.down().withDetail("error", e.code().name()).build();
        }
    }
}

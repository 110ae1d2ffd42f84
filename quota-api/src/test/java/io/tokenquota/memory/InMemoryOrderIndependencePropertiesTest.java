package io.tokenquota.memory;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.testkit.OrderIndependenceProperties;

/** Round 318: refunds, plan changes, late commits and releases in either order, in memory. */
class InMemoryOrderIndependencePropertiesTest extends OrderIndependenceProperties {
    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}

package io.tokenquota.memory;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.testkit.ConcurrencyContract;

class InMemoryConcurrencyTest extends ConcurrencyContract {
    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}

package io.tokenquota.memory;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.testkit.LedgerInvariantProperties;

class InMemoryInvariantPropertiesTest extends LedgerInvariantProperties {
    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}

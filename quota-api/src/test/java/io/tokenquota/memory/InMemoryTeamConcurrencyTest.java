package io.tokenquota.memory;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.testkit.TeamConcurrencyContract;

class InMemoryTeamConcurrencyTest extends TeamConcurrencyContract {
    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}

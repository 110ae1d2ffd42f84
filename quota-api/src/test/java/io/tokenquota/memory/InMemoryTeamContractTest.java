package io.tokenquota.memory;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.testkit.TeamContract;

class InMemoryTeamContractTest extends TeamContract {
    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}

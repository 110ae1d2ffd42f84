package io.tokenquota.memory;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.testkit.TeamInvariantProperties;

/** The team properties with the in-memory store as both the store under test and the model: checks the invariants. */
class InMemoryTeamInvariantPropertiesTest extends TeamInvariantProperties {
    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}

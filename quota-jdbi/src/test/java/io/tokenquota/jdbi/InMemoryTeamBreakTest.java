package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 50 team break-it scenarios on InMemory. */
class InMemoryTeamBreakTest extends TeamBreakScenarios {

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return new io.tokenquota.memory.InMemoryQuotaStore(policy);
    }
}

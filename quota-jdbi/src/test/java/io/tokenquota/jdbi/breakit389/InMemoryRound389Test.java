package io.tokenquota.jdbi.breakit389;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

/** Round 389's scenarios on the in-memory reference. */
class InMemoryRound389Test extends AbstractRound389 {
    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}

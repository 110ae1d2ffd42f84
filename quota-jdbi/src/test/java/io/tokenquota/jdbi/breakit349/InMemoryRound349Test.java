package io.tokenquota.jdbi.breakit349;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

/** Round 349's scenarios on the in-memory reference. */
class InMemoryRound349Test extends AbstractRound349Sums {
    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}

package io.tokenquota.jdbi.breakit390;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

/** Round 390's scenarios on the in-memory reference. */
class InMemoryRound390Test extends AbstractRound390 {
    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}

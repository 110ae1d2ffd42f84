package io.tokenquota.jdbi.breakit375;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

/** Round 375's scenarios on the in-memory reference. */
class InMemoryRound375Test extends AbstractRound375 {
    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}

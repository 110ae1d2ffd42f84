package io.tokenquota.jdbi.breakit386;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

/** Round 386's scenarios on the in-memory reference. */
class InMemoryRound386Test extends AbstractRound386 {
    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}

package io.tokenquota.jdbi.breakit404;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

/** Round 404's scenarios on the in-memory reference. */
class InMemoryRound404Test extends AbstractRound404 {
    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}

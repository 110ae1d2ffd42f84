package io.tokenquota.jdbi.breakit434;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;

/** Round 434's control on InMemory. */
class InMemoryRound434Test extends AbstractRound434 {

    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return new io.tokenquota.memory.InMemoryQuotaStore(policy);
    }
}

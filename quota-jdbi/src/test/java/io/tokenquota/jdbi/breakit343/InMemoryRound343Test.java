package io.tokenquota.jdbi.breakit343;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

/** Round 343's scenarios on the in-memory reference (no group commit: the calls run one after another). */
class InMemoryRound343Test extends AbstractRound343 {
    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}
